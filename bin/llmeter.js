#!/usr/bin/env node
// The CLI is TypeScript run directly by Node 24's type stripping; npm scripts and `npx`
// put the project's Node 24 (the `node` package) first on PATH.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(`llmeter needs Node.js 24 or newer (this is ${process.version}). Run it through npm (npm start, npx llmeter) so the bundled Node 24 is used.`);
  process.exit(1);
}
await import('../collector/app/cli/main.ts');
