// Scrape benchmark: samples/s parsed (cold, and warm with the per-target label cache) against the
// parse-prometheus-text-format package, samples/s parsed + mapped to records, and the end-to-end
// cost of a 1,000-node fleet scraped every 15 s (HTTP fetch, parse, map, validate, insert into the
// embedded ClickHouse) as a share of one core.
//
//   node bench/scrape.bench.ts            (Node 24; --quick for a short run, --parse-only to skip the fleet)
//   node bench/scrape.bench.ts --fleet-only --without-view node_hours_from_gpu_mv
//                                         (the fleet alone, with a materialized view dropped: its share)
//
// The pages are served by a child process so its CPU is not counted as the scraper's.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { Registry } from 'prom-client';
import { silentLogger } from '../collector/core/log.ts';
import { ROLLUPS } from '../collector/core/schema/rollups.ts';
import { gpuMetrics } from '../collector/core/schema/tables.ts';
import type { RecordSink } from '../collector/core/pipeline/pipeline.ts';
import { startCollector } from '../collector/app/runtime.ts';
import type { Store } from '../collector/core/store/store.ts';
import { configSchema } from '../collector/app/config-schema.ts';
import { DcgmMapper } from '../exporters/scrape/dcgm/map.ts';
import { NodeDirectory } from '../exporters/scrape/inventory/directory.ts';
import { LabelCache, parsePrometheusText } from '../exporters/scrape/prometheus/parse.ts';
import { scrapeConfigSchema } from '../exporters/scrape/config.ts';
import { buildScrape } from '../exporters/scrape/build.ts';
import { mergesSettled } from './gpu-merges.ts';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const quick = process.argv.includes('--quick');
const roundsArg = process.argv.indexOf('--rounds');
/** Measured rounds (`--rounds N`); with more of them, more of the merges the parts need fall inside the window. */
const ROUNDS = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : undefined;
const withoutViews = process.argv.flatMap((a, i, all) => (a === '--without-view' && all[i + 1] ? [all[i + 1]!] : []));

/** CPU seconds per thread name (the kernel's comm: ClickHouse and libuv name their threads), from procfs. */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  let dir: string[];
  try {
    dir = readdirSync('/proc/self/task');
  } catch {
    return out; // not Linux
  }
  for (const tid of dir) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended in between
    }
    const close = stat.lastIndexOf(')');
    const name = tid === String(process.pid) ? 'main (JavaScript)' : stat.slice(stat.indexOf('(') + 1, close).replace(/[0-9]+$/, '');
    const f = stat.slice(close + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name; clock ticks of 1/100 s.
    const sec = (Number(f[11]) + Number(f[12])) / 100;
    out.set(name, (out.get(name) ?? 0) + sec);
  }
  return out;
}

function threadDelta(a: Map<string, number>, b: Map<string, number>): [string, number][] {
  const out: [string, number][] = [];
  for (const [k, v] of b) {
    const d = v - (a.get(k) ?? 0);
    if (d >= 0.005) out.push([k, d]);
  }
  return out.sort((x, y) => y[1] - x[1]);
}

