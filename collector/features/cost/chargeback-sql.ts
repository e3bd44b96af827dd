// The cost engine's SQL. Node cost comes from as-of prices over the minutes each node was seen up;
// each node-hour's cost is split between tenants by the GPU-seconds their requests used on that node
// (scaled down when concurrent requests add up to more than the node's capacity, so no GPU-second is
// sold twice); the remainder is idle, shared or not by the report's policy. Money stays
// Decimal128(20) from price to line: no float ever carries dollars.
//
// Every hour is computed from its own inputs only, so an hour's result is the same whether it is
// computed for one report or kept in the chargeback_rollup table (rollup-refresh.ts): the stages
// below take a condition on `hour` that says which hours of the period to compute.

import { segmentsSql } from './asof-sql.ts';

export type IdlePolicy = 'separate' | 'share-weighted' | 'share-even';
export type IdleScope = 'node' | 'pool' | 'fleet';
export const IDLE_SCOPES: readonly IdleScope[] = ['node', 'pool', 'fleet'];
export type GroupDim = 'model' | 'node' | 'pool' | 'tier' | 'day';
export const GROUP_DIMS: readonly GroupDim[] = ['model', 'node', 'pool', 'tier', 'day'];

/** How a line's GPU-seconds were measured, as bits of `bases`. */
export const BASES = [
  ['measured', 1],
  ['wall_clock', 2],
  ['tokens', 4],
] as const;
const TOKENS_BASIS = 4;

export interface ChargebackQuery {
  idle: IdlePolicy;
  scope: IdleScope;
  groupBy: readonly GroupDim[];
}

// Parameters of every stage: {from:DateTime64(3)}, {to:DateTime64(3)} — the period, half-open
// [from, to). Up-time is counted inside the period only; requests are counted by the hour they
// started in, for every hour the period touches.
const FROM = '{from:DateTime64(3)}';
const TO = '{to:DateTime64(3)}';
// The hours a report reads from chargeback_rollup, [kept_from, kept_to), and the whole days among
// them, [day_from, day_to), read from the daily rows (epoch seconds, so no time zone is involved).
export const KEPT_FROM = `toDateTime({kept_from:UInt32}, 'UTC')`;
export const KEPT_TO = `toDateTime({kept_to:UInt32}, 'UTC')`;
const DAY_FROM = `toDateTime({day_from:UInt32}, 'UTC')`;
const DAY_TO = `toDateTime({day_to:UInt32}, 'UTC')`;

/**
 * Stage 1: every node-hour of the period with its up minutes (a bitmask of minutes, node_hours) and
 * the node's attributes in that hour: those of its last inventory observation up to the end of the
 * hour (node_inventory_hourly, as of the hour). A node-hour before the node's first inventory is not
 * part of the fleet (its requests are unattributed). `price_key` names the attributes a price depends
 * on: node-hours with the same key are priced from the same price segments (stage 2).
 */
export function nodeUpStageSql(hours: string): string {
  const window = (bound: string) => `toUInt8(greatest(0, least(60, ceil(dateDiff('second', h.hour, ${bound}) / 60))))`;
  const attr = (i: number) => `tupleElement(n.info, ${i})`;
  return `WITH
inventory AS (
  SELECT node, hour AS info_hour, argMaxMerge(info) AS info FROM node_inventory_hourly WHERE hour < ${TO} GROUP BY node, hour
),
departures AS (
  -- A node that left (node_down, a preemption, a spot interruption that stops it) stops costing at
  -- the event: minutes that start at or after it are not up in its hour.
  SELECT node, toDateTime(toStartOfHour(left_at), 'UTC') AS hour, min(left_at) AS at
  FROM (
    SELECT node, coalesce(action_at, ts) AS left_at FROM capacity_events FINAL
    WHERE node != '' AND (kind IN ('node_down', 'preemption') OR (kind = 'spot_interruption' AND action IN ('', 'terminate', 'stop', 'hibernate')))
  )
  WHERE left_at >= toStartOfHour(${FROM}) AND left_at < ${TO}
  GROUP BY node, hour
),
hours AS (
  -- The period may start or end inside an hour: keep only the minutes in [from, to).
  SELECT h.node AS node, h.hour AS hour,
    bitAnd(bitAnd(h.mask, if(${window(TO)} > ${window(FROM)},
      bitShiftLeft(toUInt64(1), ${window(TO)}) - bitShiftLeft(toUInt64(1), ${window(FROM)}), toUInt64(0))),
      if(d.at IS NULL, toUInt64(-1), bitShiftLeft(toUInt64(1), ${window('d.at')}) - 1)) AS mask
  FROM (
    SELECT node, hour, groupBitOr(minutes) AS mask FROM node_hours
    WHERE hour >= toStartOfHour(${FROM}) AND hour < ${TO} AND (${hours}) GROUP BY node, hour
  ) AS h
  LEFT JOIN departures AS d ON d.node = h.node AND d.hour = h.hour
)
SELECT hs.node AS node, hs.hour AS hour, hs.mask AS mask, ${attr(1)} AS instance_type, ${attr(2)} AS provider, ${attr(3)} AS region,
  ${attr(4)} AS zone, ${attr(5)} AS capacity_type, greatest(${attr(6)}, 1) AS devices, ${attr(7)} AS pool, ${attr(8)} AS tier,
  toString(cityHash64(provider, instance_type, region, zone, capacity_type)) AS price_key
FROM hours AS hs ASOF INNER JOIN inventory AS n ON n.node = hs.node AND hs.hour >= n.info_hour
WHERE hs.mask != 0
SETTINGS join_use_nulls = 1`;
}

