// Scrapes each target on its own interval (first scrape jittered), with a deadline and a page size
// limit. A target's failure is recorded on the target (up, last error, duration) and on the metrics,
// and never touches the other targets: each target runs its own timer chain and catches its own
// errors. A scrape still running when the next tick comes makes that tick skip (counted).
import { errorMessage } from '../../collector/core/errors.ts';
import { once, type Component } from '../../collector/core/lifecycle/component.ts';
import type { Logger } from '../../collector/core/log.ts';
import type { RecordSink } from '../../collector/core/pipeline/pipeline.ts';
import { LabelCache, parsePrometheusText } from './prometheus/parse.ts';
import { fetchPage, ScrapeError } from './fetch.ts';
import type { PageHandler, SignalBatch } from './handler.ts';
import type { ScrapeMetrics } from './metrics.ts';

export interface TargetSpec {
  name: string;
  url: string;
  intervalMs: number;
  timeoutMs: number;
  headers: Record<string, string>;
  handler: PageHandler;
}

export interface TargetStatus {
  name: string;
  kind: string;
  url: string;
  up: boolean;
  /** Never scraped yet. */
  pending: boolean;
  lastError: string;
  lastScrapeAt: number | null;
  lastSuccessAt: number | null;
  lastDurationMs: number;
  consecutiveFailures: number;
  samples: number;
  invalidLines: number;
}

export interface ScrapeResult {
  ok: boolean;
  error?: string;
  samples: number;
  invalidLines: number;
  records: Partial<Record<string, number>>;
  rejected: number;
  /** Resolves once every accepted record is in the store. */
  durable: Promise<void>;
}

export interface ScraperOptions {
  targets: readonly TargetSpec[];
  sink: RecordSink;
  metrics: ScrapeMetrics;
  log: Logger;
  maxBodyBytes: number;
  jitterRatio: number;
  staleAfterMs: number;
  /** Sees every mapped page (the in-memory view the autoscaling signals read). */
  observe?: (target: TargetSpec, batches: readonly SignalBatch[], ts: number) => void;
  now?: () => number;
  random?: () => number;
}

const EMPTY_PAGE = 'the page has no samples';

class Target {
  readonly spec: TargetSpec;
  readonly cache = new LabelCache(50_000);
  readonly status: TargetStatus;
  timer: NodeJS.Timeout | undefined;
  running: Promise<ScrapeResult> | undefined;
  nextAt = 0;
  constructor(spec: TargetSpec) {
    this.spec = spec;
    this.status = {
      name: spec.name,
      kind: spec.handler.kind,
      url: spec.url,
      up: false,
      pending: true,
      lastError: '',
      lastScrapeAt: null,
      lastSuccessAt: null,
      lastDurationMs: 0,
      consecutiveFailures: 0,
      samples: 0,
      invalidLines: 0,
    };
  }
}

export class Scraper implements Component {
  readonly name = 'scrape';
  private readonly o: ScraperOptions;
  private readonly targets: Target[];
  private readonly now: () => number;
  private readonly random: () => number;
  private stopped = false;

  constructor(o: ScraperOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.targets = o.targets.map((t) => new Target(t));
    for (const t of this.targets) o.metrics.up.set(this.labels(t), 0);
  }

  async start(): Promise<void> {
    for (const t of this.targets) {
      const delay = Math.floor(this.random() * t.spec.intervalMs * this.o.jitterRatio);
      t.nextAt = this.now() + delay;
      this.schedule(t, delay);
    }
  }

  statuses(): TargetStatus[] {
    return this.targets.map((t) => ({ ...t.status }));
  }

  /** Scrapes one target now (used by `--once` and tests); concurrent calls share the scrape. */
  scrapeNow(name: string): Promise<ScrapeResult> {
    const t = this.targets.find((x) => x.spec.name === name);
    if (!t) return Promise.reject(new Error(`no target named ${JSON.stringify(name)}`));
    return this.run(t);
  }

  /** Scrapes every target once, concurrently. */
  scrapeAll(): Promise<ScrapeResult[]> {
    return Promise.all(this.targets.map((t) => this.run(t)));
  }

  private labels(t: Target): { target: string; kind: string } {
    return { target: t.spec.name, kind: t.spec.handler.kind };
  }

  private schedule(t: Target, delay: number): void {
    if (this.stopped) return;
    t.timer = setTimeout(() => this.tick(t), Math.max(0, delay));
    t.timer.unref();
  }

  private tick(t: Target): void {
    if (this.stopped) return;
    if (t.running) this.o.metrics.skippedTicks.inc(this.labels(t));
    else void this.run(t, true);
    // Keep to the grid (start + k × interval) so a slow page does not drift the schedule.
    const interval = t.spec.intervalMs;
    const now = this.now();
    t.nextAt += interval;
    if (t.nextAt <= now) t.nextAt = now + interval - ((now - t.nextAt) % interval);
    this.schedule(t, t.nextAt - now);
  }

  private run(t: Target, scheduled = false): Promise<ScrapeResult> {
    if (t.running) return t.running;
    const p = this.scrape(t, scheduled).finally(() => {
      t.running = undefined;
    });
    t.running = p;
    return p;
  }