// dcgm-exporter 4.x default counters plus the DCP fields most deployments enable.
const FIELDS: [string, string, string, (g: number) => number][] = [
  ['DCGM_FI_DEV_SM_CLOCK', 'gauge', 'SM clock frequency (in MHz).', (g) => 1980 - g],
  ['DCGM_FI_DEV_MEM_CLOCK', 'gauge', 'Memory clock frequency (in MHz).', () => 2619],
  ['DCGM_FI_DEV_MEMORY_TEMP', 'gauge', 'Memory temperature (in C).', (g) => 40 + g],
  ['DCGM_FI_DEV_GPU_TEMP', 'gauge', 'GPU temperature (in C).', (g) => 50 + g],
  ['DCGM_FI_DEV_POWER_USAGE', 'gauge', 'Power draw (in W).', (g) => 300.125 + g],
  ['DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION', 'counter', 'Total energy consumption since boot (in mJ).', (g) => 912345678901 + g],
  ['DCGM_FI_DEV_PCIE_REPLAY_COUNTER', 'counter', 'Total number of PCIe retries.', () => 0],
  ['DCGM_FI_DEV_GPU_UTIL', 'gauge', 'GPU utilization (in %).', (g) => 90 - g],
  ['DCGM_FI_DEV_MEM_COPY_UTIL', 'gauge', 'Memory utilization (in %).', (g) => 40 + g],
  ['DCGM_FI_DEV_ENC_UTIL', 'gauge', 'Encoder utilization (in %).', () => 0],
  ['DCGM_FI_DEV_DEC_UTIL', 'gauge', 'Decoder utilization (in %).', () => 0],
  ['DCGM_FI_DEV_XID_ERRORS', 'gauge', 'Value of the last XID error encountered.', () => 0],
  ['DCGM_FI_DEV_FB_FREE', 'gauge', 'Framebuffer memory free (in MiB).', (g) => 1000 + g],
  ['DCGM_FI_DEV_FB_USED', 'gauge', 'Framebuffer memory used (in MiB).', (g) => 79000 - g],
  ['DCGM_FI_DEV_FB_RESERVED', 'gauge', 'Framebuffer memory reserved (in MiB).', () => 512],
  ['DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL', 'counter', 'Total number of NVLink bandwidth counters for all lanes.', (g) => 123456789 * (g + 1)],
  ['DCGM_FI_DEV_VGPU_LICENSE_STATUS', 'gauge', 'vGPU License status', () => 0],
  ['DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS', 'counter', 'Number of remapped rows for uncorrectable errors', () => 0],
  ['DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS', 'counter', 'Number of remapped rows for correctable errors', () => 0],
  ['DCGM_FI_DEV_ROW_REMAP_FAILURE', 'gauge', 'Whether remapping of rows has failed', () => 0],
  ['DCGM_FI_PROF_GR_ENGINE_ACTIVE', 'gauge', 'Ratio of time the graphics engine is active.', (g) => 0.9 - g / 100],
  ['DCGM_FI_PROF_PIPE_TENSOR_ACTIVE', 'gauge', 'Ratio of cycles the tensor (HMMA) pipe is active.', (g) => 0.5 - g / 100],
  ['DCGM_FI_PROF_DRAM_ACTIVE', 'gauge', 'Ratio of cycles the device memory interface is active sending or receiving data.', (g) => 0.6 - g / 100],
  [
    'DCGM_FI_PROF_PCIE_TX_BYTES',
    'gauge',
    'The rate of data transmitted over the PCIe bus - including both protocol headers and data payloads - in bytes per second.',
    (g) => 12345678 + g,
  ],
  [
    'DCGM_FI_PROF_PCIE_RX_BYTES',
    'gauge',
    'The rate of data received over the PCIe bus - including both protocol headers and data payloads - in bytes per second.',
    (g) => 23456789 + g,
  ],
];

