// As-of cost of 1,000 nodes over a 30-day month with hourly price changes, in ClickHouse (embedded
// chDB), against the peer: the same segments computed in JavaScript (collector/features/cost/asof.ts) over
// the same points already in memory. Reports time and rows read by ClickHouse.
// Run: npm run bench:prices    (or: node bench/prices.bench.ts [nodes] [keys])
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configSchema } from '../collector/app/config-schema.ts';
import { costOver, seriesFor, type AsofPoint, type NodeSpec } from '../collector/features/cost/asof.ts';
import { nodeCostSql } from '../collector/features/cost/asof-sql.ts';
import { migrate } from '../collector/core/schema/migrations/index.ts';
import { openStore } from '../collector/core/store/store.ts';

const NODES = Number(process.argv[2] ?? 1000);
const KEYS = Number(process.argv[3] ?? NODES);
const MONTH_START = Date.UTC(2026, 2, 1);
const HOURS = 30 * 24;
const RUNS = Number(process.env.RUNS ?? 5);

const dir = mkdtempSync(path.join(os.tmpdir(), 'llmeter-bench-prices-'));
const config = configSchema.parse({ store: { data_dir: dir, ttl_days: { raw: 0, reference: 0, rollup: 0 } } });
const store = await openStore(config.store);
await migrate(store, store.ddlTarget());

// KEYS spot series (one instance type per key, zone us-east-1a), a change every hour from a day
// before the month to its end; prices in 1e-6 steps so every segment has a non-trivial decimal.
const pointsPerKey = HOURS + 24;
const t0 = performance.now();
await store.command(`
  INSERT INTO price_points (effective_from, provider, region, zone, instance_type, capacity_type, os, usd_per_hour, source, observed_at)
  SELECT fromUnixTimestamp64Milli(toInt64(${MONTH_START - 24 * 3_600_000} + (number % ${pointsPerKey}) * 3600000), 'UTC'),
         'aws', 'us-east-1', 'us-east-1a', concat('type-', toString(intDiv(number, ${pointsPerKey}))), 'spot', 'linux',
         toDecimal64(20 + ((number * 7919) % 1000000) / 1000000, 9), 'aws-spot', now64(3)
  FROM numbers(${KEYS * pointsPerKey})`);
await store.command('OPTIMIZE TABLE price_points FINAL');
const loadMs = performance.now() - t0;
const totalRows = KEYS * pointsPerKey;

const nodesSql = `SELECT concat('node-', toString(number)) AS node, 'aws' AS provider, concat('type-', toString(number % ${KEYS})) AS instance_type,
  'us-east-1' AS region, 'us-east-1a' AS zone, 'spot' AS capacity_type, 'linux' AS os,
  fromUnixTimestamp64Milli(toInt64(${MONTH_START}), 'UTC') AS t_from, fromUnixTimestamp64Milli(toInt64(${MONTH_START + HOURS * 3_600_000}), 'UTC') AS t_to
  FROM numbers(${NODES})`;
const sql = nodeCostSql(nodesSql);

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const a = performance.now();
  const value = await fn();
  return { ms: performance.now() - a, value };
}

// ClickHouse: best and median of RUNS; rows and bytes read from the JSON answer's statistics.
const sqlTimes: number[] = [];
let sqlRows: { node: string; cost: string }[] = [];
let stats = { rows_read: 0, bytes_read: 0, elapsed: 0 };
for (let i = 0; i < RUNS; i++) {
  const r = await timed(async () => {
    const rs = await store.client.query({ query: sql, format: 'JSON', clickhouse_settings: { output_format_json_quote_decimals: 1 } });
    return rs.json<{ node: string; cost: string }>();
  });
  sqlTimes.push(r.ms);
  sqlRows = r.value.data;
  stats = (r.value as unknown as { statistics: typeof stats }).statistics;
}
const readRows = stats.rows_read.toLocaleString('en-US');
const readBytes = `${(stats.bytes_read / 1e6).toFixed(1)} MB`;

// Peer: the JavaScript as-of over the same points, loaded once (load time not counted).
const raw = await store.queryRows<{ instance_type: string; t: string; p: string }>(
  'SELECT instance_type, toString(toUnixTimestamp64Milli(effective_from)) AS t, toString(usd_per_hour) AS p FROM price_points FINAL',
);
const byType = new Map<string, AsofPoint[]>();
for (const r of raw) {
  let list = byType.get(r.instance_type);
  if (!list) byType.set(r.instance_type, (list = []));
  list.push({
    provider: 'aws',
    instance_type: r.instance_type,
    region: 'us-east-1',
    zone: 'us-east-1a',
    capacity_type: 'spot',
    os: 'linux',
    effective_from: Number(r.t),
    usd_per_hour: r.p,
    source: 'aws-spot',
  });
}
const jsTimes: number[] = [];
let jsCosts = new Map<string, string>();
for (let i = 0; i < RUNS; i++) {
  const a = performance.now();
  const out = new Map<string, string>();
  for (let n = 0; n < NODES; n++) {
    const node: NodeSpec = { provider: 'aws', instance_type: `type-${n % KEYS}`, region: 'us-east-1', zone: 'us-east-1a', capacity_type: 'spot' };
    out.set(`node-${n}`, costOver(seriesFor(node, byType.get(node.instance_type) ?? []), MONTH_START, MONTH_START + HOURS * 3_600_000).cost);
  }
  jsTimes.push(performance.now() - a);
  jsCosts = out;
}
const mismatches = sqlRows.filter((r) => jsCosts.get(r.node) !== r.cost).length;

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const min = (xs: number[]) => Math.min(...xs);
const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
console.log(
  `as-of cost: ${NODES} nodes × 30 days, hourly changes, ${KEYS} price series, ${totalRows.toLocaleString('en-US')} price rows (loaded in ${fmt(loadMs)})`,
);
console.log('');
console.log('| path | best | median | rows read | bytes read | vs ClickHouse |');
console.log('|---|---|---|---|---|---|');
console.log(`| ClickHouse (nodeCostSql, chDB) | ${fmt(min(sqlTimes))} | ${fmt(med(sqlTimes))} | ${readRows} | ${readBytes} | 1.00× |`);
console.log(`| JavaScript asof.ts (points in memory) | ${fmt(min(jsTimes))} | ${fmt(med(jsTimes))} | – | – | ${(med(jsTimes) / med(sqlTimes)).toFixed(2)}× |`);
console.log('');
console.log(
  `nodes priced: ${sqlRows.length}/${NODES}; costs that differ between the two paths: ${mismatches}; goal < 1 s: ${med(sqlTimes) < 1000 ? 'met' : 'NOT met'}`,
);

await store.close();
rmSync(dir, { recursive: true, force: true });
if (mismatches > 0) process.exitCode = 1;
