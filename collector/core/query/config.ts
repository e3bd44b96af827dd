// Limits of the read-only query service (`query:`): every statement a user sends (/api/sql,
// `llmeter sql`, `llmeter top`, the ClickHouse HTTP interface) runs under them.
import { z } from 'zod';

export const queryConfigSchema = z
  .strictObject({
    timeout_ms: z
      .number()
      .int()
      .positive()
      .default(30_000)
      .describe('Longest a query may run (the engine stops it: TIMEOUT_EXCEEDED), counted from when it starts; waiting for a free slot counts too.'),
    max_result_rows: z
      .number()
      .int()
      .positive()
      .default(1_000_000)
      .describe('Most rows a result may have; past it the query fails with TOO_MANY_ROWS_OR_BYTES.'),
    max_result_bytes: z
      .number()
      .int()
      .positive()
      .default(256 * 1024 * 1024)
      .describe("Largest result, in bytes of the engine's result blocks (and of the formatted answer)."),
    max_memory_bytes: z
      .number()
      .int()
      .positive()
      .default(2 * 1024 * 1024 * 1024)
      .describe('Memory one query may use (MEMORY_LIMIT_EXCEEDED past it).'),
    max_sql_bytes: z
      .number()
      .int()
      .positive()
      .default(128 * 1024)
      .describe('Longest statement accepted.'),
    max_concurrent: z
      .number()
      .int()
      .positive()
      .default(2)
      .describe('Queries that run at once (each on its own read-only engine session); inserts never wait for them.'),
    max_queued: z.number().int().min(0).default(16).describe('Queries that may wait for a slot; past it the answer is 503 with Retry-After.'),
  })
  .prefault({});

export type QueryConfig = z.infer<typeof queryConfigSchema>;
