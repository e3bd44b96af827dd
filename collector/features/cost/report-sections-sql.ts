// The report's sections beside the tenant lines, read from the same rows (ReportSources) as the
// lines and totals: per node, the requests that could not be priced, and the inventory of the nodes
// the report names.
import type { ReportSources } from './chargeback-sql.ts';

// The period's end, as the stages take it.
const TO = '{to:DateTime64(3)}';

/** Per node (and pool, where a node moved between pools) over the period: what it cost, what its tenants used and its idle. */
export function chargebackNodesSql(src: ReportSources): string {
  return `SELECT node, pool, sum(device_minutes) AS out_device_minutes,
  toString(sum(cost)) AS out_cost, toString(sum(used_cost)) AS out_used, toString(sum(idle_resident)) AS out_idle_resident,
  sum(fallback_minutes) AS out_fallback_minutes, sum(unpriced_minutes) AS out_unpriced_minutes
FROM (${src.nodes})
GROUP BY node, pool
ORDER BY node, pool`;
}

/** Requests that could not be priced (their node had no inventory or up-time in their hour), per node and tenant. */
export function unattributedSql(src: ReportSources): string {
  return `SELECT node, tenant, sum(requests) AS out_requests FROM (${src.usage}) WHERE priced = 0 GROUP BY node, tenant ORDER BY node, tenant`;
}

/**
 * The inventory of the given nodes as last observed before the end of the period ({nodes:Array(String)}):
 * what a report says about a node it names (its instance type, cloud and capacity type).
 */
export function nodeInventorySql(): string {
  return `SELECT node, tupleElement(info, 1) AS instance_type, tupleElement(info, 2) AS provider, tupleElement(info, 3) AS region,
  tupleElement(info, 4) AS zone, tupleElement(info, 5) AS capacity_type
FROM (
  SELECT node, argMax(info, info_hour) AS info
  FROM (SELECT node, hour AS info_hour, argMaxMerge(info) AS info FROM node_inventory_hourly WHERE hour < ${TO} AND node IN {nodes:Array(String)} GROUP BY node, hour)
  GROUP BY node
)`;
}
