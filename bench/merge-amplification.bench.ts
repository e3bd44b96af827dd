// How many times ClickHouse rewrites a gpu_metrics row by merging, for a stream of scrape-round
// inserts into one partition: the "merge levels" the scrape bench's steady-state estimate takes as
// log of the partition's inserts to the base merge_selector_base. Rounds are made by the engine (like bench/merge.bench.ts); after each
// insert the merges it started are waited for, as a collector inserting every 15 s gives them time
// to finish. The parts still do not age as they would: ClickHouse's merge selector lowers its base
// for parts older than 10 s, so a collector inserting every 15 s may merge sooner than this shows.
//
//   node bench/merge-amplification.bench.ts [inserts=300] [nodes=1000] [merge_selector_base,…=5,10]   (about 4 minutes)
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configSchema } from '../collector/app/config-schema.ts';
import { createTableSql } from '../collector/core/schema/ddl.ts';
import { gpuMetrics } from '../collector/core/schema/tables.ts';
import { openStore } from '../collector/core/store/store.ts';
import { gpuRoundSql, mergesSettled, SAMPLES_PER_NODE } from './gpu-merges.ts';

const INSERTS = Number(process.argv[2] ?? 300);
const NODES = Number(process.argv[3] ?? 1000);
const BASES = (process.argv[4] ?? '5,10').split(',').map(Number);
const ROWS = NODES * SAMPLES_PER_NODE;
const NAME = 'amplification_bench';

const dir = mkdtempSync(path.join(os.tmpdir(), 'llmeter-bench-amplification-'));
const store = await openStore(configSchema.parse({ store: { data_dir: dir, ttl_days: { raw: 0, reference: 0, rollup: 0 } } }).store);
const mergedRows = async () =>
  Number((await store.queryRows<{ v: string }>(`SELECT toString(sum(value)) AS v FROM system.events WHERE event = 'MergedRows'`))[0]?.v ?? 0);

console.log(
  `\n${INSERTS} inserts of ${ROWS.toLocaleString('en-US')} rows (one round of ${NODES} nodes) into one partition of gpu_metrics' layout, ${process.version}, load average ${os.loadavg()[0]!.toFixed(1)}\n`,
);
console.log('| merge_selector_base | rows merged ÷ rows inserted | log_base(inserts) | active parts at the end | deepest part level |');
console.log('|---:|---:|---:|---:|---:|');
try {
  for (const base of BASES) {
    await store.command(`DROP TABLE IF EXISTS ${NAME} SYNC`);
    const settings = `${(gpuMetrics.settings ?? '').replace(/,? ?merge_selector_base = \d+/, '')}, merge_selector_base = ${base}`.replace(/^, /, '');
    await store.command(createTableSql({ ...gpuMetrics, name: NAME, settings }, store.ddlTarget()));
    const m0 = await mergedRows();
    for (let r = 0; r < INSERTS; r++) {
      await store.command(gpuRoundSql(NAME, r, NODES));
      await mergesSettled(store, 60_000);
    }
    const merged = (await mergedRows()) - m0;
    const [p] = await store.queryRows<{ parts: string; level: string }>(
      `SELECT toString(count()) AS parts, toString(max(level)) AS level FROM system.parts WHERE active AND database = currentDatabase() AND table = '${NAME}'`,
    );
    console.log(`| ${base} | ${(merged / (INSERTS * ROWS)).toFixed(2)} | ${(Math.log(INSERTS) / Math.log(base)).toFixed(2)} | ${p?.parts} | ${p?.level} |`);
  }
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
