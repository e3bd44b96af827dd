#!/usr/bin/env node
// `npm test`: makes sure what the tests need is installed (each prerequisite script is idempotent
// and fast when already satisfied), type-checks and lints, then runs the whole vitest suite: the unit
// tests, the integration tests, then the Kafka broker tests (the three projects of vitest.config.ts;
// CONTRIBUTING.md). With arguments, it runs `vitest run <arguments>` after the prerequisites.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status !== 0) {
    console.error(`\n${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(`tests need Node 24 (have ${process.version}); run them with \`npm test\`, which uses the project's Node 24`);
  process.exit(1);
}

// Prerequisites: scripts/prereqs/*.sh, run in name order (Debian packages, Kafka jars, …).
const prereqDir = path.join(root, 'scripts', 'prereqs');
let prereqs = [];
try {
  prereqs = readdirSync(prereqDir)
    .filter((f) => f.endsWith('.sh'))
    .sort();
} catch {
  // none yet
}
for (const p of prereqs) run('bash', [path.join(prereqDir, p)]);

const args = process.argv.slice(2);
if (!process.env.LLMETER_SKIP_LINT && args.length === 0) {
  run(bin('tsc'), ['--noEmit', '-p', '.']);
  run(bin('eslint'), ['.']);
  run(bin('prettier'), ['--check', '--log-level', 'warn', '**/*.{ts,js,mjs}']);
}
if (args.length > 0) {
  run(bin('vitest'), ['run', ...args]);
} else {
  // Fast failures first. The Kafka tests drive a real broker (a JVM) and kill and restart it and
  // collectors: they run on their own after the rest, one file at a time (vitest.config.ts).
  for (const project of ['unit', 'integration', 'kafka']) run(bin('vitest'), ['run', '--project', project]);
}
