// Validation at the collector's edge. A validator is compiled once per table from its column
// definitions; it either returns the row as ClickHouse will receive it, or every reason it is bad.
import { Invalid, typeOf, type Normalized } from '../schema/columns.ts';
import { SIGNAL_TABLES, type Signal, type TableDef } from '../schema/tables.ts';

/**
 * A validated row, positional in the table's column order: it is sent as JSONCompactEachRow, which
 * is cheaper to serialise and for ClickHouse to parse than one object per row.
 */
export type Row = Normalized[];

export type Validation = { ok: true; row: Row } | { ok: false; errors: string[] };

export type Validator = (record: unknown) => Validation;

export function compileValidator(table: TableDef): Validator {
  const fields = Object.entries(table.columns).map(([name, col]) => ({ name, col }));
  const width = fields.length;
  return (record) => {
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      return { ok: false, errors: [`record: expected a JSON object, got ${typeOf(record)}`] };
    }
    const rec = record as Record<string, unknown>;
    const row: Row = new Array(width);
    let errors: string[] | undefined;
    for (let i = 0; i < width; i++) {
      const { name, col } = fields[i]!;
      const v = rec[name];
      if (v === undefined || (v === null && col.fallback !== null)) {
        if (col.required) (errors ??= []).push(`${name}: required`);
        else row[i] = col.fallback;
        continue;
      }
      const out = col.check(v);
      if (out instanceof Invalid) (errors ??= []).push(`${name}: ${out.reason}`);
      else row[i] = out;
    }
    return errors ? { ok: false, errors } : { ok: true, row };
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
