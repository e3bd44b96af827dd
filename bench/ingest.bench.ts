// Records/s through the in-process flow (validate → encode → queue → batcher → insert) into embedded
// ClickHouse, against the limit: the same engine ingesting the same rows from a file with file(),
// as text (JSONCompactEachRow: the rows as a file of records would hold them) and as the Native
// blocks the pipeline sends (the engine's floor: nothing left to parse). Each path is also given in
// rows per CPU-second of the whole process (all threads, ClickHouse's included): on a shared
// machine that figure moves far less than wall-clock rates.
// Run: npm run bench            (or: node bench/ingest.bench.ts [rows] [--premade]; BATCH_ROWS=n to
// override the configured batch size)
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { Registry } from 'prom-client';
import { configSchema } from '../collector/app/config-schema.ts';
import { silentLogger } from '../collector/core/log.ts';
import { codecFor, Pipeline, storeInserter } from '../collector/core/pipeline/pipeline.ts';
import { validatorFor, type Row } from '../collector/core/records/validate.ts';
import { chTime } from '../collector/core/schema/columns.ts';
import { ROLLUPS } from '../collector/core/schema/rollups.ts';
import { SIGNAL_TABLES } from '../collector/core/schema/tables.ts';
import { migrate } from '../collector/core/schema/migrations/index.ts';
import { openStore } from '../collector/core/store/store.ts';
import { generate } from '../collector/app/demo/history.ts';

const ROWS = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 1_000_000);
/**
 * By default the pipeline's records are made as they are submitted, from a cycle of generated ones,
 * and die young as a producer's do; the making is charged to the pipeline. With `--premade` all of
 * them are made before the clock starts, as earlier versions of this bench did: a million objects
 * then sit in the old generation and are collected during the run, which costs the pipeline's
 * garbage collector work no producer would cause.
 */
const PREMADE = process.argv.includes('--premade');
/** Generated records a cycle repeats (with their times moved on and their ids made unique). */
const CYCLE = 50_000;
const CHUNK = 5_000;
// The pipeline's own defaults unless overridden; the direct path uses the same batch size.
const PIPELINE = configSchema.parse({
  pipeline: process.env.BATCH_ROWS ? { batch_rows: Number(process.env.BATCH_ROWS), queue_capacity: Math.max(500_000, 2 * Number(process.env.BATCH_ROWS)) } : {},
}).pipeline;
const BATCH = PIPELINE.batch_rows;
const T0 = Date.UTC(2026, 10, 1);
const DAY = 86_400_000;

/**
 * The first `n` records of a table from the simulated fleet's generated history (the generator the
 * demo and the dashboard tests use): realistic tenants, models, token counts, timings and DCGM
 * fields instead of a repeating pattern.
 */
function simRecords(table: 'llm_requests' | 'gpu_metrics', n: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const batch of generate(table, { seed: 1, from: T0, to: T0 + 30 * DAY, nodes: 32, tenants: 50, batch: 50_000 })) {
    for (const r of batch) {
      if (out.length === n) return out;
      out.push(r as unknown as Record<string, unknown>);
    }
  }
  if (out.length < n) throw new Error(`the generated history holds only ${out.length} ${table} rows; ask for fewer`);
  return out;
}

/**
 * Record `i` of the run: with `--premade`, the i-th generated record; otherwise the generated
 * records repeat in cycles of CYCLE, each cycle later in time by the span of one cycle (and with
 * its own request ids), so every row is distinct and time moves on as in the history.
 */
function recordMaker(table: 'llm_requests' | 'gpu_metrics'): (i: number) => object {
  const base = simRecords(table, PREMADE ? ROWS : Math.min(CYCLE, ROWS));
  if (PREMADE) return (i) => base[i]!;
  const span = Number(base[base.length - 1]!.ts) - Number(base[0]!.ts) + 1_000;
  return (i) => {
    const cycle = Math.floor(i / base.length);
    const r = base[i % base.length]!;
    if (cycle === 0) return r;
    return table === 'llm_requests'
      ? { ...r, ts: Number(r.ts) + cycle * span, request_id: `${String(r.request_id)}-${cycle}` }
      : { ...r, ts: Number(r.ts) + cycle * span };
  };
}

interface Result {
  path: string;
  rows: number;
  seconds: number;
  cpuSeconds: number;
  peakRssMb: number;
}