/**
 * Stage 2: the price segments of every price key over the hours it is up, by the one as-of rule
 * (asof-sql.ts, as \`llmeter prices at\` answers): each segment is a price in force over a time range.
 */
export function priceSegmentsStageSql(up: string): string {
  return segmentsSql(`SELECT price_key AS node, any(provider) AS provider, any(instance_type) AS instance_type, any(region) AS region, any(zone) AS zone,
  any(capacity_type) AS capacity_type, 'linux' AS os, toDateTime64(min(hour), 3, 'UTC') AS t_from, toDateTime64(max(hour), 3, 'UTC') + toIntervalHour(1) AS t_to
FROM ${up} GROUP BY price_key`);
}

/**
 * Stage 3: every node-hour with its cost. A minute costs the price in force at its start / 60: the
 * minutes of each segment are those whose start lies in it, so a price change at 10:30 makes 10:00–
 * 10:30 cost the old price and 10:30–11:00 the new one. Up minutes no segment covers are unpriced.
 */
export function nodeHourStageSql(up: string, segments: string, hours: string): string {
  const edge = (t: string) => `toUInt8(greatest(0, least(60, ceil(dateDiff('millisecond', toDateTime64(u.hour, 3, 'UTC'), ${t}) / 60000))))`;
  return `WITH
segment_hours AS (
  SELECT node AS price_key, seg_from, seg_to, usd_per_hour, fallback,
    arrayJoin(arrayMap(i -> toDateTime(toStartOfHour(seg_from), 'UTC') + toIntervalHour(i),
      range(toUInt32(dateDiff('hour', toStartOfHour(seg_from), toStartOfHour(seg_to - toIntervalMillisecond(1))) + 1)))) AS hour
  FROM ${segments}
),
covered AS (
  SELECT u.node AS node, u.hour AS hour, s.usd_per_hour AS usd_per_hour, s.fallback AS fallback,
    bitCount(bitAnd(u.mask, if(${edge('s.seg_to')} > ${edge('s.seg_from')},
      bitShiftLeft(toUInt64(1), ${edge('s.seg_to')}) - bitShiftLeft(toUInt64(1), ${edge('s.seg_from')}), toUInt64(0)))) AS minutes
  FROM ${up} AS u INNER JOIN segment_hours AS s ON s.price_key = u.price_key AND s.hour = u.hour
),
priced AS (
  SELECT node, hour, sum(toDecimal128(usd_per_hour, 20) * minutes / 60) AS cost, toUInt32(sumIf(minutes, fallback)) AS fallback_minutes,
    toUInt32(sum(minutes)) AS priced_minutes
  FROM covered GROUP BY node, hour
),
resident AS (
  -- A model is resident when it holds memory: on a CPU-only node Ollama reports its size with no VRAM.
  SELECT hour, node, uniqExact(toStartOfMinute(ts)) AS resident_minutes
  FROM (SELECT toStartOfHour(ts) AS hour, node, ts FROM model_states WHERE ts >= ${FROM} AND ts < ${TO} AND (size_bytes > 0 OR size_vram_bytes > 0) AND node != '')
  WHERE ${hours}
  GROUP BY hour, node
)
SELECT u.hour AS hour, u.node AS node, toUInt32(u.devices) AS devices, u.pool AS pool, u.tier AS tier, toUInt32(bitCount(u.mask)) AS up_minutes,
  ifNull(p.cost, toDecimal128(0, 20)) AS cost, ifNull(p.fallback_minutes, toUInt32(0)) AS fallback_minutes,
  toUInt32(up_minutes - ifNull(p.priced_minutes, 0)) AS unpriced_minutes,
  toUInt32(ifNull(r.resident_minutes, 0)) AS resident_minutes
FROM ${up} AS u
LEFT JOIN priced AS p ON p.hour = u.hour AND p.node = u.node
LEFT JOIN resident AS r ON r.hour = u.hour AND r.node = u.node
SETTINGS join_use_nulls = 1`;
}

