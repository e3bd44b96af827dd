// The three kinds of test, told apart by the file name (CONTRIBUTING.md), and the parts each may
// start. vitest.config.ts sets LLMETER_TEST_TIER for each project; outside vitest (a bench using a
// helper) it is unset and anything may start.
export type Tier = 'unit' | 'integration' | 'kafka';

const FILES: Record<Tier, string> = { unit: '*.test.ts', integration: '*.int.test.ts', kafka: '*.kafka.test.ts' };

/** Throws, naming the file suffix to use, when a test of another kind tries to start `part`. */
export function requireTier(part: string, ...allowed: Tier[]): void {
  const tier = process.env.LLMETER_TEST_TIER as Tier | undefined;
  if (tier === undefined || allowed.includes(tier)) return;
  const where = allowed.map((t) => FILES[t]).join(' or ');
  throw new Error(`${part} is started only in ${where} files; this test runs as a ${tier} test (${FILES[tier]}): rename its file (see CONTRIBUTING.md)`);
}