/** One node's dcgm-exporter page: 8 H100s, Kubernetes pod attribution, the current label order. */
export function dcgmPage(node: number, gpus = 8): string {
  let out = '';
  for (const [name, type, help, value] of FIELDS) {
    out += `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
    for (let g = 0; g < gpus; g++) {
      const uuid = `GPU-${node.toString(16).padStart(8, '0')}-9033-f166-7723-77088b0ff9${g.toString(16).padStart(2, '0')}`;
      out +=
        `${name}{gpu="${g}",UUID="${uuid}",pci_bus_id="00000000:${(0x18 + g * 0x10).toString(16).toUpperCase()}:00.0",device="nvidia${g}",` +
        `modelName="NVIDIA H100 80GB HBM3",Hostname="gpu-node-${node}",DCGM_FI_DRIVER_VERSION="550.54.15",` +
        `container="vllm",namespace="llm-serving",pod="vllm-llama-${node}-${g}"} ${value(g)}\n`;
    }
  }
  return out;
}

function rate(n: number, ms: number): number {
  return (n / ms) * 1000;
}

function timeIt(fn: () => number, minMs: number): { samples: number; ms: number } {
  fn(); // warm-up
  let samples = 0;
  const t0 = performance.now();
  for (;;) {
    const ms = performance.now() - t0;
    if (ms >= minMs) return { samples, ms };
    samples += fn();
  }
}

async function main(): Promise<void> {
  const minMs = quick ? 500 : 2000;
  const page = dcgmPage(1);
  const samplesPerPage = parsePrometheusText(page).samples.length;
  if (process.argv.includes('--fleet-only')) return fleet(quick ? 200 : 1000, ROUNDS ?? (quick ? 2 : 3), samplesPerPage);
  const require = createRequire(import.meta.url);
  const peerParse = require('parse-prometheus-text-format') as (text: string) => { metrics: unknown[] }[];

  const rows: [string, number, string][] = [];
  const peer = timeIt(() => {
    const fams = peerParse(page);
    let n = 0;
    for (const f of fams) n += f.metrics.length;
    return n;
  }, minMs);
  const peerRate = rate(peer.samples, peer.ms);
  const cold = timeIt(() => parsePrometheusText(page).samples.length, minMs);
  const cache = new LabelCache();
  const warm = timeIt(() => parsePrometheusText(page, { cache }).samples.length, minMs);
  const dir = new NodeDirectory();
  const mapper = new DcgmMapper({ target: 'bench', fallbackNode: 'x', directory: dir, maxSeries: 100_000 });
  let ts = 1_800_000_000_000;
  const mapped = timeIt(() => {
    const p = parsePrometheusText(page, { cache });
    mapper.map(p, (ts += 15_000));
    return p.samples.length;
  }, minMs);
  rows.push(['parse-prometheus-text-format (peer)', peerRate, '1.00×']);
  rows.push(['llmeter parser, cold (no label cache)', rate(cold.samples, cold.ms), `${(rate(cold.samples, cold.ms) / peerRate).toFixed(2)}×`]);
  rows.push(['llmeter parser, warm (per-target label cache)', rate(warm.samples, warm.ms), `${(rate(warm.samples, warm.ms) / peerRate).toFixed(2)}×`]);
  rows.push(['llmeter parse + DCGM mapping to records', rate(mapped.samples, mapped.ms), `${(rate(mapped.samples, mapped.ms) / peerRate).toFixed(2)}×`]);

  console.log(
    `\nSynthetic 8-GPU dcgm-exporter page: ${samplesPerPage} samples, ${(Buffer.byteLength(page) / 1024).toFixed(1)} KiB (one core, Node ${process.version})\n`,
  );
  console.log('| path | samples/s | vs peer |');
  console.log('|---|---:|---:|');
  for (const [name, r, ratio] of rows) console.log(`| ${name} | ${Math.round(r).toLocaleString('en-US')} | ${ratio} |`);

  if (!process.argv.includes('--parse-only')) await fleet(quick ? 200 : 1000, ROUNDS ?? (quick ? 2 : 3), samplesPerPage);
}

/** A sink that accepts and discards: measures the scrape path (fetch, parse, map) alone. */
const discard: RecordSink = {
  async submit(_signal, records) {
    return { accepted: records.length, rejected: 0, dropped: 0, reasons: [], durable: Promise.resolve() };
  },
};

/** The time one gpu_metrics partition spans, in seconds, from the table's partition key. */
const PARTITION_S = /^toYYYYMM\(/.test(gpuMetrics.partitionBy) ? 30 * 86_400 : 86_400;
/** ClickHouse's merge selector joins about `merge_selector_base` parts at a time (5 unless the table sets it). */
const MERGE_FAN_IN = Number(/merge_selector_base = (\d+)/.exec(gpuMetrics.settings ?? '')?.[1] ?? 5);

/**
 * CPU of merging every active gpu_metrics part into one (OPTIMIZE … FINAL), per row merged; and the
 * rows the run's own merges had already rewritten (a part's rows once per merge level below it).
 */
async function fullMergeCost(store: Store): Promise<{ parts: number; rows: number; rowsMerged: number; usPerRow: number }> {
  const [p] = await store.queryRows<{ parts: string; n: string; merged: string }>(
    `SELECT toString(count()) AS parts, toString(sum(rows)) AS n, toString(sum(rows * level)) AS merged FROM system.parts WHERE active AND database = currentDatabase() AND table = 'gpu_metrics'`,
  );
  const c0 = process.cpuUsage();
  await store.command('OPTIMIZE TABLE gpu_metrics FINAL');
  const c = process.cpuUsage(c0);
  const rows = Number(p?.n ?? 0);
  return { parts: Number(p?.parts ?? 0), rows, rowsMerged: Number(p?.merged ?? 0), usPerRow: rows > 0 ? (c.user + c.system) / rows : 0 };
}

interface FleetRun {
  wallMs: number;
  cpuSec: number;
  rows: number;
  threads: [string, number][];
}

/**
 * `cuts` batches per round, forced as the round's targets are scraped, each round awaited. With 0
 * the pipeline cuts batches itself at `pipeline.batch_rows` and rows carry over between rounds, which
 * is what a running collector does with the default configuration: a scheduled scrape's samples may
 * wait up to the target's interval, so a fleet spread over the 15 s interval fills 200,000-row
 * batches (one at the end of the run flushes the rest). Cutting every `pipeline.batch_ms` (1 s), as
 * before samples could wait, is 15 a round.
 */
async function runFleet(
  sink: RecordSink,
  flush: () => Promise<void>,
  port: number,
  nodes: number,
  rounds: number,
  cuts = 1,
  settle: () => Promise<void> = async () => {},
): Promise<FleetRun> {
  const scrape = scrapeConfigSchema.parse({
    enabled: true,
    inventory: { enabled: false },
    targets: Array.from({ length: nodes }, (_, i) => ({ name: `node-${i}`, kind: 'dcgm', url: `http://127.0.0.1:${port}/node/${i}` })),
  });
  const f = buildScrape({ config: scrape, sink, registry: new Registry(), log: silentLogger });
  const round = async () => {
    // 64 targets at a time keeps sockets bounded, as a scraper spreading 1,000 targets over 15 s would.
    const results = [];
    const groups = Math.ceil(nodes / 64);
    for (let g = 0; g < groups; g++) {
      results.push(...(await Promise.all(scrape.targets.slice(g * 64, g * 64 + 64).map((t) => f.scraper.scrapeNow(t.name)))));
      if (Math.floor(((g + 1) * cuts) / groups) > Math.floor((g * cuts) / groups)) await flush();
    }
    if (cuts > 0) await Promise.all(results.map((r) => r.durable));
    else pending.push(...results.map((r) => r.durable));
    return results;
  };
  const pending: Promise<void>[] = [];
  await round(); // warm-up: label caches, JIT, table parts
  const threads0 = threadCpu();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let rows = 0;
  for (let r = 0; r < rounds; r++) for (const x of await round()) rows += x.records.gpu_sample ?? 0;
  if (cuts === 0) {
    await flush();
    await Promise.all(pending);
  }
  await settle();
  const cpu = process.cpuUsage(cpu0);
  return { wallMs: performance.now() - t0, cpuSec: (cpu.user + cpu.system) / 1e6, rows, threads: threadDelta(threads0, threadCpu()) };
}

