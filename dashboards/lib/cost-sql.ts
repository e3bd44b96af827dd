// Cost in SQL for the dashboards and the Grafana cost alerts: each node-hour priced as of that hour
// (ASOF JOIN on price_points: the price holds from effective_from until the next change), then
// split between tenants by the GPU-seconds of their requests on that node in that hour (prefill +
// decode), never more than the node's GPU-seconds; the rest is idle. Floats are fine for charts;
// invoices come from the chargeback report, which is exact to the cent.
import { where } from './build.ts';

/**
 * A node counts as up for an hour when the inventory saw it in that hour. `nodeFilter` narrows the
 * nodes (the dashboards' node and pool variables; alert rules, which have no variables, pass '1').
 */
export const nodeCostCtes = (nodeFilter: string = where.nodeAndPool()): string => `
  node_hours AS (
    SELECT toStartOfHour(ts) AS hour, node,
           argMax(provider, ts) AS provider, argMax(instance_type, ts) AS instance_type, argMax(region, ts) AS region,
           argMax(capacity_type, ts) AS capacity_type, if(capacity_type = 'spot', argMax(zone, ts), '') AS price_zone,
           argMax(pool, ts) AS pool, greatest(argMax(gpu_count, ts), 1) AS gpus
    FROM nodes
    WHERE $__timeFilter(ts) AND ${nodeFilter}
    GROUP BY hour, node
  ),
  node_cost AS (
    SELECT n.hour AS hour, n.node AS node, n.pool AS pool, n.capacity_type AS capacity_type, n.instance_type AS instance_type,
           n.gpus AS gpus, toFloat64(p.usd_per_hour) AS usd
    FROM node_hours AS n
    ASOF LEFT JOIN (
      SELECT provider, instance_type, region, zone, capacity_type, toDateTime(effective_from) AS effective_from, usd_per_hour
      FROM price_points FINAL
    ) AS p
    ON n.provider = p.provider AND n.instance_type = p.instance_type AND n.region = p.region
       AND n.price_zone = p.zone AND n.capacity_type = p.capacity_type AND n.hour >= p.effective_from
  )`;

export const chargeCtes = (nodeFilter: string = where.nodeAndPool()): string => `${nodeCostCtes(nodeFilter)},
  usage AS (
    SELECT toStartOfHour(ts) AS hour, node, tenant, model,
           sum(prompt_eval_duration_ns + eval_duration_ns) / 1e9 AS gpu_seconds, sum(input_tokens + output_tokens) AS tokens
    FROM llm_requests
    WHERE $__timeFilter(ts) AND node != ''
    GROUP BY hour, node, tenant, model
  ),
  usage_total AS (SELECT hour, node, sum(gpu_seconds) AS gpu_seconds FROM usage GROUP BY hour, node),
  charges AS (
    SELECT u.hour AS hour, u.node AS node, c.pool AS pool, u.tenant AS tenant, u.model AS model, u.tokens AS tokens,
           c.usd * u.gpu_seconds / greatest(t.gpu_seconds, 3600 * c.gpus) AS usd
    FROM usage AS u
    INNER JOIN usage_total AS t ON u.hour = t.hour AND u.node = t.node
    INNER JOIN node_cost AS c ON u.hour = c.hour AND u.node = c.node
  ),
  idle AS (
    SELECT c.hour AS hour, c.node AS node, c.pool AS pool, c.usd - coalesce(s.usd, 0) AS usd
    FROM node_cost AS c
    LEFT JOIN (SELECT hour, node, sum(usd) AS usd FROM charges GROUP BY hour, node) AS s ON c.hour = s.hour AND c.node = s.node
  )`;

/** Charges filtered by the tenant and model variables (after the split, so shares stay right). */
export const CHARGE_FILTER = `${where.tenant()} AND ${where.model()}`;

export const NODE_COST_CTES = nodeCostCtes();
export const CHARGE_CTES = chargeCtes();
