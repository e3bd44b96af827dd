// Grafana-managed alert rules over ClickHouse for cost: budget burn (month-to-date spend projected
// to the end of the month against a monthly budget) and cost anomalies (a tenant's last hour against
// its hourly average of the week before). Provisioned as dashboards/provisioning/alerting/cost-rules.yaml.
// The budget and where the runbook is come from the configuration (dashboards/lib/options.ts): an
// installation without a monthly budget gets no budget burn rule.
import { CLICKHOUSE, CLICKHOUSE_UID, FORMAT_TABLE } from './lib/grafana.ts';
import { chargeCtes, nodeCostCtes } from './lib/cost-sql.ts';
import { runbookUrl, type ProvisioningOptions } from './lib/options.ts';

export const ANOMALY_FACTOR = 3;

const monthStart = 'toDateTime(toStartOfMonth($__toTime))';
const lastHour = 'toStartOfHour($__toTime) - INTERVAL 1 HOUR';

/** The budget burn query against a monthly budget of `monthlyBudgetUsd`. */
export function budgetBurnSql(monthlyBudgetUsd: number): string {
  return `
WITH ${nodeCostCtes('1')}
SELECT spent / greatest(dateDiff('second', ${monthStart}, $__toTime), 3600)
       * dateDiff('second', ${monthStart}, ${monthStart} + INTERVAL 1 MONTH) / ${monthlyBudgetUsd} AS projected_budget_ratio
FROM (SELECT sum(usd) AS spent FROM node_cost WHERE hour >= ${monthStart})`.trim();
}

export const COST_ANOMALY_SQL = `
WITH ${chargeCtes('1')}
SELECT tenant,
       sumIf(usd, hour = ${lastHour}) / nullIf(sumIf(usd, hour < ${lastHour}) / greatest(uniqExactIf(hour, hour < ${lastHour}), 1), 0) AS hourly_spend_ratio
FROM charges
GROUP BY tenant
HAVING hourly_spend_ratio IS NOT NULL`.trim();

interface Rule {
  uid: string;
  title: string;
  sql: string;
  seconds: number;
  threshold: number;
  for: string;
  severity: 'warning' | 'critical';
  summary: string;
  description: string;
}

function rule(r: Rule, o: ProvisioningOptions) {
  const runbook = runbookUrl(o, 'alerting.md#grafana-managed-cost-alerts');
  return {
    uid: r.uid,
    title: r.title,
    condition: 'C',
    data: [
      {
        refId: 'A',
        relativeTimeRange: { from: r.seconds, to: 0 },
        datasourceUid: CLICKHOUSE_UID,
        model: { refId: 'A', datasource: { type: CLICKHOUSE.type, uid: CLICKHOUSE_UID }, editorType: 'sql', format: FORMAT_TABLE, rawSql: r.sql },
      },
      { refId: 'B', datasourceUid: '__expr__', model: { refId: 'B', type: 'reduce', expression: 'A', reducer: 'last', settings: { mode: 'dropNN' } } },
      {
        refId: 'C',
        datasourceUid: '__expr__',
        model: { refId: 'C', type: 'threshold', expression: 'B', conditions: [{ evaluator: { type: 'gt', params: [r.threshold] } }] },
      },
    ],
    noDataState: 'OK',
    execErrState: 'Error',
    for: r.for,
    labels: { severity: r.severity, component: 'cost' },
    annotations: { summary: r.summary, description: r.description, ...(runbook ? { runbook_url: runbook } : {}) },
  };
}

/** The rule groups of cost-rules.yaml for an installation's options. */
export function costAlertRules(o: ProvisioningOptions = {}) {
  const rules = [
    ...(o.monthlyBudgetUsd
      ? [
          rule(
            {
              uid: 'llmeter-budget-burn',
              title: 'Budget burn',
              sql: budgetBurnSql(o.monthlyBudgetUsd),
              seconds: 32 * 86_400,
              threshold: 1,
              for: '1h',
              severity: 'warning',
              summary: 'At this month’s rate the fleet spends {{ humanizePercentage $values.B.Value }} of its monthly budget',
              description: `Month-to-date GPU and CPU node cost projected to the end of the month exceeds the budget of ${o.monthlyBudgetUsd} USD.`,
            },
            o,
          ),
        ]
      : []),
    rule(
      {
        uid: 'llmeter-cost-anomaly',
        title: 'Cost anomaly',
        sql: COST_ANOMALY_SQL,
        seconds: 8 * 86_400,
        threshold: ANOMALY_FACTOR,
        for: '0s',
        severity: 'warning',
        summary: 'Tenant {{ $labels.tenant }} spent {{ humanize $values.B.Value }}× its usual hourly cost in the last hour',
        description: `A tenant's charges in the last full hour exceed ${ANOMALY_FACTOR} times its average hourly charges over the previous week.`,
      },
      o,
    ),
  ];
  return {
    apiVersion: 1,
    groups: [
      {
        orgId: 1,
        name: 'llmeter-cost',
        folder: 'llmeter',
        interval: '5m',
        rules,
      },
    ],
  };
}
