// Retry as a wrapper around an inserter, beside the tracing wrapper: an insert that fails for a
// reason that clears up (a timeout, the network, too many parts, an unknown insert status…) is tried
// again with exponential backoff and jitter, with the same deduplication token, until it lands or
// the writer stops retrying (shutdown). What comes back says what happened; nothing is thrown.
import type { PipelineConfig } from '../config/schema.ts';
import { backoffMs, sleep } from '../lifecycle/component.ts';
import type { NativeBlocks } from '../store/native-blocks.ts';
import { classifyInsertError, type InsertErrorClass } from '../store/errors.ts';
import type { BatchSpan, Inserter } from './inserter.ts';

export type InsertOutcome =
  /** In ClickHouse: `stored` rows (all of them when the engine does not say). */
  | { kind: 'stored'; stored: number; seconds: number }
  /** Refused as it is: bad data, or too large for one insert (split it). */
  | { kind: 'refused'; class: Extract<InsertErrorClass, 'bad_data' | 'too_large'>; error: unknown }
  /** Not inserted: retrying was stopped (shutdown). */
  | { kind: 'stopped' };

export interface RetryObserver {
  /** Before each wait: the attempt that failed (1-based), its class, the wait. */
  retrying(attempt: number, cls: InsertErrorClass, error: unknown, waitMs: number): void;
  /** After an insert landed. */
  landed(): void;
}

export class RetryingInserter {
  private readonly inner: Inserter;
  private readonly retry: PipelineConfig['retry'];
  private readonly signal: AbortSignal;

  constructor(inner: Inserter, retry: PipelineConfig['retry'], signal: AbortSignal) {
    this.inner = inner;
    this.retry = retry;
    this.signal = signal;
  }

  async insert(table: string, rows: NativeBlocks, token: string, span: BatchSpan | undefined, observer: RetryObserver): Promise<InsertOutcome> {
    for (let attempt = 0; ; attempt++) {
      const t0 = performance.now();
      try {
        const stored = await this.inner.insert(table, rows, token, span);
        observer.landed();
        return { kind: 'stored', stored: typeof stored === 'number' ? stored : rows.count, seconds: (performance.now() - t0) / 1000 };
      } catch (err) {
        const cls = classifyInsertError(err);
        if (cls === 'bad_data' || cls === 'too_large') return { kind: 'refused', class: cls, error: err };
        if (this.signal.aborted) return { kind: 'stopped' };
        const wait = backoffMs(attempt, this.retry.initial_ms, this.retry.max_ms);
        observer.retrying(attempt + 1, cls, err, wait);
        await sleep(wait, this.signal);
        if (this.signal.aborted) return { kind: 'stopped' };
      }
    }
  }
}
