// The alert rules of alerts/*.rules.yml that `llmeter top` can evaluate on the collector's gauges, by
// the rules' own names, severities and thresholds (without their `for:` durations, so a condition
// shows here before Alertmanager would page). test/app/top/alerts.test.ts holds each entry to its
// rule in the files. Rules over data top does not read (Kafka lag, dropped rows, the scrape of the
// collector itself) are not here.
import type { Sample } from '../../../exporters/scrape/prometheus/parse.ts';

export type Severity = 'critical' | 'warning' | 'info';

export interface AlertRow {
  severity: Severity;
  name: string;
  subject: string;
  value: string;
}

export interface TopFilter {
  tenants?: readonly string[];
  models?: readonly string[];
}

/** One rule (one alert name and severity) as top evaluates it. */
export interface TopAlertRule {
  alert: string;
  severity: Severity;
  metric: string;
  /** The rule's comparison: `<metric>{…} <op> <threshold>`. */
  op: '>' | '>=' | '==';
  threshold: number;
  /** Label matchers of the rule's selector (`kind=~"a|b"`), as their regular expressions. */
  matchers?: Record<string, string>;
  /** The rule's `and on (model) llmeter_model_window_requests >= N`. */
  minWindowRequests?: number;
  /** Which filter of `llmeter top --tenant/--model` the series answers to. */
  scope?: 'model' | 'tenant';
  subject: (labels: Sample['labels']) => string;
  value: (v: number) => string;
}

const pct = (x: number) => `${(x * 100).toFixed(0)} %`;
const gpu = (l: Sample['labels']) => `${l.node} ${l.gpu_uuid ?? ''}`.trim();
const XIDS_NEEDING_RESET = '48|61|62|63|64|74|79|94|95|119|120|140';

export const TOP_ALERT_RULES: readonly TopAlertRule[] = [
  {
    alert: 'GpuTemperatureHigh',
    severity: 'warning',
    metric: 'llmeter_gpu_temperature_celsius',
    op: '>=',
    threshold: 75,
    subject: gpu,
    value: (v) => `${v} °C`,
  },
  {
    alert: 'GpuTemperatureHigh',
    severity: 'critical',
    metric: 'llmeter_gpu_temperature_celsius',
    op: '>=',
    threshold: 85,
    subject: gpu,
    value: (v) => `${v} °C`,
  },
  { alert: 'GpuMemoryHigh', severity: 'warning', metric: 'llmeter_gpu_memory_used_ratio', op: '>=', threshold: 0.8, subject: gpu, value: pct },
  { alert: 'GpuMemoryHigh', severity: 'critical', metric: 'llmeter_gpu_memory_used_ratio', op: '>=', threshold: 0.95, subject: gpu, value: pct },
  {
    alert: 'GpuXidNeedsReset',
    severity: 'critical',
    metric: 'llmeter_gpu_xid_events',
    op: '>',
    threshold: 0,
    matchers: { xid: XIDS_NEEDING_RESET },
    subject: (l) => `${l.node} xid ${l.xid}`,
    value: String,
  },
  {
    alert: 'ModelLatencyP95High',
    severity: 'warning',
    metric: 'llmeter_model_latency_p95_seconds',
    op: '>',
    threshold: 3,
    minWindowRequests: 20,
    scope: 'model',
    subject: (l) => l.model ?? '',
    value: (v) => `p95 ${v.toFixed(2)} s`,
  },
  {
    alert: 'ModelErrorRateHigh',
    severity: 'warning',
    metric: 'llmeter_model_error_ratio',
    op: '>',
    threshold: 0.05,
    minWindowRequests: 20,
    scope: 'model',
    subject: (l) => l.model ?? '',
    value: pct,
  },
  {
    alert: 'ModelErrorRateHigh',
    severity: 'critical',
    metric: 'llmeter_model_error_ratio',
    op: '>',
    threshold: 0.25,
    minWindowRequests: 20,
    scope: 'model',
    subject: (l) => l.model ?? '',
    value: pct,
  },
  {
    alert: 'ModelQueueFull',
    severity: 'warning',
    metric: 'llmeter_model_queue_full_requests',
    op: '>',
    threshold: 0,
    scope: 'model',
    subject: (l) => l.model ?? '',
    value: (v) => `${v} refused (503)`,
  },
  ...([0.5, 0.8, 1] as const).map((t): TopAlertRule => ({
    alert: 'BudgetSpent',
    severity: t >= 1 ? 'critical' : 'warning',
    metric: 'llmeter_budget_burn_ratio',
    op: '>=',
    threshold: t,
    scope: 'tenant',
    subject: (l) => `${l.tenant} (${l.period})`,
    value: pct,
  })),
  {
    alert: 'SpotInterruptionNotice',
    severity: 'warning',
    metric: 'llmeter_capacity_notice_action_timestamp_seconds',
    op: '>',
    threshold: 0,
    matchers: { kind: 'spot_interruption|preemption' },
    subject: (l) => `${l.node} ${l.kind}`,
    value: (v) => new Date(v * 1000).toISOString().slice(11, 19),
  },
  {
    alert: 'CapacityNotice',
    severity: 'info',
    metric: 'llmeter_capacity_notice_action_timestamp_seconds',
    op: '>',
    threshold: 0,
    matchers: { kind: 'rebalance_recommendation|scheduled_event' },
    subject: (l) => `${l.node} ${l.kind}`,
    value: (v) => new Date(v * 1000).toISOString().slice(11, 19),
  },
  { alert: 'NodeDown', severity: 'warning', metric: 'llmeter_node_down', op: '==', threshold: 1, subject: (l) => String(l.node), value: () => 'down' },
  {
    alert: 'ScrapeTargetDown',
    severity: 'warning',
    metric: 'llmeter_scrape_up',
    op: '==',
    threshold: 0,
    subject: (l) => String(l.target),
    value: () => 'down',
  },
  {
    alert: 'DeadLetters',
    severity: 'warning',
    metric: 'llmeter_store_dead_letters_window',
    op: '>',
    threshold: 0,
    subject: (l) => String(l.signal),
    value: String,
  },
];

