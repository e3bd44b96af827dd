// Writes deploy/kubernetes/base/prometheusrule.yaml: llmeter's alert rules (alerts/*.rules.yml, the
// files Prometheus loads as they are) as one Prometheus Operator PrometheusRule, so the Kubernetes
// layout loads the same rules. `node scripts/gen-prometheus-rule.ts` rewrites it; the deploy tests
// fail when the committed file differs from what this produces.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const root = path.resolve(import.meta.dirname, '..');
export const PROMETHEUS_RULE_FILE = path.join(root, 'deploy/kubernetes/base/prometheusrule.yaml');

interface RuleFile {
  groups: { name: string; rules: unknown[] }[];
}

/** The rule files of alerts/, in name order. */
export function alertRuleFiles(): string[] {
  const dir = path.join(root, 'alerts');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.rules.yml'))
    .sort()
    .map((f) => path.join(dir, f));
}

export function renderPrometheusRule(): string {
  const groups = alertRuleFiles().flatMap((file) => {
    const parsed = parse(readFileSync(file, 'utf8')) as RuleFile;
    if (!Array.isArray(parsed?.groups)) throw new Error(`${path.relative(root, file)}: no groups`);
    return parsed.groups;
  });
  const rule = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'llmeter',
      namespace: 'llmeter',
      labels: { 'app.kubernetes.io/name': 'llmeter', 'app.kubernetes.io/component': 'alerts' },
    },
    spec: { groups },
  };
  const header = [
    '# Generated from alerts/*.rules.yml by `node scripts/gen-prometheus-rule.ts`; do not edit.',
    "# llmeter's alert rules for the Prometheus Operator. Your Prometheus must select this object",
    '# (ruleSelector / ruleNamespaceSelector; docs/deployment.md). Routing: alerts/alertmanager.yml.',
  ].join('\n');
  return `${header}\n${stringify(rule, { lineWidth: 0 })}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(PROMETHEUS_RULE_FILE, renderPrometheusRule());
  console.log(`wrote ${path.relative(process.cwd(), PROMETHEUS_RULE_FILE)}`);
}