const cpuSince = (c0: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
};

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 50);

async function viaPipeline(
  store: Awaited<ReturnType<typeof openStore>>,
  signal: 'llm_request' | 'gpu_sample',
  make: (i: number) => object,
): Promise<Result & { rssByRound: number[] }> {
  const p = new Pipeline({ config: PIPELINE, inserter: storeInserter(store), registry: new Registry(), log: silentLogger });
  const chunkOf = (c: number): object[] => {
    const chunk = [];
    for (let k = c * CHUNK; k < Math.min(ROWS, (c + 1) * CHUNK); k++) chunk.push(make(k));
    return chunk;
  };
  const chunkCount = Math.ceil(ROWS / CHUNK);
  const chunks: object[][] = PREMADE ? Array.from({ length: chunkCount }, (_, c) => chunkOf(c)) : [];
  peakRss = process.memoryUsage.rss();
  const rssByRound: number[] = [];
  const c0 = process.cpuUsage();
  const t = performance.now();
  const durables: Promise<void>[] = [];
  for (let c = 0; c < chunkCount; c++) {
    const records = PREMADE ? chunks[c]! : chunkOf(c);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the bench feeds either signal
    const r = await p.submit(signal, records as any, { source: 'bench' });
    if (PREMADE) chunks[c] = [];
    durables.push(r.durable);
    if (c % Math.ceil(chunkCount / 4) === 0) rssByRound.push(process.memoryUsage.rss());
  }
  await Promise.all(durables);
  await p.shutdown();
  const seconds = (performance.now() - t) / 1000;
  return { path: 'llmeter pipeline', rows: ROWS, seconds, cpuSeconds: cpuSince(c0), peakRssMb: peakRss / 2 ** 20, rssByRound };
}

async function viaFile(
  store: Awaited<ReturnType<typeof openStore>>,
  table: string,
  signal: 'llm_request' | 'gpu_sample',
  make: (i: number) => object,
  dir: string,
  format: 'JSONCompactEachRow' | 'Native',
): Promise<Result> {
  // The same rows, already normalised the way the collector sends them, written to a file first
  // (not timed): this is the engine reading the file and writing parts on its own.
  const file = path.join(dir, `${table}.${format}`);
  const out = createWriteStream(file);
  const v = validatorFor(signal);
  const codec = codecFor(table);
  // Rows carry times as epoch milliseconds; as text they are written in ClickHouse's own form, as
  // a file of records would hold them (a bare number would be read as seconds).
  const defs: Readonly<Record<string, { type: string }>> = SIGNAL_TABLES[signal].columns;
  const times = codec.columns.flatMap((c, i) => (defs[c]!.type.includes('DateTime64') ? [i] : []));
  let rows: unknown[][] = [];
  for (let i = 0; i < ROWS; i++) {
    const r = v(make(i));
    if (!r.ok) throw new Error(r.errors.join('; '));
    if (format === 'JSONCompactEachRow') {
      for (const t of times) if (typeof r.row[t] === 'number') r.row[t] = chTime(r.row[t]);
      if (!out.write(JSON.stringify(r.row) + '\n')) await once(out, 'drain');
      continue;
    }
    rows.push(r.row);
    if (rows.length === BATCH || i === ROWS - 1) {
      for (const c of codec.encode(rows).chunks) if (!out.write(c)) await once(out, 'drain');
      rows = [];
    }
  }
  out.end();
  await once(out, 'finish');
  peakRss = process.memoryUsage.rss();
  const c0 = process.cpuUsage();
  const t = performance.now();
  // Text lines are positional, in the table's column order; blocks name their columns.
  const columns = format === 'Native' ? ` (${codec.columns.join(', ')}) SELECT ${codec.columns.join(', ')}` : ' SELECT *';
  await store.command(`INSERT INTO ${store.database}.${table}${columns} FROM file('${file}', ${format})`);
  const seconds = (performance.now() - t) / 1000;
  const name = `ClickHouse file(), ${format === 'Native' ? 'Native blocks as the pipeline sends them' : 'JSONCompactEachRow'} (${(statSync(file).size / 2 ** 20).toFixed(0)} MiB)`;
  return { path: name, rows: ROWS, seconds, cpuSeconds: cpuSince(c0), peakRssMb: peakRss / 2 ** 20 };
}