const ORDER: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

function holds(r: TopAlertRule, v: number): boolean {
  return r.op === '>' ? v > r.threshold : r.op === '>=' ? v >= r.threshold : v === r.threshold;
}

/**
 * The rules whose condition holds on the gauges right now. Where a warning and a critical rule of one
 * alert hold for the same series, the critical one is shown.
 */
export function alertsFrom(samples: readonly Sample[], f: TopFilter = {}): AlertRow[] {
  const window = new Map(samples.filter((s) => s.name === 'llmeter_model_window_requests').map((s) => [s.labels.model ?? '', s.value]));
  const inScope = (r: TopAlertRule, l: Sample['labels']) =>
    r.scope === 'model'
      ? !f.models?.length || f.models.includes(l.model ?? '')
      : r.scope === 'tenant'
        ? !f.tenants?.length || f.tenants.includes(l.tenant ?? '')
        : true;
  const shown = new Map<string, AlertRow>();
  for (const r of TOP_ALERT_RULES) {
    for (const s of samples) {
      if (s.name !== r.metric || !holds(r, s.value) || !inScope(r, s.labels)) continue;
      if (r.matchers && !Object.entries(r.matchers).every(([k, re]) => new RegExp(`^(?:${re})$`).test(s.labels[k] ?? ''))) continue;
      if (r.minWindowRequests !== undefined && (window.get(s.labels.model ?? '') ?? 0) < r.minWindowRequests) continue;
      const row: AlertRow = { severity: r.severity, name: r.alert, subject: r.subject(s.labels), value: r.value(s.value) };
      const key = `${row.name}\0${row.subject}`;
      const before = shown.get(key);
      if (!before || ORDER[row.severity] < ORDER[before.severity]) shown.set(key, row);
    }
  }
  return [...shown.values()].sort((a, b) => ORDER[a.severity] - ORDER[b.severity] || a.name.localeCompare(b.name));
}
