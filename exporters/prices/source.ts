// What a price source is: something that fetches the current answer of one API and turns it into
// price changes. Sources do no I/O other than HTTP and never touch the store; the sync decides what
// is new and writes it.
import { LlmeterError } from '../../collector/core/errors.ts';
import type { PricePointRecord } from '../../collector/core/schema/tables.ts';

export interface FetchWindow {
  /** Start of the history asked for (sources with history only). */
  since: number;
  until: number;
  /** The time this sync runs: effective_from of snapshot prices and observed_at of every row. */
  now: number;
  signal?: AbortSignal;
}

export interface SourceResult {
  points: PricePointRecord[];
  /** Items of the answer that were not prices llmeter keeps, by reason (other product, bad value…). */
  skipped: Record<string, number>;
  pages: number;
}

export interface PriceSource {
  /** Name used in metrics, the CLI and the `source` column. */
  readonly name: string;
  readonly provider: string;
  /** True when the API gives a history with dates; false for snapshots (price seen now). */
  readonly hasHistory: boolean;
  fetch(window: FetchWindow): Promise<SourceResult>;
}

/** An answer that is not what the API is documented to send: not retried differently, but reported. */
export class GarbageAnswer extends LlmeterError {
  constructor(message: string) {
    super(message, 'garbage');
  }
}

/** A source that cannot work as configured (no credentials…): retrying would not help. */
export class SourceConfigError extends LlmeterError {
  constructor(message: string) {
    super(message, 'source_config');
  }
}

export class SkipCounter {
  readonly counts: Record<string, number> = {};
  add(reason: string, n = 1): void {
    this.counts[reason] = (this.counts[reason] ?? 0) + n;
  }
}
