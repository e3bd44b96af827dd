// What one merge of gpu_metrics parts costs, per row, for the table as the schema makes it and for
// variants of it (sort key, codecs, merge algorithm): the steady state of a large fleet is mostly
// merges (bench/scrape.md). Ten parts of one 1,000-node scrape round each (208,000 rows: 8 GPUs ×
// 26 fields a node, values smooth over time per field) are made by the engine with merges stopped,
// then merged into one with OPTIMIZE … FINAL; the process's CPU for that merge is divided by the rows.
//
//   node bench/merge.bench.ts [variant,…]    (variants: schema, key-field-ts, key-ts-gpu, lz4, horizontal)
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configSchema } from '../collector/app/config-schema.ts';
import { createTableSql } from '../collector/core/schema/ddl.ts';
import { gpuMetrics, type TableDef } from '../collector/core/schema/tables.ts';
import { openStore } from '../collector/core/store/store.ts';
import { gpuRoundSql, SAMPLES_PER_NODE } from './gpu-merges.ts';

const PARTS = 10;
const NODES = 1000;
const ROWS_PER_PART = NODES * SAMPLES_PER_NODE;
const NAME = 'merge_bench';

/** Each variant: the table definition and the statements that alter it after creation. */
const VARIANTS: Record<string, { def: TableDef; doc: string; after?: string[] }> = {
  schema: { def: gpuMetrics, doc: `the schema's table, ORDER BY (${gpuMetrics.orderBy.join(', ')})` },
  'key-field-ts': {
    def: { ...gpuMetrics, orderBy: ['node', 'gpu_uuid', 'field', 'ts'] },
    doc: 'ORDER BY (node, gpu_uuid, field, ts): the key before schema migration 6',
  },
  'key-ts-gpu': { def: { ...gpuMetrics, orderBy: ['node', 'ts', 'gpu_uuid', 'field'] }, doc: 'ORDER BY (node, ts, gpu_uuid, field)' },
  lz4: {
    def: {
      ...gpuMetrics,
      columns: Object.fromEntries(Object.entries(gpuMetrics.columns).map(([n, c]) => [n, c.codec ? { ...c, codec: c.codec.replace('ZSTD(1)', 'LZ4') } : c])),
    },
    doc: "LZ4 instead of ZSTD(1) after each column's DoubleDelta/Gorilla",
  },
  horizontal: {
    def: gpuMetrics,
    doc: 'horizontal merges (no vertical merge algorithm)',
    after: [`ALTER TABLE ${NAME} MODIFY SETTING vertical_merge_algorithm_min_columns_to_activate = 1000`],
  },
};

const chosen = (process.argv[2] ?? Object.keys(VARIANTS).join(',')).split(',');
for (const c of chosen) if (!VARIANTS[c]) throw new Error(`unknown variant ${c}; known: ${Object.keys(VARIANTS).join(', ')}`);

const dir = mkdtempSync(path.join(os.tmpdir(), 'llmeter-bench-merge-'));
const store = await openStore(configSchema.parse({ store: { data_dir: dir, ttl_days: { raw: 0, reference: 0, rollup: 0 } } }).store);
const rows = PARTS * ROWS_PER_PART;
const bytes = async () => {
  const [r] = await store.queryRows<{ b: string }>(
    `SELECT toString(sum(bytes_on_disk)) AS b FROM system.parts WHERE database = currentDatabase() AND table = '${NAME}' AND active`,
  );
  return Number(r?.b ?? 0) / rows;
};
console.log(
  `\nOne merge of ${PARTS} parts of ${ROWS_PER_PART.toLocaleString('en')} gpu_metrics rows (${rows.toLocaleString('en')} rows), ${process.version}, ${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(1)}\n`,
);
console.log('| variant | table | CPU µs a row | bytes a row before / after |');
console.log('|---|---|---:|---:|');
try {
  for (const name of chosen) {
    const v = VARIANTS[name]!;
    await store.command(`DROP TABLE IF EXISTS ${NAME}`);
    await store.command(createTableSql({ ...v.def, name: NAME }, store.ddlTarget()));
    for (const s of v.after ?? []) await store.command(s);
    await store.command(`SYSTEM STOP MERGES ${NAME}`);
    for (let r = 0; r < PARTS; r++) await store.command(gpuRoundSql(NAME, r, NODES));
    await store.command(`SYSTEM START MERGES ${NAME}`);
    const before = await bytes();
    const c0 = process.cpuUsage();
    await store.command(`OPTIMIZE TABLE ${NAME} FINAL`);
    const c = process.cpuUsage(c0);
    console.log(`| ${name} | ${v.doc} | ${((c.user + c.system) / rows).toFixed(2)} | ${before.toFixed(2)} / ${(await bytes()).toFixed(2)} |`);
  }
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
