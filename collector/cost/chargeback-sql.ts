// The cost engine as one ClickHouse query. Node cost comes from as-of prices over the minutes each
// node was seen up; each node-hour's cost is split between tenants by the GPU-seconds their requests
// used on that node (scaled down when concurrent requests add up to more than the node's capacity,
// so no GPU-second is sold twice); the remainder is idle, shared or not by the report's policy. Money
// stays Decimal128(20) from price to line: no float ever carries dollars.

export type IdlePolicy = 'separate' | 'share-weighted' | 'share-even';
export type IdleScope = 'node' | 'pool';
export type GroupDim = 'model' | 'node' | 'pool' | 'tier' | 'day';
export const GROUP_DIMS: readonly GroupDim[] = ['model', 'node', 'pool', 'tier', 'day'];

export interface ChargebackQuery {
  idle: IdlePolicy;
  scope: IdleScope;
  groupBy: readonly GroupDim[];
  /** Read request usage from the hourly rollup (fast) or the raw table (same numbers). */
  source: 'rollup' | 'raw';
}

// Parameters: {from:DateTime64(3)}, {to:DateTime64(3)} — the period, half-open [from, to).
const USAGE_FROM_ROLLUP = `
  SELECT hour, node, tenant, model,
    sum(requests) AS requests, sum(errors) AS errors,
    sum(input_tokens) AS tin, sum(output_tokens) AS tout, sum(cached_tokens) AS tcached,
    sum(prompt_eval_ns + eval_ns) / 1e9 AS measured_s, sum(load_ns) / 1e9 AS load_s, sum(duration_ms_sum) / 1000 AS wall_s
  FROM llm_requests_hourly
  WHERE hour >= toStartOfHour(p_from) AND hour < p_to
  GROUP BY hour, node, tenant, model`;

const USAGE_FROM_RAW = `
  SELECT toStartOfHour(ts) AS hour, node, tenant, model,
    count() AS requests, countIf(error != '' OR status >= 400) AS errors,
    sum(input_tokens) AS tin, sum(output_tokens) AS tout, sum(cached_tokens) AS tcached,
    sum(prompt_eval_duration_ns + eval_duration_ns) / 1e9 AS measured_s, sum(load_duration_ns) / 1e9 AS load_s, sum(duration_ms) / 1000 AS wall_s
  FROM llm_requests
  WHERE ts >= toStartOfHour(p_from) AND ts < p_to
  GROUP BY hour, node, tenant, model`;

/**
 * The report runs in stages, each materialized once into a scratch table (a CTE would be computed
 * again for every reference): node-hours with their cost, then usage per (hour, node, tenant, model)
 * with its cost, then the lines and totals from those two.
 */
export interface StageTables {
  nodeHour: string;
  usage: string;
}

/**
 * Stage 1: every node-hour in the period with its up minutes, devices and cost. Up-time is a bitmask
 * of minutes per node-hour (node_hours). A node-hour with no price change inside it is priced once,
 * at the price in force at the start of the hour, for all its up minutes; only node-hours with a
 * change inside are split into minutes and priced minute by minute.
 */