const USAGE_FROM_ROLLUP = (hours: string) => `
  SELECT hour, node, tenant, model,
    sum(requests) AS n_requests, sum(errors) AS n_errors,
    sum(input_tokens) AS tin, sum(output_tokens) AS tout, sum(cached_tokens) AS tcached,
    sum(prompt_eval_ns + eval_ns) / 1e9 AS measured_s, sum(load_ns) / 1e9 AS load_s, sum(duration_ms_sum) / 1000 AS wall_s
  FROM llm_requests_hourly
  WHERE hour >= toStartOfHour(${FROM}) AND hour < ${TO} AND (${hours})
  GROUP BY hour, node, tenant, model`;

const USAGE_FROM_RAW = (hours: string) => `
  SELECT toStartOfHour(ts) AS hour, node, tenant, model,
    count() AS n_requests, countIf(error != '' OR status >= 400) AS n_errors,
    sum(input_tokens) AS tin, sum(output_tokens) AS tout, sum(cached_tokens) AS tcached,
    sum(prompt_eval_duration_ns + eval_duration_ns) / 1e9 AS measured_s, sum(load_duration_ns) / 1e9 AS load_s, sum(duration_ms) / 1000 AS wall_s
  FROM llm_requests
  -- Whole hours, as in the rollup: an hour the period touches counts all its requests.
  WHERE ts >= toStartOfHour(${FROM}) AND ts < ${TO} + toIntervalHour(1) AND toStartOfHour(ts) < ${TO} AND (${hours})
  GROUP BY hour, node, tenant, model`;

/** Stage 2: usage per (hour, node, tenant, model), from the hourly rollup or the raw table (same numbers), with its basis and known seconds. */
export function usageStageSql(source: 'rollup' | 'raw', hours: string): string {
  return `SELECT hour, node, tenant, model, n_requests, n_errors, tin, tout, tcached, load_s, tin + tout AS tokens,
  toUInt8(multiIf(measured_s > 0, 1, wall_s > 0, 2, ${TOKENS_BASIS})) AS basis,
  -- Cold-start load time is charged to the request that caused it (it is in that request's record).
  multiIf(measured_s > 0, measured_s + load_s, wall_s > 0, wall_s, 0) AS known_s
FROM (${source === 'rollup' ? USAGE_FROM_ROLLUP(hours) : USAGE_FROM_RAW(hours)}
)`;
}

/**
 * Stage 3: the split. Per node-hour, from sums over its usage rows (a GROUP BY and one join, not
 * window functions): the seconds the token-basis rows get and the overlap scale; then each usage
 * row's GPU-seconds and cost. `priced` = 0 when the node-hour is unknown.
 */
