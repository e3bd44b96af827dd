// Runs each enabled source's sync on its interval under `llmeter start`. One sync per source at a
// time; a failed sync is retried inside the sync and then waits for the next interval.
import { errorMessage } from '../../collector/core/errors.ts';
import type { BackgroundFailures } from '../../collector/core/lifecycle/background.ts';
import { once, type Component } from '../../collector/core/lifecycle/component.ts';
import type { PriceSource } from './source.ts';
import { syncSource, type SyncDeps, type SyncReport } from './sync.ts';

export interface ScheduledSource {
  source: PriceSource;
  intervalMs: number;
  lookbackMs: number;
}

export class PriceSyncScheduler implements Component {
  readonly name = 'prices';
  private readonly entries: readonly ScheduledSource[];
  private readonly deps: Omit<SyncDeps, 'lookbackMs'>;
  private readonly firstDelayMs: number;
  private readonly abort = new AbortController();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Map<string, Promise<SyncReport>>();
  private readonly failures: BackgroundFailures | undefined;
  /** Called after every sync (tests, logs). */
  onReport?: (r: SyncReport) => void;

  /**
   * `failures`: where a scheduled sync that threw (the store unreadable before the sync began, not a
   * source's failure, which its report carries) is logged and counted.
   */
  constructor(entries: readonly ScheduledSource[], deps: Omit<SyncDeps, 'lookbackMs'>, firstDelayMs: number, opts: { failures?: BackgroundFailures } = {}) {
    this.entries = entries;
    this.deps = deps;
    this.firstDelayMs = firstDelayMs;
    this.failures = opts.failures;
  }

  async start(): Promise<void> {
    for (const e of this.entries) this.schedule(e, this.firstDelayMs);
  }

  private schedule(e: ScheduledSource, delay: number): void {
    if (this.abort.signal.aborted) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      void this.runNow(e)
        .catch((err: unknown) =>
          this.failures
            ? this.failures.report('prices', err, `price sync of ${e.source.name} failed`)
            : this.deps.log.error('price sync failed', { source: e.source.name, error: errorMessage(err) }),
        )
        .finally(() => this.schedule(e, e.intervalMs));
    }, delay);
    t.unref();
    this.timers.add(t);
  }

  /** Runs one source now (or joins the sync already running). */
  runNow(e: ScheduledSource): Promise<SyncReport> {
    const name = e.source.name;
    let p = this.running.get(name);
    if (!p) {
      p = syncSource(e.source, { ...this.deps, lookbackMs: e.lookbackMs }, { signal: this.abort.signal })
        .then((r) => {
          if (!r.ok && !this.abort.signal.aborted) this.deps.log.error('price sync failed', { source: name, attempts: r.attempts, error: r.error });
          this.onReport?.(r);
          return r;
        })
        .finally(() => this.running.delete(name));
      this.running.set(name, p);
    }
    return p;
  }

  async forceFlush(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }

  shutdown = once(async () => {
    this.abort.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.running.values()]);
  });
}
