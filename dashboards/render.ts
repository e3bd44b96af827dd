// Renders everything under dashboards/provisioning/ that is generated from the TypeScript sources:
// the dashboards' JSON and the Grafana-managed cost alert rules, for an installation's options
// (lib/options.ts; none for the committed files). `node dashboards/generate.ts` writes it;
// test/dashboards checks the committed files equal this output with no options.
import { stringify } from 'yaml';
import { costAlertRules } from './cost-alerts.ts';
import { DASHBOARDS } from './index.ts';
import type { ProvisioningOptions } from './lib/options.ts';

/** Path under dashboards/provisioning/ → file content. */
export function renderProvisioning(o: ProvisioningOptions = {}): Map<string, string> {
  const files = new Map<string, string>();
  for (const [file, d] of Object.entries(DASHBOARDS)) files.set(`dashboards/llmeter/${file}`, JSON.stringify(d, null, 2) + '\n');
  files.set(
    'alerting/cost-rules.yaml',
    '# Generated from dashboards/cost-alerts.ts by `npm run dashboards`; do not edit.\n' + stringify(costAlertRules(o), { lineWidth: 0 }),
  );
  return files;
}