export function splitStageSql(usage: string, nodeHour: string): string {
  return `WITH
per_node_hour AS (
  SELECT nh.hour AS hour, nh.node AS node, nh.pool AS pool, nh.tier AS tier, nh.cost AS nh_cost,
    nh.devices * nh.up_minutes * 60 AS capacity_s,
    a.a_known_s AS nh_known_s, a.a_known_tokens AS nh_known_tokens, a.a_tokens AS nh_tokens,
    -- Requests with no duration at all are given seconds by token share: at the node-hour's measured
    -- seconds per token, or, when nothing on the node-hour was measured, the node's whole capacity.
    nh_known_s + if(nh_known_tokens > 0, (nh_tokens - nh_known_tokens) * nh_known_s / nh_known_tokens, if(nh_tokens > 0, capacity_s, 0)) AS nh_used_s,
    if(nh_used_s > capacity_s, capacity_s / nh_used_s, 1) AS overlap_scale
  FROM ${nodeHour} AS nh
  INNER JOIN (
    SELECT hour, node, sumIf(known_s, basis != ${TOKENS_BASIS}) AS a_known_s, sumIf(tokens, basis != ${TOKENS_BASIS}) AS a_known_tokens, sum(tokens) AS a_tokens
    FROM ${usage} GROUP BY hour, node
  ) AS a ON a.hour = nh.hour AND a.node = nh.node
)
SELECT u.hour AS hour, u.node AS node, u.tenant AS tenant, u.model AS model,
  toUInt8(k.hour IS NOT NULL) AS priced, ifNull(k.pool, '') AS pool, ifNull(k.tier, '') AS tier, u.basis AS bases,
  u.n_requests AS requests, u.n_errors AS errors, u.tin AS input_tokens, u.tout AS output_tokens, u.tcached AS cached_tokens, u.load_s AS load_seconds,
  if(priced = 1,
     if(u.basis = ${TOKENS_BASIS},
        if(k.nh_known_tokens > 0, u.tokens * k.nh_known_s / k.nh_known_tokens, if(k.nh_tokens > 0, u.tokens / k.nh_tokens * k.capacity_s, 0)),
        u.known_s) * k.overlap_scale,
     0) AS gpu_s,
  toFloat64(ifNull(gpu_s, 0)) AS gpu_seconds,
  -- Money × a share: the share as Decimal(12) keeps the product inside Decimal128 (scale 32, up to
  -- $999,999 per node-hour) and is then brought back to scale 20. (multiplyDecimal() is exact too, but
  -- about 700 times slower.)
  toDecimal128(ifNull(k.nh_cost, toDecimal128(0, 20)) * toDecimal128(if(priced = 1 AND k.capacity_s > 0, gpu_seconds / k.capacity_s, 0), 12), 20) AS usage_cost
FROM ${usage} AS u
LEFT JOIN per_node_hour AS k ON k.hour = u.hour AND k.node = u.node
SETTINGS join_use_nulls = 1`;
}

/** Node-hours with the usage cost charged on them and the idle part during which a model sat resident. */
export function nodeResultSql(nodeHour: string, split: string): string {
  return `SELECT nh.hour AS hour, nh.node AS node, nh.pool AS pool, nh.tier AS tier, nh.devices AS devices, nh.up_minutes AS up_minutes,
  nh.resident_minutes AS resident_minutes, toUInt64(nh.devices * nh.up_minutes) AS device_minutes, nh.cost AS cost,
  ifNull(us.used, toDecimal128(0, 20)) AS used_cost,
  toDecimal128((nh.cost - used_cost) * toDecimal128(least(1, nh.resident_minutes / nh.up_minutes), 12), 20) AS idle_resident,
  nh.fallback_minutes AS fallback_minutes, nh.unpriced_minutes AS unpriced_minutes
FROM ${nodeHour} AS nh
LEFT JOIN (SELECT hour, node, sum(usage_cost) AS used FROM ${split} WHERE priced = 1 GROUP BY hour, node) AS us ON us.hour = nh.hour AND us.node = nh.node
SETTINGS join_use_nulls = 1`;
}

/** Usage rows in the report's shape: one per (day, node, tenant, model, pool, tier, priced). */
export const USAGE_COLUMNS =
  'node, tenant, model, pool, tier, priced, bases, requests, errors, input_tokens, output_tokens, cached_tokens, gpu_seconds, load_seconds, usage_cost';
/** Node rows in the report's shape. */
export const NODE_COLUMNS = 'node, pool, device_minutes, cost, used_cost, idle_resident, fallback_minutes, unpriced_minutes';

/** The kept rows of a report's range: `<kind>_day` rows for its whole days, `<kind>_hour` rows for the hours around them. */
function keptRange(kind: 'usage' | 'node'): string {
  return `(kind = '${kind}_day' AND hour >= ${DAY_FROM} AND hour < ${DAY_TO})
   OR (kind = '${kind}_hour' AND ((hour >= ${KEPT_FROM} AND hour < ${DAY_FROM}) OR (hour >= ${DAY_TO} AND hour < ${KEPT_TO})))`;
}

/** Usage rows of the kept hours of a report: daily rows for whole days, hourly rows for the rest. */
export function keptUsageSql(): string {
  return `SELECT toDate(hour) AS day, ${USAGE_COLUMNS} FROM chargeback_rollup
WHERE ${keptRange('usage')}`;
}

/** Node rows of the kept hours of a report, daily where whole days allow. */
export function keptNodesSql(): string {
  return `SELECT ${NODE_COLUMNS} FROM chargeback_rollup
WHERE ${keptRange('node')}`;
}