async function viaDirectInserts(
  store: Awaited<ReturnType<typeof openStore>>,
  table: string,
  signal: 'llm_request' | 'gpu_sample',
  make: (i: number) => object,
): Promise<Result> {
  // The same insert the pipeline makes (Native blocks of batch_rows validated rows, one after
  // another), without llmeter's queue or batcher: the insert path's own limit.
  const v = validatorFor(signal);
  const batches: Row[][] = [];
  for (let i = 0; i < ROWS; i += BATCH) {
    const b: Row[] = [];
    for (let k = i; k < Math.min(ROWS, i + BATCH); k++) {
      const r = v(make(k));
      if (!r.ok) throw new Error(r.errors.join('; '));
      b.push(r.row);
    }
    batches.push(b);
  }
  peakRss = process.memoryUsage.rss();
  const c0 = process.cpuUsage();
  const t = performance.now();
  for (let i = 0; i < batches.length; i++)
    await store.insertRows(`${store.database}.${table}`, batches[i]!, { insert_deduplication_token: `direct-${table}-${i}` });
  const seconds = (performance.now() - t) / 1000;
  return { path: 'direct inserts, same batches', rows: ROWS, seconds, cpuSeconds: cpuSince(c0), peakRssMb: peakRss / 2 ** 20 };
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'llmeter-bench-'));
const store = await openStore(configSchema.parse({ store: { data_dir: path.join(dir, 'data'), ttl_days: { raw: 0, reference: 0, rollup: 0 } } }).store);
await migrate(store, store.ddlTarget());

const lines: string[] = [];
for (const [table, signal] of [
  ['llm_requests', 'llm_request'],
  ['gpu_metrics', 'gpu_sample'],
] as const) {
  const make = recordMaker(table);
  // Every path starts from empty tables, rollups included, so none merges another's parts.
  const reset = async () => {
    for (const t of [table, ...ROLLUPS.map((r) => r.name)]) await store.command(`TRUNCATE TABLE ${t}`);
  };
  const limit = await viaFile(store, table, signal, make, dir, 'JSONCompactEachRow');
  await reset();
  const floor = await viaFile(store, table, signal, make, dir, 'Native');
  await reset();
  const direct = await viaDirectInserts(store, table, signal, make);
  await reset();
  const ours = await viaPipeline(store, signal, make);
  const n = await store.queryRows<{ n: string }>(`SELECT count() AS n FROM ${table}`);
  if (Number(n[0]!.n) !== ROWS) throw new Error(`${table}: expected ${ROWS} rows, found ${n[0]!.n}`);
  await reset();
  const rate = (r: Result) => r.rows / r.seconds;
  const cpuRate = (r: Result) => r.rows / r.cpuSeconds;
  const row = (r: Result, rss: string) =>
    `| ${table} | ${r.path} | ${Math.round(rate(r)).toLocaleString('en')} | ${(rate(r) / rate(limit)).toFixed(2)} | ${Math.round(cpuRate(r)).toLocaleString('en')} | ${(cpuRate(r) / cpuRate(limit)).toFixed(2)} | ${(cpuRate(r) / cpuRate(floor)).toFixed(2)} | ${rss} |`;
  lines.push(
    row(limit, limit.peakRssMb.toFixed(0)),
    row(floor, floor.peakRssMb.toFixed(0)),
    row(direct, direct.peakRssMb.toFixed(0)),
    row(ours, `${ours.peakRssMb.toFixed(0)} (RSS at 0/25/50/75%: ${ours.rssByRound.map((b) => (b / 2 ** 20).toFixed(0)).join(' / ')} MiB)`),
  );
}
clearInterval(sampler);
await store.close();
rmSync(dir, { recursive: true, force: true });

console.log(
  `\n${ROWS.toLocaleString('en')} rows per table (${PREMADE ? 'all records made before the clock starts' : `records made as submitted, cycles of ${CYCLE.toLocaleString('en')} generated ones`}), batches of ${BATCH.toLocaleString('en')} rows, Node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg()[0]!.toFixed(1)}\n`,
);
console.log('| table | path | rows/s (wall) | ratio to file() text | rows per CPU-second | ratio to file() text | ratio to file() Native | peak RSS MiB |');
console.log('|---|---|---|---|---|---|---|---|');
for (const l of lines) console.log(l);
