// What a page kind (dcgm, vllm) plugs into the scraper: turn one parsed page into records, keeping
// whatever per-series state it needs (counter values, last XID) between pages of the same target.
import type { Signal, SignalRecords } from '../../collector/core/schema/tables.ts';
import type { ParsedPage } from './prometheus/parse.ts';

export type SignalBatch = { [S in Signal]: { signal: S; records: SignalRecords[S][] } }[Signal];

export interface MappedPage {
  batches: SignalBatch[];
  /** Samples that produced no record, by reason (see llmeter_scrape_samples_ignored_total). */
  ignored: Map<string, number>;
  /** Counter resets detected on this page. */
  resets: number;
}

export interface PageHandler {
  readonly kind: 'dcgm' | 'vllm';
  /** Optional asynchronous step before `map` (e.g. resolving host names to nodes). */
  prepare?(page: ParsedPage): Promise<void>;
  /** Maps one page scraped at `ts` (epoch ms). */
  map(page: ParsedPage, ts: number): MappedPage;
  /** Forgets series not seen since `before` (epoch ms). */
  forget(before: number): void;
  /** Series whose state is held. */
  trackedSeries(): number;
}

export function bump(m: Map<string, number>, reason: string, n = 1): void {
  m.set(reason, (m.get(reason) ?? 0) + n);
}