export function nodeHourStageSql(): string {
  const window = (bound: string) => `toUInt8(greatest(0, least(60, ceil(dateDiff('second', h.hour, ${bound}) / 60))))`;
  const unit = (at: string, minutes: string) => `node, ${at} AS at, hour, toUInt32(${minutes}) AS minutes, instance_type, provider, region, zone, capacity_type, devices, pool, tier`;
  return `WITH
node_info AS (
  SELECT node,
    argMax(instance_type, ts) AS instance_type, argMax(provider, ts) AS provider, argMax(region, ts) AS region,
    argMax(zone, ts) AS zone, argMax(capacity_type, ts) AS capacity_type, greatest(argMax(gpu_count, ts), 1) AS devices,
    argMax(pool, ts) AS pool, argMax(tier, ts) AS tier
  FROM nodes WHERE ts < {to:DateTime64(3)} GROUP BY node
),
prices AS (
  SELECT provider, instance_type, region, zone, capacity_type, effective_from, usd_per_hour
  FROM price_points FINAL WHERE os IN ('', 'linux') AND effective_from < {to:DateTime64(3)}
),
-- Hours in which some price of an instance type changes other than on the hour.
mixed AS (
  SELECT DISTINCT instance_type, toDateTime(toStartOfHour(effective_from), 'UTC') AS hour
  FROM prices WHERE effective_from != toStartOfHour(effective_from)
),
hours AS (
  -- The period may start or end inside an hour: keep only the minutes in [from, to).
  SELECT h.node AS node, h.hour AS hour,
    bitAnd(h.mask, if(${window('{to:DateTime64(3)}')} > ${window('{from:DateTime64(3)}')},
      bitShiftLeft(toUInt64(1), ${window('{to:DateTime64(3)}')}) - bitShiftLeft(toUInt64(1), ${window('{from:DateTime64(3)}')}), toUInt64(0))) AS mask
  FROM (SELECT node, hour, groupBitOr(minutes) AS mask FROM node_hours WHERE hour >= toStartOfHour({from:DateTime64(3)}) AND hour < {to:DateTime64(3)} GROUP BY node, hour) AS h
),
up AS (
  SELECT hs.node AS node, hs.hour AS hour, hs.mask AS mask, n.instance_type AS instance_type, n.provider AS provider, n.region AS region,
    n.zone AS zone, n.capacity_type AS capacity_type, n.devices AS devices, n.pool AS pool, n.tier AS tier,
    (hs.hour, n.instance_type) IN (SELECT hour, instance_type FROM mixed) AS is_mixed
  FROM hours AS hs INNER JOIN node_info AS n ON n.node = hs.node
  WHERE hs.mask != 0
),
units AS (
  SELECT ${unit('hour', 'bitCount(mask)')} FROM up WHERE NOT is_mixed
  UNION ALL
  SELECT ${unit('hour + toIntervalMinute(m)', '1')} FROM up ARRAY JOIN bitPositionsToArray(mask) AS m WHERE is_mixed
),
priced AS (
  SELECT u.node AS node, u.hour AS hour, u.minutes AS minutes, u.capacity_type AS capacity_type, u.devices AS devices, u.pool AS pool, u.tier AS tier,
    bk.usd_per_hour AS p_book, bk.effective_from AS f_book,
    zn.usd_per_hour AS p_zone, zn.effective_from AS f_zone,
    rg.usd_per_hour AS p_region, rg.effective_from AS f_region,
    od.usd_per_hour AS p_od, od.effective_from AS f_od
  FROM units AS u
  ASOF LEFT JOIN (SELECT instance_type, effective_from, usd_per_hour FROM prices WHERE provider = 'book') AS bk
    ON bk.instance_type = u.instance_type AND u.at >= bk.effective_from
  ASOF LEFT JOIN (SELECT * FROM prices WHERE zone != '' AND provider != 'book') AS zn
    ON zn.provider = u.provider AND zn.instance_type = u.instance_type AND zn.zone = u.zone AND zn.capacity_type = u.capacity_type AND u.at >= zn.effective_from
  ASOF LEFT JOIN (SELECT * FROM prices WHERE zone = '' AND provider != 'book') AS rg
    ON rg.provider = u.provider AND rg.instance_type = u.instance_type AND rg.region = u.region AND rg.capacity_type = u.capacity_type AND u.at >= rg.effective_from
  ASOF LEFT JOIN (SELECT * FROM prices WHERE capacity_type = 'on_demand' AND provider != 'book') AS od
    ON od.provider = u.provider AND od.instance_type = u.instance_type AND od.region = u.region AND u.at >= od.effective_from
),
resident AS (
  SELECT toStartOfHour(ts) AS hour, node, uniqExact(toStartOfMinute(ts)) AS resident_minutes
  FROM model_states WHERE ts >= {from:DateTime64(3)} AND ts < {to:DateTime64(3)} AND size_vram_bytes > 0 AND node != ''
  GROUP BY hour, node
)
SELECT nh.hour AS hour, nh.node AS node, nh.devices AS devices, nh.pool AS pool, nh.tier AS tier, nh.up_minutes AS up_minutes,
  nh.cost AS cost, nh.fallback_minutes AS fallback_minutes, nh.unpriced_minutes AS unpriced_minutes,
  ifNull(r.resident_minutes, 0) AS resident_minutes
FROM (
  SELECT hour, node, any(devices) AS devices, any(pool) AS pool, any(tier) AS tier,
    sum(minutes) AS up_minutes,
    -- A price holds from its effective_from until the next change; each up minute costs price / 60.
    sum(toDecimal128(multiIf(f_book IS NOT NULL, p_book, f_zone IS NOT NULL, p_zone, f_region IS NOT NULL, p_region, f_od IS NOT NULL, p_od, toDecimal64(0, 9)), 20) * minutes / 60) AS cost,
    sumIf(minutes, f_book IS NULL AND f_zone IS NULL AND f_region IS NULL AND f_od IS NOT NULL AND capacity_type != 'on_demand') AS fallback_minutes,
    sumIf(minutes, f_book IS NULL AND f_zone IS NULL AND f_region IS NULL AND f_od IS NULL) AS unpriced_minutes
  FROM priced GROUP BY hour, node
) AS nh
LEFT JOIN resident AS r ON r.hour = nh.hour AND r.node = nh.node
SETTINGS join_use_nulls = 1`;
}

