import type { DdlTarget } from '../ddl.ts';
import { addColumnsSql } from './add-columns.ts';
import type { Migration } from './migration.ts';

// Written out rather than derived from the table definition, so that this migration stays what it
// was when the definition changes later; a test compares the result with a freshly created table.
const FRONTEND_IDEMPOTENCY_COLUMNS = [
  "`idempotency_key` String COMMENT 'The payload\\'s Idempotency-Key (empty without one); with event_seq it names the row, the same on a retried payload.' CODEC(ZSTD(1))",
  "`event_seq` UInt32 COMMENT 'Position of the row among the rows of its payload.' CODEC(T64, ZSTD(1))",
];

export function frontendIdempotencySql(target: DdlTarget): string[] {
  return addColumnsSql('frontend_events', FRONTEND_IDEMPOTENCY_COLUMNS, target);
}

export const frontendIdempotency: Migration = {
  version: 2,
  name: 'frontend_events: idempotency_key and event_seq (Faro retries stored once)',
  statements: frontendIdempotencySql,
};
