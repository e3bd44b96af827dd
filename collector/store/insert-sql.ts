// The statement that inserts a batch of Native blocks (native-blocks.ts). The embedded store writes
// the blocks to a file and reads it with file(): chDB's engine reads a file for half the CPU or less
// that it spends on the same data handed over inline. A server reads them from the request body.
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
 * `INSERT INTO table (columns) …` for Native blocks holding `columns`. A block names its columns and
 * types, so no structure is given; where a block's type differs from the table's (String for a
 * LowCardinality column, say), the engine converts it.
 */
export function nativeInsertSql(table: string, columns: readonly string[], source: InsertSource, settings?: ClickHouseSettings): string {
  const target = table.split('.').map((p) => `\`${ident(p)}\``).join('.');
  const names = columns.map(ident).join(', ');
  if (source === 'request body') return `INSERT INTO ${target} (${names})${settingsClause(settings)} FORMAT Native`;
  return `INSERT INTO ${target} (${names})${settingsClause(settings)} SELECT ${names} FROM file(${sqlString(source.file)}, Native)`;
}
