// What the read-only query service needs from a ClickHouse engine: its parser, its syntax tree, its
// list of table functions, a run that obeys the engine's readonly mode and the limits, and a way to
// stop a running query. The embedded (chDB) and server implementations live beside this file.
import { ClickHouseError } from '../store/errors.ts';
import { sqlString } from '../schema/ddl.ts';
import type { QueryConfig } from './config.ts';
import { limitValues } from './settings.ts';

export interface RunOptions {
  sql: string;
  format: string;
  /** Values of `{name:Type}` placeholders, as text. */
  params?: Record<string, string>;
  /** Marks the query so that kill(id) finds it. */
  id: string;
  /**
   * The settings the query runs with in place of the engine's defaults for user queries (the limits
   * among them); readonly is set after them, so the statement can change none of them.
   */
  settings?: Readonly<Record<string, string | number>>;
}

/** What the engine says of a query it ran (each where the engine tells it). */
export interface RunStats {
  readRows?: number;
  readBytes?: number;
  resultRows?: number;
}

/** A query's formatted result and its statistics. */
export interface RunResult extends RunStats {
  body: Buffer;
}

export interface QueryEngine {
  /** The engine's formatting of exactly one statement; throws on a syntax error or several statements. */
  format(sql: string): Promise<string>;
  /** `EXPLAIN AST` of one formatted statement. */
  explainAst(sql: string, params?: Record<string, string>): Promise<string>;
  /** Names of every table function the engine has, lower-cased. */
  tableFunctions(): Promise<Set<string>>;
  /** Tables (and views) of the store's database that have a column of this name. */
  tablesWithColumn(column: string): Promise<string[]>;
  /** Runs a judged statement read-only under the limits; resolves with the formatted result. */
  run(o: RunOptions): Promise<RunResult>;
  /** Asks the engine to stop query `id` (no-op when it is not running). */
  kill(id: string): Promise<void>;
  close(): Promise<void>;
}

/** The engine's query that lists the tables with a given column (`{column:String}` bound). */
export const TABLES_WITH_COLUMN_SQL = 'SELECT DISTINCT table FROM system.columns WHERE database = currentDatabase() AND name = {column:String} ORDER BY table';

/** The engine settings that carry the limits (ClickHouse names). */
export function limitSettings(cfg: QueryConfig): Record<string, string | number> {
  return { ...limitValues(cfg), timeout_overflow_mode: 'throw', result_overflow_mode: 'throw' };
}

/**
 * How user queries write their results unless they ask otherwise: 64-bit integers and decimals as
 * strings in JSON formats, as the store's own queries read them.
 */
export const LLMETER_OUTPUT_SETTINGS: Readonly<Record<string, number>> = { output_format_json_quote_64bit_integers: 1, output_format_json_quote_decimals: 1 };

/** How a setting's value is written in a SET statement: numbers as they are, anything else quoted. */
export function settingLiteral(v: string | number): string {
  return typeof v === 'number' || /^-?\d+(\.\d+)?$/.test(v) ? String(v) : sqlString(v);
}

/** Runs an engine call, turning what it throws into a ClickHouseError. */
export async function engineCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw ClickHouseError.from(err);
  }
}