/** Stage 2: usage per (hour, node, tenant, model), its GPU-seconds and its cost; `priced` = 0 when the node-hour is unknown. */
export function usageStageSql(q: ChargebackQuery, t: StageTables): string {
  const usage = (q.source === 'rollup' ? USAGE_FROM_ROLLUP : USAGE_FROM_RAW).replace(/p_from/g, '{from:DateTime64(3)}').replace(/p_to/g, '{to:DateTime64(3)}');
  return `WITH
usage AS (${usage}
),
usage_basis AS (
  SELECT *, tin + tout AS tokens,
    multiIf(measured_s > 0, 'measured', wall_s > 0, 'wall_clock', 'tokens') AS basis,
    -- Cold-start load time is charged to the request that caused it (it is in that request's record).
    multiIf(measured_s > 0, measured_s + load_s, wall_s > 0, wall_s, 0) AS known_s
  FROM usage
),
usage_secs AS (
  SELECT ub.*, nh.cost AS nh_cost, nh.devices * nh.up_minutes * 60 AS capacity_s, nh.pool AS pool, nh.tier AS tier, nh.hour != 0 AS priced,
    sum(if(ub.basis != 'tokens', ub.known_s, 0)) OVER w AS nh_known_s,
    sum(if(ub.basis != 'tokens', ub.tokens, 0)) OVER w AS nh_known_tokens,
    sum(ub.tokens) OVER w AS nh_tokens
  FROM usage_basis AS ub
  LEFT JOIN ${t.nodeHour} AS nh ON nh.hour = ub.hour AND nh.node = ub.node
  WINDOW w AS (PARTITION BY ub.hour, ub.node)
)
SELECT hour, node, tenant, model, pool, tier, priced, basis, requests, errors, tin, tout, tcached, load_s,
  -- Requests with no duration at all are given seconds by token share: at the node-hour's measured
  -- seconds per token, or, when nothing on the node-hour was measured, the node's whole capacity.
  if(basis = 'tokens',
     if(nh_known_tokens > 0, tokens * nh_known_s / nh_known_tokens, if(nh_tokens > 0, tokens / nh_tokens * capacity_s, 0)),
     known_s) AS gpu_s_raw,
  sum(gpu_s_raw) OVER (PARTITION BY hour, node) AS nh_used_s,
  if(nh_used_s > capacity_s, capacity_s / nh_used_s, 1) AS overlap_scale,
  gpu_s_raw * overlap_scale AS gpu_s,
  -- Money × a share: the share as Decimal(12) keeps the product inside Decimal128 (scale 32, up to
  -- $999,999 per node-hour) and is then brought back to scale 20. (multiplyDecimal() is exact too, but
  -- about 700 times slower.)
  toDecimal128(nh_cost * toDecimal128(if(capacity_s > 0, gpu_s / capacity_s, 0), 12), 20) AS usage_cost
FROM usage_secs`;
}

/** Idle per node-hour, from the two stages. */
function nodeHourIdle(t: StageTables): string {
  return `node_hour_idle AS (
  SELECT nh.hour AS hour, nh.node AS node, nh.pool AS pool, nh.cost AS cost,
    nh.cost - ifNull(u.used_cost, toDecimal128(0, 20)) AS idle,
    toDecimal128((nh.cost - ifNull(u.used_cost, toDecimal128(0, 20))) * toDecimal128(least(1, nh.resident_minutes / nh.up_minutes), 12), 20) AS idle_resident,
    nh.fallback_minutes AS fallback_minutes, nh.unpriced_minutes AS unpriced_minutes, nh.up_minutes AS up_minutes, nh.devices AS devices
  FROM ${t.nodeHour} AS nh
  LEFT JOIN (SELECT hour, node, sum(usage_cost) AS used_cost FROM ${t.usage} WHERE priced GROUP BY hour, node) AS u ON u.hour = nh.hour AND u.node = nh.node
)`;
}

function scopeExpr(scope: IdleScope): string {
  return scope === 'node' ? 'node' : 'pool';
}

