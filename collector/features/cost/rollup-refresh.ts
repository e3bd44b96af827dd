// Keeps chargeback_rollup fresh: the cost split of every complete hour, per hour and per day, so that
// a report over kept hours sums a few small rows instead of splitting every node-hour again.
//
// What is dirty: materialized views count the rows each input receives per hour (chargeback_inputs);
// a day is recomputed when a count of one of its hours differs from the count its kept rows were
// computed from (stored with them as `state` rows). Requests, up-time and model residency only change
// their own hour. Inventory and prices hold until the next observation or change, so a change at hour
// h marks h's day and every later day. An insert reaches its table and its views separately, not
// atomically: an hour whose last insert is younger than the settle time is recomputed but kept as
// unsettled, so the next refresh recomputes it once more, when every part of that insert is visible.
//
// A day is written whole: its hourly and daily rows and its state go into a staging table, which
// then replaces the day's partition in one step, so a reader sees the old day or the new one.
import { chTime } from '../../core/schema/columns.ts';
import type { Store } from '../../core/store/store.ts';
import { CHARGEBACK_ROLLUPS } from '../../core/schema/chargeback-rollups.ts';
import { USAGE_COLUMNS } from './chargeback-sql.ts';
import { computeStages, DAY, HOUR, Scratch, secs, type Params } from './stages.ts';

/** Days recomputed by one batch of statements (a cold build of a long history goes in batches). */
const DAYS_PER_BATCH = 31;
export const DEFAULT_SETTLE_MS = 10_000;

export interface RefreshOptions {
  /** Hours that ended before this instant are kept (epoch ms). */
  now: number;
  /** An hour with an insert younger than this is recomputed again at the next refresh. */
  settleMs?: number;
}

export interface RefreshResult {
  /** Days recomputed (0: nothing was dirty). */
  days: number;
  ms: number;
}

const locks = new WeakMap<Store, Promise<unknown>>();
/** Per store: the input counts a refresh left everything settled at (the fast path's key). */
const cleanAt = new WeakMap<Store, string>();

/**
 * Runs `fn` alone among the chargeback work on this store: a refresh and the report reading after it
 * never interleave with another refresh in this process.
 */
export function withChargebackLock<T>(store: Store, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(store) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  // The caller gets run's failure; the lock only waits for it to settle before the next one starts.
  locks.set(
    store,
    run.catch(() => undefined),
  );
  return run;
}

const rollupDef = CHARGEBACK_ROLLUPS.find((r) => r.name === 'chargeback_rollup')!;
const dayId = (ms: number) => new Date(ms).toISOString().slice(0, 10).replace(/-/g, '');

interface DirtyDay {
  day: string;
  inputs: string[];
}

/** Days with an hour whose input counts differ from the kept state, or that were not settled. */
async function dirtyDays(store: Store, nowHour: number): Promise<number[]> {
  const params = { now_hour: secs(nowHour) };
  const dirty = await store.queryRows<DirtyDay>(
    `SELECT toString(toDate(c.hour)) AS day, groupUniqArray(c.input) AS inputs
FROM (SELECT hour, input, sum(rows) AS n FROM chargeback_inputs WHERE hour < toDateTime({now_hour:UInt32}, 'UTC') GROUP BY hour, input) AS c
LEFT JOIN (SELECT hour, input, input_rows, settled FROM chargeback_rollup WHERE kind = 'state') AS s ON s.hour = c.hour AND s.input = c.input
WHERE s.hour IS NULL OR s.input_rows != c.n OR s.settled = 0
GROUP BY day ORDER BY day
SETTINGS join_use_nulls = 1`,
    params,
  );
  const days = new Set(dirty.map((d) => Date.parse(`${d.day}T00:00:00Z`)));
  // Inventory and prices hold until the next change: every later day with inputs is dirty too.
  const lasting = dirty.filter((d) => d.inputs.some((i) => i === 'nodes' || i === 'prices')).map((d) => Date.parse(`${d.day}T00:00:00Z`));
  if (lasting.length > 0) {
    const later = await store.queryRows<{ day: string }>(
      `SELECT DISTINCT toString(toDate(hour)) AS day FROM chargeback_inputs WHERE hour >= toDateTime({since:UInt32}, 'UTC') AND hour < toDateTime({now_hour:UInt32}, 'UTC')`,
      { ...params, since: secs(Math.min(...lasting)) },
    );
    for (const d of later) days.add(Date.parse(`${d.day}T00:00:00Z`));
  }
  return [...days].sort((a, b) => a - b);
}

