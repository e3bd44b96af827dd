// One sync of one source: fetch (retried with backoff), keep only what changed against the stored
// series, then submit. A fetch that fails or answers garbage writes nothing, so prices already
// stored are never erased or overwritten by a bad answer.
import { errorMessage } from '../../collector/core/errors.ts';
import { backoffMs } from '../../collector/core/lifecycle/component.ts';
import type { Logger } from '../../collector/core/log.ts';
import type { RecordSink } from '../../collector/core/pipeline/pipeline.ts';
import type { PricePointRecord } from '../../collector/core/schema/tables.ts';
import type { Store } from '../../collector/core/store/store.ts';
import { HttpStatusError, retryAfterMs } from './http.ts';
import type { LivePrices } from './live.ts';
import type { PricesMetrics } from './metrics.ts';
import { seriesKey, timeMs } from './point.ts';
import { GarbageAnswer, SourceConfigError, type PriceSource, type SourceResult } from './source.ts';

export interface RetryPolicy {
  max_attempts: number;
  initial_ms: number;
  max_ms: number;
}

export interface SyncDeps {
  sink: RecordSink;
  store: Store;
  metrics: PricesMetrics;
  retry: RetryPolicy;
  log: Logger;
  /** History fetched when nothing is stored yet for the source. */
  lookbackMs: number;
  /** In-memory current prices (the autoscaling signals); fed with every answer, changed or not. */
  live?: LivePrices;
}

export interface SyncOptions {
  since?: number;
  until?: number;
  now?: number;
  signal?: AbortSignal;
}

export interface SyncReport {
  source: string;
  ok: boolean;
  attempts: number;
  fetched: number;
  written: number;
  unchanged: number;
  rejected: number;
  skipped: Record<string, number>;
  pages: number;
  since: number;
  until: number;
  error?: string;
}

interface LatestRow {
  provider: string;
  instance_type: string;
  region: string;
  zone: string;
  capacity_type: PricePointRecord['capacity_type'];
  os: string;
  price: string;
  eff: string;
}

interface Verdict {
  retry: boolean;
  result: 'retryable' | 'garbage' | 'error' | 'aborted';
  /** The source's own Retry-After, when it gave one. */
  delay?: number;
}

function classify(err: unknown, signal: AbortSignal | undefined): Verdict {
  // Stopped from outside (shutdown, Ctrl-C); a request's own timeout is a failure worth retrying.
  if (signal?.aborted) return { retry: false, result: 'aborted' };
  if (err instanceof GarbageAnswer) return { retry: true, result: 'garbage' };
  if (err instanceof SourceConfigError) return { retry: false, result: 'error' };
  if (err instanceof HttpStatusError) return { retry: err.retryable, result: err.retryable ? 'retryable' : 'error', delay: err.retryAfterMs };
  // The AWS SDK's errors carry the HTTP status and the response.
  const aws = err as { $metadata?: { httpStatusCode?: number }; $response?: { headers?: Record<string, string | undefined> } };
  const status = aws.$metadata?.httpStatusCode;
  if (typeof status === 'number') {
    // An answer with a good status that could not be read (not XML, cut short) is garbage.
    if (status < 400) return { retry: true, result: 'garbage' };
    const retry = status === 429 || status === 408 || status >= 500;
    return { retry, result: retry ? 'retryable' : 'error', delay: retry ? retryAfterMs(aws.$response?.headers?.['retry-after']) : undefined };
  }
  // Network errors and timeouts: worth another try.
  return { retry: true, result: 'retryable' };
}

/**
 * The pause between attempts. Unlike the background timers of a running collector, this one keeps
 * Node alive: a sync run on its own (`llmeter prices sync`) has nothing else that does.
 */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export async function fetchWithRetry(
  source: PriceSource,
  w: { since: number; until: number; now: number; signal?: AbortSignal },
  deps: Pick<SyncDeps, 'metrics' | 'retry' | 'log'>,
): Promise<{ result: SourceResult; attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await source.fetch(w);
      deps.metrics.attempts.inc({ source: source.name, result: 'ok' });
      return { result, attempts: attempt };
    } catch (caught) {
      const c = classify(caught, w.signal);
      deps.metrics.attempts.inc({ source: source.name, result: c.result });
      const err = c.result === 'aborted' ? abortedError(w.signal!, caught) : caught;
      if (!c.retry || attempt >= deps.retry.max_attempts) {
        (err as { attempts?: number }).attempts = attempt;
        throw err;
      }
      const delay = Math.min(deps.retry.max_ms, c.delay ?? backoffMs(attempt - 1, deps.retry.initial_ms, deps.retry.max_ms));
      deps.log.warn('price source failed; retrying', { source: source.name, attempt, delay_ms: delay, error: errorMessage(err) });
      await pause(delay, w.signal);
      if (w.signal?.aborted) {
        const stopped = abortedError(w.signal, err);
        (stopped as { attempts?: number }).attempts = attempt;
        throw stopped;
      }
    }
  }
}

