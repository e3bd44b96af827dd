// Cumulative counters → deltas between scrapes, per series, with reset detection: a value lower
// than the last one, or a changed `_created` time, means the process restarted and the counter
// started again from zero, so the whole new value is the delta.

export type InitialPolicy = 'auto' | 'keep' | 'drop';

export interface DeltaOptions {
  /** What to do with a series' first value: see scrape.counter_initial. */
  initial: InitialPolicy;
  /** When this tracker started (epoch ms); `auto` keeps first values of series created after it. */
  startedAt: number;
  maxSeries: number;
}

interface SeriesState {
  value: number;
  created: number | undefined;
  seen: number;
}

export type DeltaResult = { kind: 'delta'; delta: number; reset: boolean } | { kind: 'first_dropped' } | { kind: 'series_limit' };

export class CounterDeltas {
  private readonly o: DeltaOptions;
  private readonly series = new Map<string, SeriesState>();

  constructor(o: DeltaOptions) {
    this.o = o;
  }

  /** `createdSec`: the series' `_created` value (seconds since the epoch) when the page has one. */
  next(key: string, value: number, ts: number, createdSec?: number): DeltaResult {
    const prev = this.series.get(key);
    if (!prev) {
      if (this.series.size >= this.o.maxSeries) return { kind: 'series_limit' };
      this.series.set(key, { value, created: createdSec, seen: ts });
      const keep = this.o.initial === 'keep' || (this.o.initial === 'auto' && createdSec !== undefined && createdSec * 1000 >= this.o.startedAt);
      return keep ? { kind: 'delta', delta: value, reset: false } : { kind: 'first_dropped' };
    }
    const reset = value < prev.value || (createdSec !== undefined && prev.created !== undefined && createdSec !== prev.created);
    const delta = reset ? value : value - prev.value;
    prev.value = value;
    prev.created = createdSec;
    prev.seen = ts;
    return { kind: 'delta', delta, reset };
  }

  forget(before: number): void {
    for (const [k, s] of this.series) if (s.seen < before) this.series.delete(k);
  }

  get size(): number {
    return this.series.size;
  }
}
