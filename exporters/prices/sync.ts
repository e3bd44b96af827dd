// One sync of one source: fetch (retried with backoff), keep only what changed against the stored
// series, then submit. A fetch that fails or answers garbage writes nothing, so prices already
// stored are never erased or overwritten by a bad answer.
import { backoffMs, sleep } from '../../collector/lifecycle/component.ts';
import type { Logger } from '../../collector/log.ts';
import type { RecordSink } from '../../collector/pipeline/pipeline.ts';
import type { PricePointRecord } from '../../collector/schema/tables.ts';
import type { Store } from '../../collector/store/store.ts';
import { HttpStatusError } from './http.ts';
import type { LivePrices } from './live.ts';
import type { PricesMetrics } from './metrics.ts';
import { seriesKey, timeMs } from './point.ts';
import { GarbageAnswer, type PriceSource, type SourceResult } from './source.ts';

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

function classify(err: unknown): { retry: boolean; result: string; delay?: number } {
  if (err instanceof GarbageAnswer) return { retry: true, result: 'garbage' };
  if (err instanceof HttpStatusError) return { retry: err.retryable, result: err.retryable ? 'retryable' : 'error', delay: err.retryAfterMs };
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (typeof status === 'number') return { retry: status === 429 || status >= 500, result: status >= 500 || status === 429 ? 'retryable' : 'error' };
  if (err instanceof Error && err.name === 'AbortError') return { retry: false, result: 'aborted' };
  // Network errors, timeouts, an SDK that could not parse the answer: worth another try.
  return { retry: true, result: 'retryable' };
}

export async function fetchWithRetry(source: PriceSource, w: { since: number; until: number; now: number; signal?: AbortSignal }, deps: Pick<SyncDeps, 'metrics' | 'retry' | 'log'>): Promise<{ result: SourceResult; attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await source.fetch(w);
      deps.metrics.attempts.inc({ source: source.name, result: 'ok' });
      return { result, attempts: attempt };
    } catch (err) {
      const c = classify(err);
      deps.metrics.attempts.inc({ source: source.name, result: c.result });
      if (!c.retry || attempt >= deps.retry.max_attempts || w.signal?.aborted) {
        (err as { attempts?: number }).attempts = attempt;
        throw err;
      }
      const delay = Math.min(deps.retry.max_ms, c.delay ?? backoffMs(attempt - 1, deps.retry.initial_ms, deps.retry.max_ms));
      deps.log.warn('price source failed; retrying', { source: source.name, attempt, delay_ms: delay, error: (err as Error).message });
      await sleep(delay, w.signal);
    }
  }
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
  const report: SyncReport = { source: source.name, ok: false, attempts: 0, fetched: 0, written: 0, unchanged: 0, rejected: 0, skipped: {}, pages: 0, since, until };
  try {
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
    report.error = (err as Error).message;
    deps.metrics.syncs.inc({ source: source.name, outcome: 'failure' });
    deps.metrics.up.set({ source: source.name }, 0);
    deps.metrics.lastFailure.set({ source: source.name }, Date.now() / 1000);
    deps.log.error('price sync failed', { source: source.name, attempts: report.attempts, error: report.error });
  } finally {
    endTimer();
  }
  return report;
}