/** The reason a sync was stopped (the abort's own reason when it has one), not the request's error. */
function abortedError(signal: AbortSignal, cause: unknown): Error {
  const reason: unknown = signal.reason;
  const msg = reason instanceof Error && reason.name !== 'AbortError' ? reason.message : 'stopped';
  return new Error(msg, { cause });
}

/** Latest stored price of each series of a provider. */
async function latestStored(store: Store, provider: string): Promise<Map<string, { price: string; eff: number }>> {
  const rows = await store.queryRows<LatestRow>(
    `SELECT provider, instance_type, region, zone, capacity_type, os,
            toString(argMax(usd_per_hour, effective_from)) AS price, toString(max(effective_from)) AS eff
     FROM price_points FINAL WHERE provider = {p:String}
     GROUP BY provider, instance_type, region, zone, capacity_type, os`,
    { p: provider },
  );
  const m = new Map<string, { price: string; eff: number }>();
  for (const r of rows) m.set(seriesKey(r), { price: r.price, eff: timeMs(r.eff) });
  return m;
}

/** Where a history sync starts: the source's last stored change, else `lookbackMs` ago. */
async function defaultSince(store: Store, source: PriceSource, now: number, lookbackMs: number): Promise<number> {
  const rows = await store.queryRows<{ t: string; n: string }>(
    `SELECT toString(max(effective_from)) AS t, count() AS n FROM price_points WHERE source = {s:String}`,
    { s: source.name },
  );
  const r = rows[0];
  if (!r || Number(r.n) === 0) return now - lookbackMs;
  return Math.min(timeMs(r.t), now - 60_000);
}

function sameDecimal(a: string, b: string): boolean {
  const norm = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  return norm(a) === norm(b);
}

export async function syncSource(source: PriceSource, deps: SyncDeps, opts: SyncOptions = {}): Promise<SyncReport> {
  const now = opts.now ?? Date.now();
  const until = opts.until ?? now;
  const since = opts.since ?? (source.hasHistory ? await defaultSince(deps.store, source, now, deps.lookbackMs) : now);
  const endTimer = deps.metrics.duration.startTimer({ source: source.name });
  const report: SyncReport = {
    source: source.name,
    ok: false,
    attempts: 0,
    fetched: 0,
    written: 0,
    unchanged: 0,
    rejected: 0,
    skipped: {},
    pages: 0,
    since,
    until,
  };
  try {
    if (opts.signal?.aborted) throw abortedError(opts.signal, undefined);
    const { result, attempts } = await fetchWithRetry(source, { since, until, now, signal: opts.signal }, deps);
    report.attempts = attempts;
    report.fetched = result.points.length;
    report.skipped = result.skipped;
    report.pages = result.pages;
    deps.live?.observe(source.name, result.points, now);
    for (const [reason, n] of Object.entries(result.skipped)) deps.metrics.skipped.inc({ source: source.name, reason }, n);
    const latest = await latestStored(deps.store, source.provider);
    const fresh = result.points.filter((p) => {
      const last = latest.get(seriesKey(p));
      const unchanged = last !== undefined && timeMs(p.effective_from ?? 0) >= last.eff && sameDecimal(last.price, p.usd_per_hour ?? '');
      return !unchanged;
    });
    report.unchanged = result.points.length - fresh.length;
    deps.metrics.unchanged.inc({ source: source.name }, report.unchanged);
    if (fresh.length) {
      const r = await deps.sink.submit('price_point', fresh, { source: `prices:${source.name}` });
      await r.durable;
      report.written = r.accepted;
      report.rejected = r.rejected + r.dropped;
      deps.metrics.points.inc({ source: source.name }, r.accepted);
    }
    report.ok = true;
    deps.metrics.syncs.inc({ source: source.name, outcome: 'success' });
    deps.metrics.up.set({ source: source.name }, 1);
    deps.metrics.lastSuccess.set({ source: source.name }, Date.now() / 1000);
  } catch (err) {
    report.attempts = (err as { attempts?: number }).attempts ?? report.attempts;
    report.error = errorMessage(err);
    deps.metrics.syncs.inc({ source: source.name, outcome: 'failure' });
    deps.metrics.up.set({ source: source.name }, 0);
    deps.metrics.lastFailure.set({ source: source.name }, Date.now() / 1000);
  } finally {
    endTimer();
  }
  return report;
}