/** Where a report reads its rows: SQL subqueries over kept rollups and this report's scratch tables. */
export interface ReportSources {
  usage: string;
  nodes: string;
}

function scopeExpr(scope: IdleScope): string {
  // The fleet is one scope: a constant key.
  return scope === 'node' ? 'node' : scope === 'pool' ? 'pool' : "''";
}

/**
 * Lines of the report: one per tenant × requested dimensions, with usage, cost from usage, and the
 * share of idle the policy gives it. Idle is allocated within each scope (node, pool or the whole fleet) over the
 * whole period: share-weighted by each tenant's usage cost there, share-even equally between the
 * tenants active there; idle of a scope nobody used stays unshared.
 */
export function chargebackLinesSql(q: ChargebackQuery, src: ReportSources): string {
  const s = scopeExpr(q.scope);
  const groupKeys = ['tenant', ...q.groupBy].join(', ');
  const idleShare =
    q.idle === 'separate'
      ? 'toDecimal128(0, 20)'
      : q.idle === 'share-weighted'
        ? `if(scope_usage > 0, toDecimal128(scope_idle * toDecimal128(toFloat64(g.g_usage_cost) / toFloat64(scope_usage), 12), 20), toDecimal128(0, 20))`
        : `if(scope_usage > 0 AND tenant_scope_usage > 0, toDecimal128(scope_idle * toDecimal128(toFloat64(g.g_usage_cost) / toFloat64(tenant_scope_usage) / scope_tenants, 12), 20), toDecimal128(0, 20))`;
  // Output names differ from the columns they sum: a ClickHouse alias would shadow the column.
  return `WITH
grain AS (
  SELECT ${groupKeys}, ${s} AS scope_key, groupBitOr(bases) AS g_bases,
    sum(requests) AS g_requests, sum(errors) AS g_errors, sum(input_tokens) AS g_input_tokens, sum(output_tokens) AS g_output_tokens, sum(cached_tokens) AS g_cached_tokens,
    sum(gpu_seconds) AS g_gpu_seconds, sum(load_seconds) AS g_load_seconds, sum(usage_cost) AS g_usage_cost
  FROM (${src.usage}) WHERE priced = 1 GROUP BY ${groupKeys}, scope_key
),
scope_idle AS (SELECT ${s} AS scope_key, sum(cost - used_cost) AS idle FROM (${src.nodes}) GROUP BY scope_key),
allocated AS (
  SELECT g.*, ifNull(si.idle, toDecimal128(0, 20)) AS scope_idle,
    sum(g.g_usage_cost) OVER (PARTITION BY g.scope_key) AS scope_usage,
    sum(g.g_usage_cost) OVER (PARTITION BY g.scope_key, g.tenant) AS tenant_scope_usage,
    uniqExact(g.tenant) OVER (PARTITION BY g.scope_key) AS scope_tenants,
    ${idleShare} AS idle_share
  FROM grain AS g LEFT JOIN scope_idle AS si ON si.scope_key = g.scope_key
)
SELECT ${groupKeys},
  groupBitOr(g_bases) AS out_bases,
  sum(g_requests) AS out_requests, sum(g_errors) AS out_errors, sum(g_input_tokens) AS out_input_tokens, sum(g_output_tokens) AS out_output_tokens,
  sum(g_cached_tokens) AS out_cached_tokens, round(sum(g_gpu_seconds), 3) AS out_gpu_seconds, round(sum(g_load_seconds), 3) AS out_load_seconds,
  toString(sum(g_usage_cost)) AS out_usage_cost, toString(sum(idle_share)) AS out_idle_share
FROM allocated
GROUP BY ${groupKeys}
ORDER BY ${groupKeys}
SETTINGS join_use_nulls = 1`;
}

/** Fleet totals for the same period: what the bill is, how much of it is idle, and what could not be priced. */
export function chargebackTotalsSql(src: ReportSources): string {
  return `SELECT
  toString(sum(cost)) AS out_fleet_cost,
  toString(sum(cost - used_cost)) AS out_idle,
  toString(sum(idle_resident)) AS out_idle_resident,
  sum(device_minutes) AS out_device_minutes, sum(fallback_minutes) AS out_fallback_minutes, sum(unpriced_minutes) AS out_unpriced_minutes,
  uniqExact(node) AS out_nodes,
  -- Requests on nodes that were never seen up or have no inventory: they cannot be priced.
  (SELECT sum(requests) FROM (${src.usage}) WHERE priced = 0) AS out_unattributed
FROM (${src.nodes})`;
}
