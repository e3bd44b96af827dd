// How the embedded store inserts positional rows: the batch is written as JSONCompactEachRow lines to
// a file, and one `INSERT … SELECT … FROM file(…)` reads it. chDB's engine reads a file for half the
// CPU or less that it spends on the same text handed over inline (its raw `INSERT … FORMAT` entry, or
// a literal in the statement), and the SELECT lets rows that share every column but a few (one GPU's
// fields from one scrape) travel as one line of arrays that ARRAY JOIN expands again: a packed GPU
// is a quarter of the text (bench/README.md, "Ingest").
import type { ClickHouseSettings } from '@clickhouse/client';
import { sqlString } from '../schema/ddl.ts';

export interface InsertShape {
  /** The rows' columns, in their order. */
  readonly columns: readonly string[];
  /** Each column's ClickHouse type, as the table declares it. */
  readonly types: readonly string[];
  /**
   * Columns that vary within a group of rows: consecutive rows equal in every other column are
   * sent as one line whose packed columns are arrays. Packing is skipped for a batch whose groups
   * average under two rows.
   */
  readonly pack?: readonly string[];
}

/** Rows packed per group average at least this many to be worth sending as arrays. */
const MIN_PACKED_RUN = 2;

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

/**
 * JSONCompactEachRow lines gathered into buffers of about 64 KiB: encoding many small strings is
 * cheaper than flattening and encoding one string of the whole batch (about a quarter of the serialising time).
 */
class Lines {
  private readonly chunks: Buffer[] = [];
  private pending = '';

  add(row: readonly unknown[]): void {
    this.pending += JSON.stringify(row) + '\n';
    if (this.pending.length >= 65_536) {
      this.chunks.push(Buffer.from(this.pending));
      this.pending = '';
    }
  }

  done(): Buffer[] {
    if (this.pending) this.chunks.push(Buffer.from(this.pending));
    this.pending = '';
    return this.chunks;
  }
}

function flatLines(rows: readonly (readonly unknown[])[]): Buffer[] {
  const out = new Lines();
  for (const r of rows) out.add(r);
  return out.done();
}

function sameGroup(a: readonly unknown[], b: readonly unknown[] | undefined, shared: readonly number[]): boolean {
  if (!b) return false;
  for (const i of shared) if (a[i] !== b[i]) return false;
  return true;
}

/** Number of runs of consecutive rows equal in every `shared` column. */
function countRuns(rows: readonly (readonly unknown[])[], shared: readonly number[]): number {
  let runs = 0;
  let prev: readonly unknown[] | undefined;
  for (const r of rows) {
    if (!sameGroup(r, prev, shared)) runs++;
    prev = r;
  }
  return runs;
}

function packedLines(rows: readonly (readonly unknown[])[], shared: readonly number[], packed: readonly number[]): Buffer[] {
  const out = new Lines();
  let line: unknown[] | undefined;
  let arrays: unknown[][] = [];
  let prev: readonly unknown[] | undefined;
  for (const r of rows) {
    if (!sameGroup(r, prev, shared)) {
      if (line) out.add(line);
      arrays = packed.map(() => []);
      line = [...shared.map((i) => r[i]), ...arrays];
    }
    for (let k = 0; k < packed.length; k++) arrays[k]!.push(r[packed[k]!]);
    prev = r;
  }
  if (line) out.add(line);
  return out.done();
}

export interface PreparedInsert {
  /** The rows as JSONCompactEachRow lines, packed where that pays. */
  readonly data: Buffer[];
  /** The statement that inserts `data` once it is in `file`. */
  statement(file: string): string;
}

/** The rows (positional, in `shape.columns` order) for `table`, and the statement that inserts them. */
export function prepareInsert(table: string, shape: InsertShape, rows: readonly (readonly unknown[])[], settings?: ClickHouseSettings): PreparedInsert {
  const target = table.split('.').map((p) => `\`${ident(p)}\``).join('.');
  const names = shape.columns.map(ident);
  if (shape.types.length !== names.length) throw new Error(`insert into ${table}: ${names.length} columns but ${shape.types.length} types`);
  const into = `INSERT INTO ${target} (${names.join(', ')})${settingsClause(settings)} SELECT ${names.join(', ')}`;
  const packedIdx = (shape.pack ?? []).map((p) => {
    const i = names.indexOf(p);
    if (i < 0) throw new Error(`insert into ${table}: packed column ${p} is not among the inserted columns`);
    return i;
  });
  const sharedIdx = names.map((_, i) => i).filter((i) => !packedIdx.includes(i));
  if (packedIdx.length > 0 && rows.length >= MIN_PACKED_RUN * countRuns(rows, sharedIdx)) {
    const structure = [
      ...sharedIdx.map((i) => `${names[i]} ${shape.types[i]}`),
      ...packedIdx.map((i) => `__packed_${names[i]} Array(${shape.types[i]})`),
    ].join(', ');
    const arrayJoin = packedIdx.map((i) => `__packed_${names[i]} AS ${names[i]}`).join(', ');
    return {
      data: packedLines(rows, sharedIdx, packedIdx),
      statement: (file) => `${into} FROM file(${sqlString(file)}, JSONCompactEachRow, ${sqlString(structure)}) ARRAY JOIN ${arrayJoin}`,
    };
  }
  const structure = names.map((n, i) => `${n} ${shape.types[i]}`).join(', ');
  return { data: flatLines(rows), statement: (file) => `${into} FROM file(${sqlString(file)}, JSONCompactEachRow, ${sqlString(structure)})` };
}