/** Recomputes the dirty days of chargeback_rollup. Call it under withChargebackLock. */
export async function refreshChargebackRollup(store: Store, o: RefreshOptions): Promise<RefreshResult> {
  const started = performance.now();
  const nowHour = Math.floor(o.now / HOUR) * HOUR;
  // Fast path: counts only grow (and every insert moves last_insert), so if their total and the last
  // insert are what they were when a refresh left every hour settled, nothing can be dirty.
  const [sig] = await store.queryRows<{ n: string; last: string }>(
    `SELECT toString(sum(rows)) AS n, toString(max(last_insert)) AS last FROM chargeback_inputs WHERE hour < toDateTime({now_hour:UInt32}, 'UTC')`,
    { now_hour: secs(nowHour) },
  );
  const key = `${nowHour}|${sig?.n}|${sig?.last}`;
  if (cleanAt.get(store) === key) return { days: 0, ms: performance.now() - started };
  const days = await dirtyDays(store, nowHour);
  for (let i = 0; i < days.length; i += DAYS_PER_BATCH) await rebuildDays(store, days.slice(i, i + DAYS_PER_BATCH), nowHour, o.settleMs ?? DEFAULT_SETTLE_MS);
  const [unsettled] = await store.queryRows<{ n: string }>(`SELECT count() AS n FROM chargeback_rollup WHERE kind = 'state' AND settled = 0`);
  if (Number(unsettled?.n ?? 0) === 0) cleanAt.set(store, key);
  else cleanAt.delete(store);
  return { days: days.length, ms: performance.now() - started };
}

async function rebuildDays(store: Store, days: readonly number[], nowHour: number, settleMs: number): Promise<void> {
  const scratch = new Scratch(store);
  const stage = scratch.own(scratch.name('stage'));
  // Day starts as epoch seconds: a literal list that needs no quoting.
  const hours = `toUInt32(toStartOfDay(hour)) IN (${days.map(secs).join(', ')}) AND hour < toDateTime({now_hour:UInt32}, 'UTC')`;
  const params: Params = {
    from: chTime(days[0]!),
    to: chTime(Math.min(days[days.length - 1]! + DAY, nowHour)),
    now_hour: secs(nowHour),
    settle_ms: settleMs,
  };
  try {
    // Same columns, partitioning and order as the kept table (needed to replace its partitions), but
    // a plain local MergeTree: in a cluster the kept table is replicated, the staging table is not.
    await store.command(`CREATE TABLE ${stage} AS chargeback_rollup ENGINE = MergeTree PARTITION BY ${rollupDef.partitionBy} ORDER BY (${rollupDef.orderBy})`);
    // The counts are read before the inputs, so whatever the computation sees is at least that much.
    await store.command(
      `INSERT INTO ${stage} (kind, hour, input, input_rows, settled)
SELECT 'state', hour, input, sum(rows), toUInt8(max(last_insert) < now64(3) - toIntervalMillisecond({settle_ms:UInt32}))
FROM chargeback_inputs WHERE ${hours} GROUP BY hour, input`,
      undefined,
      params,
    );
    const st = await computeStages(store, scratch, { hours, source: 'rollup' }, params);
    const nodeCols =
      'node, pool, tier, devices, up_minutes, resident_minutes, device_minutes, cost, used_cost, idle_resident, fallback_minutes, unpriced_minutes';
    await store.command(`INSERT INTO ${stage} (kind, hour, ${nodeCols}) SELECT 'node_hour', hour, ${nodeCols} FROM ${st.nodes}`);
    await store.command(
      `INSERT INTO ${stage} (kind, hour, node, pool, tier, device_minutes, cost, used_cost, idle_resident, fallback_minutes, unpriced_minutes)
SELECT 'node_day', toStartOfDay(hour) AS day_start, node, pool, tier, sum(device_minutes), sum(cost), sum(used_cost), sum(idle_resident), sum(fallback_minutes), sum(unpriced_minutes)
FROM ${st.nodes} GROUP BY day_start, node, pool, tier`,
    );
    await store.command(`INSERT INTO ${stage} (kind, hour, ${USAGE_COLUMNS}) SELECT 'usage_hour', hour, ${USAGE_COLUMNS} FROM ${st.split}`);
    await store.command(
      `INSERT INTO ${stage} (kind, hour, ${USAGE_COLUMNS})
SELECT 'usage_day', toStartOfDay(hour) AS day_start, node, tenant, model, pool, tier, priced, groupBitOr(bases), sum(requests), sum(errors),
  sum(input_tokens), sum(output_tokens), sum(cached_tokens), sum(gpu_seconds), sum(load_seconds), sum(usage_cost)
FROM ${st.split} GROUP BY day_start, node, tenant, model, pool, tier, priced`,
    );
    for (const d of days) await store.command(`ALTER TABLE chargeback_rollup REPLACE PARTITION ID '${dayId(d)}' FROM ${stage}`);
  } finally {
    await scratch.drop();
  }
}
