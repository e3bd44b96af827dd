// The Prometheus rule files in alerts/: valid (promtool check rules), their unit tests pass
// (promtool test rules), every alert has a case where it fires and one where it stays quiet, and
// every metric they read is one llmeter publishes (collector/features/alerting/metric-names.ts).
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parse } from 'yaml';
import { FOREIGN_METRICS, STORE_GAUGES, XID_RESET_REGEX } from '../../collector/features/alerting/metric-names.ts';
import { tempDir } from '../helpers/store.ts';
import { ALERTS_DIR, ruleFiles, ruleTestFiles, runTool } from '../helpers/prometheus-tools.ts';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}
interface RuleTestFile {
  rule_files: string[];
  tests: { name: string; alert_rule_test?: { eval_time: string; alertname: string; exp_alerts: unknown[] }[] }[];
}

const rules = (file: string): Rule[] => (parse(readFileSync(file, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules);
const allRules = ruleFiles().flatMap(rules);

describe('Prometheus rule files', () => {
  it('there are rule files for every area of the issue', () => {
    expect(ruleFiles().map((f) => path.basename(f))).toEqual([
      'budget.rules.yml',
      'capacity.rules.yml',
      'gpu.rules.yml',
      'pipeline.rules.yml',
      'serving.rules.yml',
    ]);
    const names = new Set(allRules.map((r) => r.alert));
    for (const a of [
      'GpuTemperatureHigh',
      'GpuMemoryHigh',
      'ModelLatencyP95High',
      'ModelErrorRateHigh',
      'ModelQueueFull',
      'ScrapeTargetDown',
      'LlmeterTargetDown',
      'KafkaConsumerLagHigh',
      'DeadLetters',
      'SpotInterruptionNotice',
      'GpuXidNeedsReset',
      'BudgetSpent',
      'NodeDown',
    ]) {
      expect(names, a).toContain(a);
    }
  });

  it('promtool check rules accepts every file', async () => {
    const r = await runTool('promtool', ['check', 'rules', ...ruleFiles()]);
    expect(r.output).not.toMatch(/FAILED/);
    expect(r.code, r.output).toBe(0);
  });

  it('promtool test rules passes every unit test file', async () => {
    const r = await runTool('promtool', ['test', 'rules', ...ruleTestFiles()]);
    expect(r.code, r.output).toBe(0);
    expect(r.output.match(/SUCCESS/g)?.length).toBe(ruleTestFiles().length);
  });

  it('every alert has a case where it fires and one where it does not', () => {
    const fires = new Set<string>();
    const quiet = new Set<string>();
    const covered = new Set<string>();
    for (const file of ruleTestFiles()) {
      const t = parse(readFileSync(file, 'utf8')) as RuleTestFile;
      for (const rf of t.rule_files) covered.add(path.basename(rf));
      for (const c of t.tests.flatMap((x) => x.alert_rule_test ?? [])) (c.exp_alerts.length > 0 ? fires : quiet).add(c.alertname);
    }
    expect([...covered].sort()).toEqual(ruleFiles().map((f) => path.basename(f)));
    for (const a of new Set(allRules.map((r) => r.alert ?? ''))) {
      expect(fires, `${a} fires in some test`).toContain(a);
      expect(quiet, `${a} stays quiet in some test`).toContain(a);
    }
  });

  it('every rule carries a known severity, a component, a summary and a runbook section that exists', () => {
    const doc = readFileSync(path.join(ALERTS_DIR, '../docs/alerting.md'), 'utf8');
    const anchors = new Set(
      [...doc.matchAll(/^#+ (.+)$/gm)].map((m) =>
        m[1]!
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .trim()
          .replace(/ /g, '-'),
      ),
    );
    for (const r of allRules) {
      expect(['critical', 'warning', 'info'], r.alert).toContain(r.labels?.severity);
      expect(r.labels?.component, r.alert).toMatch(/^(gpu|serving|pipeline|capacity|cost)$/);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      const anchor = /^docs\/alerting\.md#(.+)$/.exec(r.annotations?.runbook ?? '')?.[1];
      expect(anchors, `${r.alert} runbook ${r.annotations?.runbook}`).toContain(anchor);
    }
  });

  it('rules read only metrics llmeter publishes, named in collector/features/alerting/metric-names.ts', () => {
    const known = new Set<string>([...Object.values(STORE_GAUGES), ...Object.values(FOREIGN_METRICS)]);
    const keywords = new Set(['and', 'or', 'unless', 'bool']);
    for (const r of allRules) {
      const stripped = r.expr
        .replace(/"[^"]*"/g, '')
        .replace(/\{[^}]*\}/g, '')
        .replace(/\[[^\]]*\]/g, '')
        .replace(/\b(by|on|ignoring|without)\s*\([^)]*\)/g, '');
      const metrics = [...stripped.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)].filter((m) => !m[2] && !keywords.has(m[1]!)).map((m) => m[1]!);
      expect(metrics.length, r.alert).toBeGreaterThan(0);
      for (const m of metrics) expect(known, `${r.alert}: ${m}`).toContain(m);
    }
  });

  it('the XID rule lists exactly the XIDs that need a reset', () => {
    const xid = allRules.find((r) => r.alert === 'GpuXidNeedsReset');
    expect(xid?.expr).toContain(`xid=~"${XID_RESET_REGEX}"`);
  });

  it('a wrong threshold makes promtool test rules fail (the unit tests can fail)', async () => {
    const dir = tempDir('llmeter-rules-');
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    cpSync(ALERTS_DIR, dir, { recursive: true });
    const gpu = path.join(dir, 'gpu.rules.yml');
    writeFileSync(gpu, readFileSync(gpu, 'utf8').replace('llmeter_gpu_temperature_celsius >= 85', 'llmeter_gpu_temperature_celsius >= 95'));
    const r = await runTool('promtool', ['test', 'rules', path.join(dir, 'tests', 'gpu.test.yml')]);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/FAILED/);
    const bad = path.join(dir, 'broken.rules.yml');
    writeFileSync(bad, 'groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: llmeter_gpu_temperature_celsius >=\n');
    expect((await runTool('promtool', ['check', 'rules', bad])).code).not.toBe(0);
  });
});
