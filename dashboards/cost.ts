// Dashboard 3: cost and chargeback (nodes × price_points, split by llm_requests).
import { dashboard, textbox } from './lib/build.ts';
import { CHARGE_CTES, CHARGE_FILTER, NODE_COST_CTES } from './lib/cost-sql.ts';

export const cost = dashboard({
  uid: 'llmeter-cost',
  title: 'llmeter / Cost and chargeback',
  description:
    'GPU and CPU node cost priced at the real price of each hour, split between tenants by measured GPU-seconds; idle capacity, cost per token, budget burn and what moving on-demand nodes to spot would save.',
  tags: ['cost', 'chargeback'],
  time: { from: 'now-7d', to: 'now' },
  extraVariables: [textbox('budget', 'Budget (USD) for the range', '10000', 'Budget the "Budget burn" panel compares the cumulative spend with.')],
  panels: [
    {
      type: 'stat',
      title: 'Fleet cost',
      w: 6,
      h: 4,
      unit: 'currencyUSD',
      description: 'Cost of every node in the range, each hour at that hour’s price.',
      query: { format: 'table', sql: `WITH ${NODE_COST_CTES} SELECT sum(usd) AS cost FROM node_cost` },
    },
    {
      type: 'stat',
      title: 'Charged to tenants',
      w: 6,
      h: 4,
      unit: 'currencyUSD',
      description: 'Part of the fleet cost attributed to the selected tenants and models by GPU-seconds.',
      query: { format: 'table', sql: `WITH ${CHARGE_CTES} SELECT sum(usd) AS charged FROM charges WHERE ${CHARGE_FILTER}` },
    },
    {
      type: 'stat',
      title: 'Idle share',
      w: 6,
      h: 4,
      unit: 'percentunit',
      min: 0,
      max: 1,
      description: 'Share of the fleet cost not used by any request (paid-for GPU-seconds nobody used).',
      query: { format: 'table', sql: `WITH ${CHARGE_CTES} SELECT (SELECT sum(usd) FROM idle) / nullIf((SELECT sum(usd) FROM node_cost), 0) AS idle_share` },
    },
    {
      type: 'stat',
      title: 'Cost per 1M tokens',
      w: 6,
      h: 4,
      unit: 'currencyUSD',
      description: 'Charged cost divided by input + output tokens, per million tokens (idle excluded).',
      query: {
        format: 'table',
        sql: `WITH ${CHARGE_CTES} SELECT sum(usd) / nullIf(sum(tokens), 0) * 1e6 AS usd_per_million_tokens FROM charges WHERE ${CHARGE_FILTER}`,
      },
    },
    {
      type: 'timeseries',
      title: 'Spend per tenant',
      w: 12,
      unit: 'currencyUSD',
      description: 'Charges per tenant per interval, with the idle cost as its own line.',
      options: { tooltip: { mode: 'multi', sort: 'desc' } },
      query: {
        format: 'time_series',
        sql: `
        WITH ${CHARGE_CTES}
        SELECT time, tenant, sum(usd) AS usd FROM (
          SELECT $__timeInterval(hour) AS time, tenant, usd FROM charges WHERE ${CHARGE_FILTER}
          UNION ALL
          SELECT $__timeInterval(hour) AS time, '(idle)' AS tenant, usd FROM idle
        ) GROUP BY time, tenant ORDER BY time`,
      },
    },
    {
      type: 'timeseries',
      title: 'Spend per pool',
      w: 12,
      unit: 'currencyUSD',
      description: 'Node cost per pool per interval.',
      query: {
        format: 'time_series',
        sql: `
        WITH ${NODE_COST_CTES}
        SELECT $__timeInterval(hour) AS time, if(pool = '', '(none)', pool) AS pool, sum(usd) AS usd
        FROM node_cost GROUP BY time, pool ORDER BY time`,
      },
    },
    {
      type: 'barchart',
      title: 'Spend per model',
      w: 8,
      unit: 'currencyUSD',
      description: 'Charges per model over the range.',
      query: {
        format: 'table',
        sql: `
        WITH ${CHARGE_CTES}
        SELECT model, sum(usd) AS usd FROM charges WHERE ${CHARGE_FILTER} GROUP BY model ORDER BY usd DESC`,
      },
    },
    {
      type: 'table',
      title: 'Effective cost per 1M tokens',
      w: 8,
      unit: 'currencyUSD',
      columnUnits: { total_tokens: 'short' },
      description: 'Per model: charged cost, tokens, and cost per million tokens — comparable with hosted API prices.',
      query: {
        format: 'table',
        sql: `
        WITH ${CHARGE_CTES}
        SELECT model, sum(usd) AS charged_usd, sum(tokens) AS total_tokens, charged_usd / nullIf(total_tokens, 0) * 1e6 AS usd_per_million_tokens
        FROM charges WHERE ${CHARGE_FILTER} GROUP BY model ORDER BY charged_usd DESC`,
      },
    },
    {
      type: 'timeseries',
      title: 'Budget burn',
      w: 8,
      unit: 'currencyUSD',
      description: 'Cumulative fleet cost over the range against the budget variable.',
      query: {
        format: 'time_series',
        sql: `
        WITH ${NODE_COST_CTES}
        SELECT time, sum(usd) OVER (ORDER BY time) AS spend, toFloat64($budget) AS budget
        FROM (SELECT $__timeInterval(hour) AS time, sum(usd) AS usd FROM node_cost GROUP BY time)
        ORDER BY time`,
      },
    },
    {
      type: 'timeseries',
      title: 'Tenant budgets',
      w: 24,
      unit: 'percentunit',
      h: 7,
      description:
        'Share of each tenant budget spent in the current day or month (llmeter_budget_burn_ratio from the collector; cost.budgets in its configuration). Alerts at 50, 80 and 100 %.',
      query: { promql: 'max by (tenant, period) (llmeter_budget_burn_ratio)', legend: '{{tenant}} ({{period}})' },
    },
    {
      type: 'table',
      title: 'What-if: on-demand nodes on spot',
      w: 24,
      unit: 'currencyUSD',
      columnUnits: { hours: 'h', saving_share: 'percentunit' },
      description: 'For each on-demand node: its cost in the range, the cost at the cheapest current spot price of the same instance type, and the difference.',
      query: {
        format: 'table',
        sql: `
        WITH ${NODE_COST_CTES}
        SELECT c.node AS node, c.instance_type AS instance_type, count() AS hours, sum(c.usd) AS on_demand_usd,
               count() * any(s.spot_usd) AS spot_usd, on_demand_usd - spot_usd AS saving_usd, saving_usd / nullIf(on_demand_usd, 0) AS saving_share
        FROM node_cost AS c
        INNER JOIN (
          SELECT instance_type, min(latest) AS spot_usd FROM (
            SELECT instance_type, zone, argMax(toFloat64(usd_per_hour), effective_from) AS latest
            FROM price_points FINAL
            WHERE capacity_type = 'spot' AND effective_from <= $__toTime
            GROUP BY instance_type, zone
          ) GROUP BY instance_type
        ) AS s ON c.instance_type = s.instance_type
        WHERE c.capacity_type = 'on_demand'
        GROUP BY node, instance_type ORDER BY saving_usd DESC`,
      },
    },
  ],
});
