// What the read-only query service needs from a ClickHouse engine: its parser, its syntax tree, its
// list of table functions, a run that obeys the engine's readonly mode and the limits, and a way to
// stop a running query. The embedded (chDB) and server implementations live beside this file.
import { ClickHouseError } from '../store/errors.ts';
import type { QueryConfig } from './config.ts';

export interface RunOptions {
  sql: string;
  format: string;
  /** Values of `{name:Type}` placeholders, as text. */
  params?: Record<string, string>;
  /** Marks the query so that kill(id) finds it. */
  id: string;
}

export interface QueryEngine {
  /** The engine's formatting of exactly one statement; throws on a syntax error or several statements. */
  format(sql: string): Promise<string>;
  /** `EXPLAIN AST` of one formatted statement. */
  explainAst(sql: string, params?: Record<string, string>): Promise<string>;
  /** Names of every table function the engine has, lower-cased. */
  tableFunctions(): Promise<Set<string>>;
  /** Runs a judged statement read-only under the limits; resolves with the formatted result. */
  run(o: RunOptions): Promise<Buffer>;
  /** Asks the engine to stop query `id` (no-op when it is not running). */
  kill(id: string): Promise<void>;
  close(): Promise<void>;
}

/** The engine settings that carry the limits (ClickHouse names). */
export function limitSettings(cfg: QueryConfig): Record<string, string | number> {
  return {
    max_execution_time: cfg.timeout_ms / 1000,
    timeout_overflow_mode: 'throw',
    max_result_rows: cfg.max_result_rows,
    max_result_bytes: cfg.max_result_bytes,
    result_overflow_mode: 'throw',
    max_memory_usage: cfg.max_memory_bytes,
  };
}

/** Runs an engine call, turning what it throws into a ClickHouseError. */
export async function engineCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw ClickHouseError.from(err);
  }
}
