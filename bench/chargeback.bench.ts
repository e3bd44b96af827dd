// Chargeback over a month: 300 tenants (each routed to the 3 nodes and the model of its backend), N
// requests (default 20M; the 100M with `node bench/chargeback.bench.ts 100000000`), 100 GPU
// nodes seen every minute, hourly spot price changes per zone.
// The data is generated inside ClickHouse (INSERT … SELECT FROM numbers()), which also fills the
// rollups through the materialized views; then the same report is timed from the raw table and from
// the rollups.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configSchema } from '../collector/config/schema.ts';
import { chargeback } from '../collector/cost/chargeback.ts';
import { migrate } from '../collector/schema/migrations.ts';
import { openStore } from '../collector/store/store.ts';

const ROWS = Number(process.argv[2] ?? 20_000_000);
const NODES = 100;
const TENANTS = 300;
const FROM = Date.UTC(2026, 9, 1);
const DAYS = 30;
const TO = FROM + DAYS * 86_400_000;
const ts = (ms: number) => `toDateTime64(${ms / 1000}, 3, 'UTC')`;

const dir = mkdtempSync(path.join(os.tmpdir(), 'llmeter-bench-cb-'));
const store = await openStore(configSchema.parse({ store: { data_dir: dir, ttl_days: { raw: 0, reference: 0, rollup: 0 } } }).store);
await migrate(store, store.ddlTarget());

let t = performance.now();
await store.command(`INSERT INTO nodes (ts, node, instance_type, provider, region, zone, capacity_type, gpu_count, pool, tier)
  SELECT ${ts(FROM - 60_000)}, concat('node-', toString(number)), 'g5.12xlarge', 'aws', 'us-east-1', concat('us-east-1', ['a','b','c'][number % 3 + 1]), if(number % 2 = 0, 'spot', 'on_demand'), 4, concat('pool-', toString(number % 4)), 'premium'
  FROM numbers(${NODES})`);
// Every node up every minute of the month (its inventory observations feed node_hours).
await store.command(`INSERT INTO nodes (ts, node, instance_type, provider, region, zone, capacity_type, gpu_count, pool, tier)
  SELECT ${ts(FROM)} + toIntervalMinute(intDiv(number, ${NODES})), concat('node-', toString(number % ${NODES})), 'g5.12xlarge', 'aws', 'us-east-1', concat('us-east-1', ['a','b','c'][number % ${NODES} % 3 + 1]), if(number % ${NODES} % 2 = 0, 'spot', 'on_demand'), 4, concat('pool-', toString(number % 4)), 'premium'
  FROM numbers(${NODES * DAYS * 1440})`);
// Hourly spot price changes per zone, and on-demand.
await store.command(`INSERT INTO price_points (effective_from, provider, region, zone, instance_type, capacity_type, usd_per_hour, source, observed_at)
  SELECT ${ts(FROM - 3_600_000)} + toIntervalHour(intDiv(number, 3)), 'aws', 'us-east-1', concat('us-east-1', ['a','b','c'][number % 3 + 1]), 'g5.12xlarge', 'spot',
    toDecimal64(1.5 + (cityHash64(number) % 1000) / 1000, 9), 'bench', now64(3)
  FROM numbers(${3 * (DAYS * 24 + 1)})`);
await store.command(`INSERT INTO price_points (effective_from, provider, region, zone, instance_type, capacity_type, usd_per_hour, source, observed_at)
  VALUES (${ts(FROM - 3_600_000)}, 'aws', 'us-east-1', '', 'g5.12xlarge', 'on_demand', 5.672, 'bench', now64(3))`);
const setupS = (performance.now() - t) / 1000;

t = performance.now();
await store.command(`INSERT INTO llm_requests (ts, request_id, tenant, model, node, backend, status, input_tokens, output_tokens, duration_ms, prompt_eval_duration_ns, eval_duration_ns, load_duration_ns, source)
  SELECT ${ts(FROM)} + toIntervalMillisecond(intDiv(number * ${Math.floor((TO - FROM) / ROWS)}, 1)),
    concat('r', toString(number)), concat('tenant-', toString(cityHash64(number) % ${TENANTS})) AS tenant_, ['llama3.2:3b','qwen2.5:7b','gemma3:12b','llama3.1:70b'][cityHash64(tenant_) % 4 + 1],
    -- Each tenant's traffic lands on the 3 nodes of its pool's backend (tenants are routed, not sprayed).
    concat('node-', toString((cityHash64(tenant_) + number % 3) % ${NODES})) AS node_, node_, 200, 100 + number % 500, 50 + number % 900, 1000 + number % 4000,
    (20 + number % 200) * 1000000, (500 + number % 3000) * 1000000, if(number % 1000 = 0, 2000000000, 0), 'bench'
  FROM numbers(${ROWS})
  SETTINGS max_insert_threads = 2`);
const loadS = (performance.now() - t) / 1000;
const rollupRows = Number((await store.queryRows<{ n: string }>('SELECT count() AS n FROM llm_requests_hourly'))[0]!.n);

const timed = async (source: 'raw' | 'rollup') => {
  const runs: number[] = [];
  let rep;
  for (let i = 0; i < 3; i++) {
    const s = performance.now();
    rep = await chargeback(store, { from: new Date(FROM), to: new Date(TO), idle: 'share-weighted', source });
    runs.push(performance.now() - s);
  }
  return { ms: Math.min(...runs), rep: rep! };
};
const raw = await timed('raw');
const roll = await timed('rollup');
if (raw.rep.totals.fleet_cost !== roll.rep.totals.fleet_cost || raw.rep.tenants.length !== roll.rep.tenants.length) throw new Error('raw and rollup reports differ');
await store.close();
rmSync(dir, { recursive: true, force: true });

console.log(`\nchargeback for ${DAYS} days, ${TENANTS} tenants, ${NODES} nodes × 4 GPUs, ${ROWS.toLocaleString('en')} requests (${rollupRows.toLocaleString('en')} rollup rows); Node ${process.version}, ${os.cpus().length} cores`);
console.log(`setup ${setupS.toFixed(1)} s, requests generated and inserted in ${loadS.toFixed(1)} s\n`);
console.log('| source | report time (best of 3) | per 100M raw rows | fleet cost | tenants |');
console.log('|---|---|---|---|---|');
console.log(`| raw llm_requests | ${raw.ms.toFixed(0)} ms | ${((raw.ms / ROWS) * 1e8 / 1000).toFixed(2)} s | $${raw.rep.totals.fleet_cost} | ${raw.rep.tenants.length} |`);
console.log(`| llm_requests_hourly rollup | ${roll.ms.toFixed(0)} ms | — | $${roll.rep.totals.fleet_cost} | ${roll.rep.tenants.length} |`);
console.log(`\nrollup / raw time: ${(roll.ms / raw.ms).toFixed(3)}; reconciliation ${roll.rep.totals.reconciliation}`);