/**
 * Lines of the report: one per tenant × requested dimensions, with usage, cost from usage, and the
 * share of idle the policy gives it. Idle is allocated within each scope (node or pool) over the
 * whole period: share-weighted by each tenant's usage cost there, share-even equally between the
 * tenants active there; idle of a scope nobody used stays unshared.
 */
export function chargebackLinesSql(q: ChargebackQuery, t: StageTables): string {
  const s = scopeExpr(q.scope);
  const dims = q.groupBy.map((d) => (d === 'day' ? 'toDate(hour) AS day' : d));
  const dimNames = q.groupBy.map((d) => d);
  const sel = ['tenant', ...dims].join(', ');
  const groupKeys = ['tenant', ...dimNames].join(', ');
  const idleShare =
    q.idle === 'separate'
      ? 'toDecimal128(0, 20)'
      : q.idle === 'share-weighted'
        ? `if(scope_usage > 0, toDecimal128(scope_idle * toDecimal128(toFloat64(g.usage_cost) / toFloat64(scope_usage), 12), 20), toDecimal128(0, 20))`
        : `if(scope_usage > 0 AND tenant_scope_usage > 0, toDecimal128(scope_idle * toDecimal128(toFloat64(g.usage_cost) / toFloat64(tenant_scope_usage) / scope_tenants, 12), 20), toDecimal128(0, 20))`;
  return `WITH ${nodeHourIdle(t)},
grain AS (
  SELECT ${sel}, ${s} AS scope_key, any(basis) AS any_basis, groupUniqArray(basis) AS bases,
    sum(requests) AS requests, sum(errors) AS errors, sum(tin) AS input_tokens, sum(tout) AS output_tokens, sum(tcached) AS cached_tokens,
    sum(gpu_s) AS gpu_seconds, sum(load_s) AS load_seconds, sum(usage_cost) AS usage_cost
  FROM ${t.usage} WHERE priced GROUP BY ${groupKeys}, scope_key
),
scope_idle AS (SELECT ${s} AS scope_key, sum(idle) AS idle FROM node_hour_idle GROUP BY scope_key),
allocated AS (
  SELECT g.*, ifNull(si.idle, toDecimal128(0, 20)) AS scope_idle,
    sum(g.usage_cost) OVER (PARTITION BY g.scope_key) AS scope_usage,
    sum(g.usage_cost) OVER (PARTITION BY g.scope_key, g.tenant) AS tenant_scope_usage,
    uniqExact(g.tenant) OVER (PARTITION BY g.scope_key) AS scope_tenants,
    ${idleShare} AS idle_share
  FROM grain AS g LEFT JOIN scope_idle AS si ON si.scope_key = g.scope_key
)
SELECT ${groupKeys},
  -- Output names differ from the columns they sum: a ClickHouse alias would shadow the column.
  arrayDistinct(arrayFlatten(groupArray(bases))) AS out_bases,
  sum(requests) AS out_requests, sum(errors) AS out_errors, sum(input_tokens) AS out_input_tokens, sum(output_tokens) AS out_output_tokens,
  sum(cached_tokens) AS out_cached_tokens, round(sum(gpu_seconds), 3) AS out_gpu_seconds, round(sum(load_seconds), 3) AS out_load_seconds,
  toString(sum(usage_cost)) AS out_usage_cost, toString(sum(idle_share)) AS out_idle_share
FROM allocated
GROUP BY ${groupKeys}
ORDER BY ${groupKeys}
SETTINGS join_use_nulls = 1`;
}

/** Fleet totals for the same period: what the bill is, and how much of it is idle. */
export function chargebackTotalsSql(t: StageTables): string {
  return `WITH ${nodeHourIdle(t)}
SELECT
  toString(sum(cost)) AS out_fleet_cost,
  toString(sum(idle)) AS out_idle,
  toString(sum(idle_resident)) AS out_idle_resident,
  sum(up_minutes * devices) AS out_device_minutes, sum(fallback_minutes) AS out_fallback_minutes, sum(unpriced_minutes) AS out_unpriced_minutes,
  uniqExact(node) AS out_nodes
FROM node_hour_idle
SETTINGS join_use_nulls = 1`;
}

/** Requests on nodes that were never seen up or have no inventory: they cannot be priced. */
export function unattributedSql(t: StageTables): string {
  return `SELECT sum(requests) AS out_requests, groupUniqArray(10)(node) AS out_nodes FROM ${t.usage} WHERE NOT priced`;
}
