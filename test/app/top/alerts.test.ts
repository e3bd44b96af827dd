// `llmeter top` shows the alerts of alerts/*.rules.yml by their names: each rule top evaluates is a
// rule of those files (name, severity, metric, label matchers, comparison and threshold), and the
// alerts it shows for a set of gauges carry those names.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { alertsFrom, TOP_ALERT_RULES } from '../../../collector/app/top/alerts.ts';
import type { Sample } from '../../../exporters/scrape/prometheus/parse.ts';
import { ROOT } from '../../helpers/paths.ts';

interface Rule {
  alert: string;
  expr: string;
  labels: { severity: string };
}

const RULES: Rule[] = readdirSync(path.join(ROOT, 'alerts'))
  .filter((f) => f.endsWith('.rules.yml'))
  .flatMap((f) => (parse(readFileSync(path.join(ROOT, 'alerts', f), 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules));

describe('the rules llmeter top evaluates', () => {
  it.each(TOP_ALERT_RULES.map((r) => [`${r.alert} (${r.severity}, ${r.op} ${r.threshold})`, r] as const))('%s is a rule of alerts/*.rules.yml', (_name, r) => {
    const candidates = RULES.filter((x) => x.alert === r.alert && x.labels.severity === r.severity);
    expect(candidates.length, `${r.alert} with severity ${r.severity}`).toBeGreaterThan(0);
    const match = candidates.find((x) => {
      const m = new RegExp(`${r.metric}(\\{([^}]*)\\})?\\)?\\s*(==|>=|>)\\s*([\\d.]+)`).exec(x.expr);
      if (!m || m[3] !== r.op || Number(m[4]) !== r.threshold) return false;
      const matchers = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)=~"([^"]*)"/g)].map((l) => [l[1], l[2]]));
      if (JSON.stringify(matchers) !== JSON.stringify(r.matchers ?? {})) return false;
      const window = /llmeter_model_window_requests >= (\d+)/.exec(x.expr);
      return Number(window?.[1] ?? NaN) === (r.minWindowRequests ?? NaN) || (window === null && r.minWindowRequests === undefined);
    });
    expect(match, `${r.alert}: no rule ${r.metric} ${r.op} ${r.threshold} among ${candidates.map((c) => c.expr).join(' | ')}`).toBeDefined();
  });
});

const sample = (name: string, value: number, labels: Record<string, string> = {}): Sample => ({ name, labels, value }) as Sample;

describe('the alerts top shows', () => {
  const gauges = [
    sample('llmeter_model_window_requests', 50, { model: 'llama' }),
    sample('llmeter_model_latency_p95_seconds', 4.2, { model: 'llama' }),
    sample('llmeter_model_error_ratio', 0.3, { model: 'llama' }),
    sample('llmeter_model_window_requests', 5, { model: 'quiet' }),
    sample('llmeter_model_latency_p95_seconds', 9, { model: 'quiet' }),
    sample('llmeter_budget_burn_ratio', 0.9, { tenant: 'acme', period: 'month' }),
    sample('llmeter_budget_burn_ratio', 1.2, { tenant: 'globex', period: 'day' }),
    sample('llmeter_budget_burn_ratio', 0.2, { tenant: 'initech', period: 'day' }),
    sample('llmeter_gpu_temperature_celsius', 88, { node: 'n1', gpu_uuid: 'GPU-1' }),
    sample('llmeter_gpu_xid_events', 2, { node: 'n1', xid: '79' }),
    sample('llmeter_gpu_xid_events', 3, { node: 'n1', xid: '13' }),
    sample('llmeter_capacity_notice_action_timestamp_seconds', 1_800_000_000, { node: 'n2', kind: 'spot_interruption' }),
    sample('llmeter_node_down', 1, { node: 'n3' }),
  ];

  it('names them as the rules do, the critical one where warning and critical both hold', () => {
    const shown = alertsFrom(gauges).map((a) => `${a.severity} ${a.name} ${a.subject}`);
    expect(shown).toEqual([
      'critical BudgetSpent globex (day)',
      'critical GpuTemperatureHigh n1 GPU-1',
      'critical GpuXidNeedsReset n1 xid 79',
      'critical ModelErrorRateHigh llama',
      'warning BudgetSpent acme (month)',
      'warning ModelLatencyP95High llama',
      'warning NodeDown n3',
      'warning SpotInterruptionNotice n2 spot_interruption',
    ]);
    const names = new Set(RULES.map((r) => r.alert));
    for (const a of alertsFrom(gauges)) expect(names).toContain(a.name);
  });

  it('keeps to the tenants and models asked for', () => {
    const shown = alertsFrom(gauges, { tenants: ['acme'], models: ['none'] }).map((a) => a.name);
    expect(shown).not.toContain('ModelErrorRateHigh');
    expect(shown.filter((n) => n === 'BudgetSpent')).toHaveLength(1);
    expect(shown).toContain('GpuTemperatureHigh');
  });
});