  private async scrape(t: Target, scheduled: boolean): Promise<ScrapeResult> {
    const m = this.o.metrics;
    const lbl = this.labels(t);
    const started = this.now();
    const t0 = performance.now();
    const st = t.status;
    st.lastScrapeAt = started;
    try {
      const page = await fetchPage(t.spec.url, { timeoutMs: t.spec.timeoutMs, maxBytes: this.o.maxBodyBytes, headers: t.spec.headers });
      m.bytes.inc(lbl, page.bytes);
      const parsed = parsePrometheusText(page.text, { cache: t.cache });
      const handler = t.spec.handler;
      handler.forget(started - this.o.staleAfterMs);
      if (handler.prepare) await handler.prepare(parsed);
      const mapped = handler.map(parsed, started);
      this.o.observe?.(t.spec, mapped.batches, started);
      const records: Partial<Record<string, number>> = {};
      let rejected = 0;
      const durables: Promise<void>[] = [];
      for (const b of mapped.batches) {
        if (b.records.length === 0) continue;
        const r = await this.submit(b, scheduled ? t.spec.intervalMs : undefined);
        records[b.signal] = (records[b.signal] ?? 0) + r.accepted;
        rejected += r.rejected + r.dropped;
        if (r.accepted) m.records.inc({ ...lbl, signal: b.signal }, r.accepted);
        if (r.rejected + r.dropped) m.rejected.inc({ ...lbl, signal: b.signal }, r.rejected + r.dropped);
        if (r.reasons.length) this.o.log.warn('scraped records rejected', { target: t.spec.name, signal: b.signal, reasons: r.reasons.slice(0, 3) });
        durables.push(r.durable);
      }
      for (const [reason, n] of mapped.ignored) m.ignored.inc({ ...lbl, reason }, n);
      if (mapped.resets) m.counterResets.inc(lbl, mapped.resets);
      m.samples.inc(lbl, parsed.samples.length);
      if (parsed.invalidLines) m.invalidLines.inc(lbl, parsed.invalidLines);
      const empty = parsed.samples.length === 0;
      if (empty) m.emptyPages.inc(lbl);
      m.trackedSeries.set(lbl, handler.trackedSeries());
      const secs = (performance.now() - t0) / 1000;
      m.duration.observe(lbl, secs);
      m.up.set(lbl, 1);
      m.lastSuccess.set(lbl, Math.floor(this.now() / 1000));
      m.scrapes.inc({ ...lbl, result: 'ok' });
      st.up = true;
      st.pending = false;
      st.lastSuccessAt = started;
      st.lastDurationMs = secs * 1000;
      st.consecutiveFailures = 0;
      st.samples = parsed.samples.length;
      st.invalidLines = parsed.invalidLines;
      // A page that parsed only partly, or that had nothing on it, is still a success (the exporter
      // answered); what was wrong with it is its last error.
      const wasEmpty = st.lastError === EMPTY_PAGE;
      st.lastError = parsed.invalidLines
        ? `${parsed.invalidLines} invalid line(s); first at line ${parsed.errors[0]?.line}: ${parsed.errors[0]?.reason}`
        : empty
          ? EMPTY_PAGE
          : '';
      if (empty && !wasEmpty) this.o.log.warn('scraped page has no samples', { target: t.spec.name, url: t.spec.url });
      return {
        ok: true,
        samples: parsed.samples.length,
        invalidLines: parsed.invalidLines,
        records,
        rejected,
        durable: Promise.all(durables).then(() => undefined),
      };
    } catch (err) {
      const kind = err instanceof ScrapeError ? err.kind : 'submit';
      const msg = errorMessage(err);
      const secs = (performance.now() - t0) / 1000;
      m.duration.observe(lbl, secs);
      m.up.set(lbl, 0);
      m.scrapes.inc({ ...lbl, result: 'error' });
      m.failures.inc({ ...lbl, reason: kind });
      st.up = false;
      st.pending = false;
      st.lastError = msg;
      st.lastDurationMs = secs * 1000;
      st.consecutiveFailures++;
      // Log the first failure and then every 20th, not every tick of a target that stays down.
      if (st.consecutiveFailures === 1 || st.consecutiveFailures % 20 === 0) {
        this.o.log.warn('scrape failed', { target: t.spec.name, url: t.spec.url, reason: kind, error: msg, consecutive: st.consecutiveFailures });
      }
      return { ok: false, error: msg, samples: 0, invalidLines: 0, records: {}, rejected: 0, durable: Promise.resolve() };
    }
  }

  /**
   * A scheduled scrape's samples may wait up to the target's interval for their batch to fill: the
   * next page comes no sooner, autoscaling reads the live values rather than the table, and one
   * large insert a round writes far fewer parts for ClickHouse to merge than one a second
   * (bench/scrape.md). Events and inventory, and a scrape someone asked for, go at the usual pace.
   */
  private submit(b: SignalBatch, intervalMs: number | undefined) {
    // A page's samples name each series once (the mappers merge repeated series): no repeats to find.
    const samples = intervalMs === undefined ? { unique: true } : { maxDelayMs: intervalMs, unique: true };
    // The union is split per signal so the sink sees matching record types.
    switch (b.signal) {
      case 'gpu_sample':
        return this.o.sink.submit(b.signal, b.records, { source: 'scrape' }, samples);
      case 'model_server_sample':
        return this.o.sink.submit(b.signal, b.records, { source: 'scrape' }, samples);
      case 'capacity_event':
        return this.o.sink.submit(b.signal, b.records, { source: 'scrape' });
      case 'node':
        return this.o.sink.submit(b.signal, b.records, { source: 'scrape' });
      default:
        return this.o.sink.submit(b.signal, b.records as never[], { source: 'scrape' });
    }
  }

  async forceFlush(): Promise<void> {}

  shutdown = once(async () => {
    this.stopped = true;
    for (const t of this.targets) clearTimeout(t.timer);
    // Let scrapes in flight finish submitting so their records are not lost.
    await Promise.allSettled(this.targets.map((t) => t.running));
  });
}