/** 1,000 nodes, each one page per 15 s interval: scrape, parse, map, validate and store them all. */
async function fleet(nodes: number, rounds: number, samplesPerPage: number): Promise<void> {
  const child = fork(new URL(import.meta.url).pathname, ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve(Number(m))));
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'llmeter-bench-scrape-'));
  // The pipeline's defaults, except the batch window: a running collector's scheduled scrapes let
  // their samples wait up to the 15 s interval, while the bench asks for its scrapes (scrapeNow),
  // which do not wait; a 15 s window stands in for the samples' own.
  const defaults = configSchema.parse({}).pipeline;
  const config = configSchema.parse({ store: { data_dir: dataDir }, pipeline: { batch_ms: 15_000 } });
  const collector = await startCollector(config, silentLogger, { withoutHttp: true, withoutFeatures: true });
  try {
    for (const v of withoutViews) await collector.store.command(`DROP VIEW ${v}`);
    const alone = await runFleet(discard, async () => {}, port, nodes, rounds);
    const cutsPerRound = Math.max(1, Math.round(15_000 / defaults.batch_ms)); // cut every default batch_ms
    // Merges still running when the last round is stored are waited for (up to 30 s) and counted.
    const settle = () => mergesSettled(collector.store, 30_000);
    const runStored = async (cuts: number) => {
      for (const t of ['gpu_metrics', ...ROLLUPS.map((r) => r.name)]) await collector.store.command(`TRUNCATE TABLE ${t}`);
      return runFleet(collector.pipeline, () => collector.pipeline.forceFlush(), port, nodes, rounds, cuts, settle);
    };
    const full = await runStored(0);
    const merge = await fullMergeCost(collector.store);
    const spread = await runStored(cutsPerRound);
    const samples = nodes * samplesPerPage * rounds;
    const scale = 1000 / nodes;
    console.log(`\nFleet: ${nodes} nodes × ${samplesPerPage} samples, ${rounds} measured rounds after one warm-up round\n`);
    console.log('| path | samples/s (wall) | samples per CPU-second | CPU per 15 s round | share of one core at 15 s, 1,000 nodes |');
    console.log('|---|---:|---:|---:|---:|');
    for (const [name, r] of [
      ['scrape: HTTP fetch → parse → map (records discarded)', alone],
      ['end to end: … → validate → insert into embedded ClickHouse; batches of pipeline.batch_rows (samples wait up to the interval: the default)', full],
      [`end to end, a batch cut every pipeline.batch_ms (${defaults.batch_ms} ms): ${cutsPerRound} a round (before samples could wait)`, spread],
    ] as const) {
      const perRound = r.cpuSec / rounds;
      console.log(
        `| ${name} | ${Math.round(rate(samples, r.wallMs)).toLocaleString('en-US')} | ${Math.round(samples / r.cpuSec).toLocaleString('en-US')} | ${perRound.toFixed(2)} s | ${((perRound / 15) * 100 * scale).toFixed(1)} % |`,
      );
    }
    console.log(
      `\ngpu_metrics rows stored per round: ${Math.round(full.rows / rounds).toLocaleString('en-US')} (CPU includes ClickHouse's own insert threads; process CPU, all threads)`,
    );
    if (withoutViews.length > 0) console.log(`Materialized views dropped for this run: ${withoutViews.join(', ')}`);
    // A full partition rewrites each row at every merge level, and a short run holds only the first
    // levels: they are estimated from the cost of one merge of the run's own parts. What the run's
    // gpu_metrics merges cost is taken out of the run's CPU by the same rate; the rollups' merges,
    // which collapse an hour's rows within the hour, stay in it as measured.
    const perRound = full.rows / rounds;
    const levels = Math.log(PARTITION_S / 15) / Math.log(MERGE_FAN_IN);
    const steadyMergeS = (perRound * levels * merge.usPerRow) / 1e6;
    const runMergeS = (merge.rowsMerged * merge.usPerRow) / 1e6;
    const restS = (full.cpuSec - runMergeS) / rounds;
    console.log(
      `One merge of the default run's ${merge.parts} gpu_metrics parts (${merge.rows.toLocaleString('en-US')} rows): ${merge.usPerRow.toFixed(2)} µs of CPU a row; the run's own merges had rewritten ${merge.rowsMerged.toLocaleString('en-US')} rows (≈ ${runMergeS.toFixed(2)} s). ` +
        `A partition of ${gpuMetrics.partitionBy} rewrites each row about log${MERGE_FAN_IN}(${Math.round(PARTITION_S / 15).toLocaleString('en-US')} inserts) ≈ ${levels.toFixed(1)} times: ` +
        `≈ ${steadyMergeS.toFixed(2)} s of gpu_metrics merges a round, plus ${restS.toFixed(2)} s for the rest (the rollups' merges included) → about ${(((steadyMergeS + restS) / 15) * 100 * scale).toFixed(1)} % of one core in steady state (an estimate)`,
    );
    for (const [name, r] of [
      ['batches of batch_rows', full],
      [`${cutsPerRound} batches a round`, spread],
    ] as const) {
      console.log(
        `End to end, ${name}: CPU per thread name over the ${rounds} measured rounds (s): ${r.threads.map(([n, s]) => `${n} ${s.toFixed(2)}`).join(', ')}`,
      );
    }
  } finally {
    await collector.shutdown();
    child.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--serve')) {
  // Child process: serve /node/<n> pages.
  const cache = new Map<number, string>();
  const server = createServer((req, res) => {
    const n = Number((req.url ?? '').split('/')[2] ?? 0);
    let body = cache.get(n);
    if (!body) cache.set(n, (body = dcgmPage(n)));
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(body);
  });
  server.listen(0, '127.0.0.1', () => process.send!((server.address() as AddressInfo).port));
} else {
  await main();
}
