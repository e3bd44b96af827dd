// The statement that inserts a batch of Native blocks (native-blocks.ts). The embedded store writes
// the blocks to a file and reads it with file(): chDB's engine reads a file for much less CPU than
// it spends on the same data handed over inline (bench/README.md, "Ingest"). A server reads them from the request body.
import type { ClickHouseSettings } from '@clickhouse/client';
import { sqlString } from '../schema/ddl.ts';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

function ident(name: string): string {
  if (!IDENT.test(name)) throw new Error(`not a plain identifier: ${JSON.stringify(name)}`);
  return name;
}

function settingsClause(settings: ClickHouseSettings | undefined): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(settings ?? {})) {
    if (v === undefined) continue;
    const value = typeof v === 'string' ? sqlString(v) : typeof v === 'number' || typeof v === 'boolean' ? String(Number(v)) : undefined;
    if (value === undefined) throw new Error(`insert setting ${k}: expected a string, number or boolean`);
    parts.push(`${ident(k)} = ${value}`);
  }
  return parts.length > 0 ? ` SETTINGS ${parts.join(', ')}` : '';
}

/** Where an insert's blocks come from: a file the embedded engine reads, or a server request's body. */
export type InsertSource = { file: string } | 'request body';

/**
 * Leaves out rows whose identity is already stored: rows of the table whose time lies within the
 * batch's span (epoch milliseconds, inclusive) are read and any row naming one of them is skipped.
 * The span keeps the read to the parts that can hold such rows (each part knows its time range).
 */
export interface AlreadyStored {
  /** Columns naming a record (tables.ts). */
  identity: readonly string[];
  /** The batch may hold a record twice (false: every producer of its rows sends each record once). */
  repeats: boolean;
  time: string;
  from: number;
  to: number;
  /** `name Type, …` of the inserted columns: a server reads the body through input() to filter it. */
  structure: string;
}

function storedSubquery(target: string, f: AlreadyStored): string {
  const key = f.identity.map(ident).join(', ');
  const span = (ms: number) => `fromUnixTimestamp64Milli(toInt64(${Math.trunc(ms)}), 'UTC')`;
  return `(${key}) IN (SELECT ${key} FROM ${target} WHERE ${ident(f.time)} BETWEEN ${span(f.from)} AND ${span(f.to)})`;
}

/**
 * The rows to insert: each identity once (a record repeated within the batch), and, when `stored`,
 * none already stored.
 */
function uniqueClause(target: string, f: AlreadyStored, stored: boolean): string {
  return `${stored ? ` WHERE NOT ${storedSubquery(target, f)}` : ''}${f.repeats ? ` LIMIT 1 BY ${f.identity.map(ident).join(', ')}` : ''}`;
}

/** Whether any row is stored in the batch's span: when none is, the insert needs no filter. */
export function spanHasRowsSql(table: string, f: AlreadyStored): string {
  const target = table
    .split('.')
    .map((p) => `\`${ident(p)}\``)
    .join('.');
  const span = (ms: number) => `fromUnixTimestamp64Milli(toInt64(${Math.trunc(ms)}), 'UTC')`;
  return `SELECT count() > 0 FROM (SELECT 1 FROM ${target} WHERE ${ident(f.time)} BETWEEN ${span(f.from)} AND ${span(f.to)} LIMIT 1)`;
}

/** How many rows of an insert file are already stored (the embedded engine reads the file twice). */
export function alreadyStoredCountSql(table: string, file: string, f: AlreadyStored): string {
  const target = table
    .split('.')
    .map((p) => `\`${ident(p)}\``)
    .join('.');
  return `SELECT count() AS n FROM file(${sqlString(file)}, Native) WHERE ${storedSubquery(target, f)}`;
}

/**
 * `INSERT INTO table (columns) …` for Native blocks holding `columns`. A block names its columns and
 * types, so no structure is given; where a block's type differs from the table's (String for a
 * LowCardinality column, say), the engine converts it.
 */
export function nativeInsertSql(
  table: string,
  columns: readonly string[],
  source: InsertSource,
  settings?: ClickHouseSettings,
  unique?: AlreadyStored,
  stored = true,
): string {
  const target = table
    .split('.')
    .map((p) => `\`${ident(p)}\``)
    .join('.');
  const names = columns.map(ident).join(', ');
  const filter = unique ? uniqueClause(target, unique, stored) : '';
  if (source === 'request body') {
    if (!unique) return `INSERT INTO ${target} (${names})${settingsClause(settings)} FORMAT Native`;
    return `INSERT INTO ${target} (${names})${settingsClause(settings)} SELECT ${names} FROM input(${sqlString(unique.structure)})${filter} FORMAT Native`;
  }
  return `INSERT INTO ${target} (${names})${settingsClause(settings)} SELECT ${names} FROM file(${sqlString(source.file)}, Native)${filter}`;
}
