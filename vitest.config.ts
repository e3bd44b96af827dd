import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

// Three kinds of test, told apart by the end of the file name (CONTRIBUTING.md), one project each:
//   *.test.ts        unit: in-process code, fake HTTP servers on loopback at most; no chDB, no
//                    collector, no child process, no browser, no broker. `npm run test:unit`
//   *.int.test.ts    integration: chDB in-process, a running collector, child processes (llmeter,
//                    promtool, tmux), Chromium, a real Ollama. `npm run test:integration`
//   *.kafka.test.ts  a real Kafka broker (a JVM that the tests stop, freeze and restart), run after
//                    the rest and one file at a time. `npm run test:kafka`
// `vitest run` runs the three in that order; `npm test` installs the prerequisites and lints first.
const INTEGRATION = 'test/**/*.int.test.ts';
const KAFKA = 'test/**/*.kafka.test.ts';
const unitStub = fileURLToPath(new URL('./test/helpers/unit-stub.ts', import.meta.url));

export default defineConfig({
  test: {
    // chDB binds one data directory per process: each test file runs in its own fork.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        // A unit test that reaches chDB or Chromium fails at once, saying to rename the file.
        resolve: { alias: [{ find: /^(chdb|chdb\/connection|playwright-core)$/, replacement: unitStub }] },
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, INTEGRATION, KAFKA],
          env: { LLMETER_TEST_TIER: 'unit' },
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: { name: 'integration', include: [INTEGRATION], env: { LLMETER_TEST_TIER: 'integration' }, sequence: { groupOrder: 1 } },
      },
      {
        extends: true,
        // The broker tests kill and restart the broker and collectors: nothing else competes with
        // them for the machine.
        test: { name: 'kafka', include: [KAFKA], fileParallelism: false, env: { LLMETER_TEST_TIER: 'kafka' }, sequence: { groupOrder: 2 } },
      },
    ],
  },
});
