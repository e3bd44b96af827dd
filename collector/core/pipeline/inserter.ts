// What the table writer inserts through: the store, wrapped for tracing and retries.
import type { NativeBlocks } from '../store/native-blocks.ts';

/** The earliest and latest time (epoch milliseconds) of a batch's rows: where its identities may already be stored. */
export interface BatchSpan {
  from: number;
  to: number;
  /** Some row came from a producer that may send a record twice (EnqueueOptions.unique not set). */
  repeats: boolean;
}

export interface Inserter {
  /**
   * `span` is given for tables with an identity: rows already stored are to be left out. Resolves
   * with the number of rows stored when known.
   */
  insert(table: string, rows: NativeBlocks, dedupToken: string, span?: BatchSpan): Promise<number | undefined | void>;
}
