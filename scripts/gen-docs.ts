// Generates the reference parts of the documentation from the single definitions in the code, so
// they cannot drift: docs/records.md (record contract, from collector/core/schema/tables.ts) and
// docs/configuration.md (every key, from the zod schema). `node scripts/gen-docs.ts` rewrites them;
// the test suite fails when the committed files differ from what this produces.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { configSchema } from '../collector/app/config-schema.ts';
import { ENV_OVERRIDES } from '../collector/core/config/load.ts';
import { ROLLUPS } from '../collector/core/schema/rollups.ts';
import { deadLetters, RECORDS_VERSION, SIGNAL_TABLES, type TableDef } from '../collector/core/schema/tables.ts';

const root = path.resolve(import.meta.dirname, '..');
const BEGIN = '<!-- generated:begin (node scripts/gen-docs.ts) -->';
const END = '<!-- generated:end -->';

const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function tableDoc(t: TableDef, signal?: string): string {
  const lines = [
    `### \`${t.name}\`${signal ? ` — signal \`${signal}\`` : ''}`,
    '',
    t.doc,
    '',
    `Sort key \`(${t.orderBy.join(', ')})\`, partitions \`${t.partitionBy}\`, engine ${t.engine.kind === 'replacing' ? `ReplacingMergeTree (newest \`${t.engine.version}\` wins)` : 'MergeTree'}, ${t.inForceKey ? `kept while in force: a row that a newer one of the same \`(${t.inForceKey.join(', ')})\` replaced before the retention \`store.ttl_days.${t.retention}\` is deleted, the one in force is kept whatever its age` : `retention \`store.ttl_days.${t.retention}\` on \`${t.ttlColumn}\``}, sharded by \`${t.shardingKey}\` in a cluster.${t.identity ? ` Stored once by \`(${t.identity.join(', ')})\`.` : ''}`,
    '',
    '| field | ClickHouse type | required | in a record | meaning |',
    '|---|---|---|---|---|',
  ];
  for (const [name, col] of Object.entries(t.columns)) {
    const fallback = col.required ? '' : `absent → \`${JSON.stringify(col.fallback)}\``;
    lines.push(`| \`${name}\` | \`${col.type}\` | ${col.required ? 'yes' : 'no'} | ${fallback} | ${esc(col.doc)} |`);
  }
  return lines.join('\n');
}

export function recordsReference(): string {
  const parts = [`Contract version: **${RECORDS_VERSION}**.`, ''];
  for (const [signal, t] of Object.entries(SIGNAL_TABLES)) parts.push(tableDoc(t, signal), '');
  parts.push(tableDoc(deadLetters), '');
  parts.push('### Rollups (filled by materialized views)', '', '| table | from | what |', '|---|---|---|');
  for (const r of ROLLUPS) parts.push(`| \`${r.name}\` | ${r.views.map((v) => `\`${v.source}\``).join(', ')} | ${esc(r.doc)} |`);
  return parts.join('\n');
}

type AnySchema = z.core.$ZodType & { description?: string; _zod: { def: Record<string, unknown> & { type: string } } };

function unwrap(s: AnySchema): { inner: AnySchema; def?: unknown; optional: boolean } {
  let cur = s;
  let def: unknown;
  let optional = false;
  for (;;) {
    const d = cur._zod.def;
    if (d.type === 'default' || d.type === 'prefault') {
      if (def === undefined) def = d.defaultValue;
      cur = d.innerType as AnySchema;
    } else if (d.type === 'optional') {
      optional = true;
      cur = d.innerType as AnySchema;
    } else return { inner: cur, def, optional };
  }
}

function describeType(s: AnySchema): string {
  const d = s._zod.def;
  switch (d.type) {
    case 'enum':
      return Object.values(d.entries as Record<string, string>)
        .map((v) => `\`${v}\``)
        .join(' \\| ');
    case 'array':
      return `list of ${describeType(unwrap(d.element as AnySchema).inner)}`;
    case 'record':
      return 'map';
    case 'object':
      return 'mapping';
    case 'union':
      return (d.options as AnySchema[]).map((o) => describeType(unwrap(o).inner)).join(' or ');
    case 'literal':
      return (d.values as unknown[]).map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
    default:
      return d.type;
  }
}

function walk(s: AnySchema, prefix: string, rows: string[]): void {
  const { inner } = unwrap(s);
  if (inner._zod.def.type !== 'object') return;
  const shape = (inner as unknown as { shape: Record<string, AnySchema> }).shape;
  for (const [key, child] of Object.entries(shape)) {
    const name = prefix ? `${prefix}.${key}` : key;
    const u = unwrap(child);
    const env = ENV_OVERRIDES.find((e) => e.key === name);
    if (u.inner._zod.def.type === 'object') {
      rows.push(`| **\`${name}\`** | section | | ${esc(child.description ?? u.inner.description ?? '')} |`);
      walk(child, name, rows);
      continue;
    }
    const dflt = u.def === undefined ? (u.optional ? '(unset)' : '(required)') : `\`${JSON.stringify(u.def)}\``;
    const desc = [child.description ?? u.inner.description ?? '', env ? `Env: \`${env.env}\`.` : ''].filter(Boolean).join(' ');
    rows.push(`| \`${name}\` | ${describeType(u.inner)} | ${dflt} | ${esc(desc)} |`);
  }
}

export function configurationReference(): string {
  const rows = ['| key | type | default | meaning |', '|---|---|---|---|'];
  walk(configSchema as unknown as AnySchema, '', rows);
  const env = ['', '| environment variable | sets | |', '|---|---|---|', ...ENV_OVERRIDES.map((e) => `| \`${e.env}\` | \`${e.key}\` | ${esc(e.doc)} |`)];
  return [...rows, ...env].join('\n');
}

export function splice(doc: string, generated: string): string {
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error(`missing ${BEGIN} … ${END} markers`);
  return doc.slice(0, a + BEGIN.length) + '\n' + generated + '\n' + doc.slice(b);
}

export const GENERATED_DOCS: Record<string, () => string> = {
  'docs/records.md': recordsReference,
  'docs/configuration.md': configurationReference,
};

if (import.meta.main) {
  for (const [file, gen] of Object.entries(GENERATED_DOCS)) {
    const p = path.join(root, file);
    writeFileSync(p, splice(readFileSync(p, 'utf8'), gen()));
    console.log(`wrote ${file}`);
  }
}
