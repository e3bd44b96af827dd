// The statement that inserts a batch of lines (row-lines.ts). The embedded store writes the lines
// to a file and reads it with file(): chDB's engine reads a file for half the CPU or less that it
// spends on the same text handed over inline (its raw `INSERT … FORMAT` entry, or a literal in the
// statement). A server reads them from the request body through input(). Either way the SELECT
// names each column's type, so packed lines can be expanded by ARRAY JOIN.
import type { ClickHouseSettings } from '@clickhouse/client';
import { sqlString } from '../schema/ddl.ts';
import type { RowCodec } from './row-lines.ts';

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

/** Where the lines come from: a file the embedded engine reads, or a server request's body. */
export type LineSource = { file: string } | 'request body';

/**
 * `INSERT INTO table (columns) [SETTINGS …] SELECT columns FROM <source> [ARRAY JOIN …]` for lines
 * made by `codec`; `types` are the columns' ClickHouse types, in `codec.columns` order.
 */
export function insertSelectSql(table: string, codec: RowCodec, types: readonly string[], source: LineSource, settings?: ClickHouseSettings): string {
  const target = table.split('.').map((p) => `\`${ident(p)}\``).join('.');
  const names = codec.columns.map(ident);
  if (types.length !== names.length) throw new Error(`insert into ${table}: ${names.length} columns but ${types.length} types`);
  const structure = sqlString(
    [...codec.shared.map((i) => `${names[i]} ${types[i]}`), ...codec.packed.map((i) => `__packed_${names[i]} Array(${types[i]})`)].join(', '),
  );
  const from = source === 'request body' ? `input(${structure})` : `file(${sqlString(source.file)}, JSONCompactEachRow, ${structure})`;
  const arrayJoin = codec.isPacked ? ` ARRAY JOIN ${codec.packed.map((i) => `__packed_${names[i]} AS ${names[i]}`).join(', ')}` : '';
  const format = source === 'request body' ? ' FORMAT JSONCompactEachRow' : '';
  return `INSERT INTO ${target} (${names.join(', ')})${settingsClause(settings)} SELECT ${names.join(', ')} FROM ${from}${arrayJoin}${format}`;
}
