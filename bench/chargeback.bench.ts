// Chargeback over a month: 300 tenants (each routed to the 3 nodes and the model of its backend), N
// requests (default 20M; the 100M with `node bench/chargeback.bench.ts 100000000`), 100 GPU
// nodes seen every minute, hourly spot price changes per zone.
// The data is generated inside ClickHouse (INSERT … SELECT FROM numbers()), which also fills the
// rollups through the materialized views. Timed side by side: the kept cost split (chargeback_rollup)
// built cold and refreshed after one more hour of traffic; the report from kept rows, from scratch
// (every hour split again from the hourly rollup) and from the raw table; and, as the raw path's
// floor, a plain GROUP BY of the raw rows into (hour, node, tenant, model).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configSchema } from '../collector/app/config-schema.ts';
import { chargeback, type ChargebackOptions } from '../collector/features/cost/chargeback.ts';
import { refreshChargebackRollup, withChargebackLock } from '../collector/features/cost/rollup-refresh.ts';
import { migrate } from '../collector/core/schema/migrations/index.ts';
import { openStore } from '../collector/core/store/store.ts';

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

// Nothing inserts while the bench runs: hours are settled as soon as they are computed.
const refresh = () => withChargebackLock(store, () => refreshChargebackRollup(store, { now: TO, settleMs: 0 }));
const cold = await refresh();
// One more hour of traffic (the month's last hour again, as late data): its day is recomputed.
const perHour = Math.round(ROWS / (DAYS * 24));
await store.command(`INSERT INTO llm_requests (ts, request_id, tenant, model, node, backend, status, input_tokens, output_tokens, duration_ms, prompt_eval_duration_ns, eval_duration_ns, source)
  SELECT ${ts(TO - 3_600_000)} + toIntervalMillisecond(number * ${Math.floor(3_600_000 / perHour)}), concat('late', toString(number)),
    concat('tenant-', toString(cityHash64(number) % ${TENANTS})) AS tenant_, ['llama3.2:3b','qwen2.5:7b','gemma3:12b','llama3.1:70b'][cityHash64(tenant_) % 4 + 1],
    concat('node-', toString((cityHash64(tenant_) + number % 3) % ${NODES})) AS node_, node_, 200, 300, 400, 2000, 50000000, 900000000, 'bench'
  FROM numbers(${perHour})`);
const hourRefresh = await refresh();
const clean = await refresh();

const best = async <T>(f: () => Promise<T>) => {
  const runs: number[] = [];
  let out: T | undefined;
  for (let i = 0; i < 3; i++) {
    const s = performance.now();
    out = await f();
    runs.push(performance.now() - s);
  }
  return { ms: Math.min(...runs), out: out! };
};
const report = (o: Partial<ChargebackOptions>) =>
  best(() => chargeback(store, { from: new Date(FROM), to: new Date(TO), idle: 'share-weighted', now: new Date(TO), settleMs: 0, ...o }));
const kept = await report({});
const scratch = await report({ compute: 'scratch' });
const raw = await report({ source: 'raw' });
const floor = await best(() =>
  store.command(`SELECT toStartOfHour(ts) AS hour, node, tenant, model, count(), countIf(error != '' OR status >= 400), sum(input_tokens), sum(output_tokens), sum(cached_tokens),
    sum(prompt_eval_duration_ns + eval_duration_ns), sum(load_duration_ns), sum(duration_ms)
  FROM llm_requests WHERE ts >= ${ts(FROM)} AND ts < ${ts(TO)} GROUP BY hour, node, tenant, model FORMAT Null`),
);
// Every path gives the same bill and the same charges to the cent.
const cents = (r: typeof kept.out) => JSON.stringify([r.totals, r.tenants.map((x) => [x.tenant, x.requests, x.usage_cost, x.idle_share, x.total])]);
for (const r of [scratch, raw]) if (cents(r.out) !== cents(kept.out)) throw new Error('reports differ');
await store.close();
rmSync(dir, { recursive: true, force: true });

const per100M = (ms: number) => `${(((ms / ROWS) * 1e8) / 1000).toFixed(2)} s`;
console.log(
  `\nchargeback for ${DAYS} days, ${TENANTS} tenants, ${NODES} nodes × 4 GPUs, ${ROWS.toLocaleString('en')} requests (${rollupRows.toLocaleString('en')} rollup rows); Node ${process.version}, ${os.cpus().length} cores`,
);
console.log(`setup ${setupS.toFixed(1)} s, requests generated and inserted in ${loadS.toFixed(1)} s\n`);
console.log('| what | time | per 100M raw rows | fleet cost | tenants |');
console.log('|---|---|---|---|---|');
console.log(`| refresh, cold: whole month kept (${cold.days} days) | ${cold.ms.toFixed(0)} ms | — | | |`);
console.log(`| refresh after one hour of new traffic (${hourRefresh.days} day) | ${hourRefresh.ms.toFixed(0)} ms | — | | |`);
console.log(`| refresh with nothing dirty (${clean.days} days) | ${clean.ms.toFixed(1)} ms | — | | |`);
console.log(`| report from kept rows (best of 3) | ${kept.ms.toFixed(0)} ms | — | $${kept.out.totals.fleet_cost} | ${kept.out.tenants.length} |`);
console.log(
  `| report from scratch, hourly rollup (best of 3) | ${scratch.ms.toFixed(0)} ms | — | $${scratch.out.totals.fleet_cost} | ${scratch.out.tenants.length} |`,
);
console.log(
  `| report from raw llm_requests (best of 3) | ${raw.ms.toFixed(0)} ms | ${per100M(raw.ms)} | $${raw.out.totals.fleet_cost} | ${raw.out.tenants.length} |`,
);
console.log(`| floor: GROUP BY of the raw rows (best of 3) | ${floor.ms.toFixed(0)} ms | ${per100M(floor.ms)} | | |`);
console.log(
  `\nraw report / floor: ${(raw.ms / floor.ms).toFixed(2)}; kept / scratch: ${(kept.ms / scratch.ms).toFixed(3)}; charges identical to the cent; reconciliation ${kept.out.totals.reconciliation}`,
);
