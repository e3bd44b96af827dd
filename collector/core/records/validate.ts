// Validation at the collector's edge. A validator is compiled once per table from its column
// definitions; it either returns the row as ClickHouse will receive it, or every reason it is bad.
import { Invalid, typeOf, type Normalized } from '../schema/columns.ts';
import { SIGNAL_TABLES, type Signal, type TableDef } from '../schema/tables.ts';

/**
 * A validated row, positional in the table's column order: the table writer encodes such rows into
 * Native blocks column by column (store/native-blocks.ts) without looking names up per row.
 */
export type Row = Normalized[];

export type Validation = { ok: true; row: Row } | { ok: false; errors: string[] };

export type Validator = (record: unknown) => Validation;

/**
 * The validator is generated as straight-line code, one statement per column: each column's read
 * and check is then its own call site, which V8 inlines, where a loop over the columns makes one
 * call site see every check and every field name. Three times faster on a 25-column request row
 * (bench/README.md, "Ingest"). The code is built from the table's own column names (quoted with
 * JSON.stringify) and passes each check and fallback in as an argument; no input reaches it.
 */
export function compileValidator(table: TableDef): Validator {
  const fields = Object.entries(table.columns);
  const params = ['Invalid'];
  const args: unknown[] = [Invalid];
  const lines = [`const row = new Array(${fields.length});`, 'let errors, v, out;'];
  fields.forEach(([name, col], i) => {
    params.push(`check${i}`, `fallback${i}`);
    args.push(col.check, col.fallback);
    const absent = col.required ? `(errors ??= []).push(${JSON.stringify(`${name}: required`)});` : `row[${i}] = fallback${i};`;
    lines.push(
      `v = rec[${JSON.stringify(name)}];`,
      `if (v === undefined || (v === null && fallback${i} !== null)) { ${absent} }`,
      `else { out = check${i}(v); if (out instanceof Invalid) (errors ??= []).push(${JSON.stringify(`${name}: `)} + out.reason); else row[${i}] = out; }`,
    );
  });
  lines.push('return errors ? { ok: false, errors } : { ok: true, row };');
  const columns = new Function(...params, `return function validateColumns(rec) {\n${lines.join('\n')}\n};`)(...args) as (
    rec: Record<string, unknown>,
  ) => Validation;
  return (record) => {
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      return { ok: false, errors: [`record: expected a JSON object, got ${typeOf(record)}`] };
    }
    return columns(record as Record<string, unknown>);
  };
}

const VALIDATORS = new Map<Signal, Validator>();

export function validatorFor(signal: Signal): Validator {
  let v = VALIDATORS.get(signal);
  if (!v) {
    v = compileValidator(SIGNAL_TABLES[signal]);
    VALIDATORS.set(signal, v);
  }
  return v;
}

export function isSignal(s: string): s is Signal {
  return Object.hasOwn(SIGNAL_TABLES, s);
}

export function columnNames(table: TableDef): string[] {
  return Object.keys(table.columns);
}

/** The row as an object keyed by column name (for dead letters, spill files and tests). */
export function rowToObject(table: TableDef, row: readonly Normalized[]): Record<string, Normalized> {
  const out: Record<string, Normalized> = {};
  const names = columnNames(table);
  for (let i = 0; i < names.length; i++) out[names[i]!] = row[i]!;
  return out;
}
