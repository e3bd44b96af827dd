// Writes the generated provisioning files: `npm run dashboards` (node dashboards/generate.ts).
//
//   npm run dashboards                                            the committed files, with no options
//   npm run dashboards -- --config llmeter.yaml --out /srv/grafana-provisioning
//                                                                 an installation's: its budget and runbook base
//
// With --out, the hand-written files (datasources, the dashboard provider) are copied beside the
// generated ones, so the folder is whole.
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../collector/app/config-schema.ts';
import { provisioningOptions } from './lib/options.ts';
import { renderProvisioning } from './render.ts';

const committed = path.join(import.meta.dirname, 'provisioning');
const { values } = parseArgs({ options: { config: { type: 'string' }, out: { type: 'string' } } });
const options = values.config ? provisioningOptions(loadConfig({ file: values.config }).config) : {};
const root = values.out ? path.resolve(values.out) : committed;
if (root !== committed) {
  mkdirSync(root, { recursive: true });
  for (const f of ['datasources/llmeter.yaml', 'dashboards/llmeter.yaml']) {
    mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    cpSync(path.join(committed, f), path.join(root, f));
  }
}
for (const [file, text] of renderProvisioning(options)) {
  const target = path.join(root, file);
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, text);
  console.log(`wrote ${path.relative(process.cwd(), target)}`);
}
