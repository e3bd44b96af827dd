// Dashboard 4: the spot market (price_points, capacity_events, nodes).
import { dashboard, where } from './lib/build.ts';

const NOTICE_KINDS = "('spot_interruption', 'preemption', 'rebalance_recommendation', 'scheduled_event')";
/** Instance types of the fleet's nodes, narrowed by the node and pool variables. */
const fleetTypes = `instance_type IN (SELECT instance_type FROM nodes WHERE ${where.nodeAndPool()})`;

export const spotMarket = dashboard({
  uid: 'llmeter-spot-market',
  title: 'llmeter / Spot market',
  description:
    'Spot and on-demand prices of the instance types the fleet runs on, per zone over time, the spot discount, and the interruptions the fleet received.',
  tags: ['cost', 'spot'],
  time: { from: 'now-7d', to: 'now' },
  panels: [
    {
      type: 'timeseries',
      title: 'Spot price per instance type and zone',
      w: 24,
      unit: 'currencyUSD',
      description: 'Spot price per hour of the whole instance, at each change (the price holds until the next point).',
      options: { tooltip: { mode: 'multi', sort: 'desc' } },
      query: {
        format: 'time_series',
        sql: `
        SELECT effective_from AS time, concat(instance_type, ' ', zone) AS series, toFloat64(usd_per_hour) AS usd_per_hour
        FROM price_points FINAL
        WHERE capacity_type = 'spot' AND $__timeFilter(effective_from) AND ${fleetTypes}
        ORDER BY time`,
      },
    },
    {
      type: 'table',
      title: 'Spot discount',
      w: 12,
      unit: 'currencyUSD',
      columnUnits: { discount: 'percentunit', gpus: 'none' },
      description: 'Newest on-demand and cheapest newest spot price per instance type and region at the end of the range, and the discount.',
      query: {
        format: 'table',
        sql: `
        SELECT instance_type, region, any(gpu_count) AS gpus,
               maxIf(latest, capacity_type = 'on_demand') AS on_demand_usd, minIf(latest, capacity_type = 'spot') AS spot_usd,
               1 - spot_usd / nullIf(on_demand_usd, 0) AS discount
        FROM (
          SELECT instance_type, region, zone, capacity_type, any(gpu_count) AS gpu_count, argMax(toFloat64(usd_per_hour), effective_from) AS latest
          FROM price_points FINAL
          WHERE effective_from <= $__toTime AND capacity_type IN ('spot', 'on_demand') AND ${fleetTypes}
          GROUP BY instance_type, region, zone, capacity_type
        )
        GROUP BY instance_type, region HAVING on_demand_usd > 0 AND spot_usd > 0 ORDER BY discount DESC`,
      },
    },
    {
      type: 'table',
      title: 'Price per GPU-hour',
      w: 12,
      unit: 'currencyUSD',
      description: 'Cheapest newest price per GPU-hour by GPU model and capacity type at the end of the range.',
      query: {
        format: 'table',
        sql: `
        SELECT gpu_model, capacity_type, min(latest) AS usd_per_gpu_hour
        FROM (
          SELECT gpu_model, capacity_type, instance_type, zone, argMax(toFloat64(usd_per_gpu_hour), effective_from) AS latest
          FROM price_points FINAL
          WHERE effective_from <= $__toTime AND gpu_model != '' AND ${fleetTypes}
          GROUP BY gpu_model, capacity_type, instance_type, zone
        )
        WHERE latest > 0
        GROUP BY gpu_model, capacity_type ORDER BY gpu_model, capacity_type`,
      },
    },
    {
      type: 'timeseries',
      title: 'Interruption notices',
      w: 12,
      unit: 'short',
      description: 'Spot interruptions, preemptions, rebalance recommendations and scheduled events per interval.',
      query: {
        format: 'time_series',
        sql: `
        SELECT $__timeInterval(ts) AS time, kind, count() AS notices
        FROM capacity_events FINAL
        WHERE $__timeFilter(ts) AND kind IN ${NOTICE_KINDS} AND ${where.nodeAndPool()}
        GROUP BY time, kind ORDER BY time`,
      },
    },
    {
      type: 'barchart',
      title: 'Interruptions per instance type',
      w: 12,
      unit: 'short',
      description: 'Spot interruptions and preemptions per instance type of the interrupted node.',
      query: {
        format: 'table',
        sql: `
        SELECT if(n.instance_type = '', '(unknown)', n.instance_type) AS instance_type, count() AS interruptions
        FROM capacity_events AS e FINAL
        LEFT JOIN (SELECT node, argMax(instance_type, ts) AS instance_type FROM nodes GROUP BY node) AS n ON e.node = n.node
        WHERE $__timeFilter(e.ts) AND e.kind IN ('spot_interruption', 'preemption') AND ${where.nodeAndPool('e.node')}
        GROUP BY instance_type ORDER BY interruptions DESC`,
      },
    },
    {
      type: 'table',
      title: 'Notices',
      w: 24,
      unit: 'none',
      columnUnits: { time: 'dateTimeAsIso', action_at: 'dateTimeAsIso', warning: 'dtdurations' },
      description: 'Every notice in the range, newest first, with how much warning it gave.',
      query: {
        format: 'table',
        sql: `
        SELECT ts AS time, kind, node, provider, instance_id, action, action_at,
               if(action_at IS NULL, NULL, greatest(dateDiff('second', ts, assumeNotNull(action_at)), 0)) AS warning
        FROM capacity_events FINAL
        WHERE $__timeFilter(ts) AND kind IN ${NOTICE_KINDS} AND ${where.nodeAndPool()}
        ORDER BY ts DESC LIMIT 500`,
      },
    },
  ],
});
