// Writes the generated provisioning files: `node dashboards/generate.ts`.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderProvisioning } from './render.ts';

const root = path.join(import.meta.dirname, 'provisioning');
for (const [file, text] of renderProvisioning()) {
  const target = path.join(root, file);
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, text);
  console.log(`wrote ${path.relative(process.cwd(), target)}`);
}
