// Where tests find the repository's files, whatever folder the test itself sits in: the root, the
// shared captures in test/fixtures, the screenshots folder and the `llmeter` command line.
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');
/** Screenshots tests take (kept in the repository, shown by the docs). */
export const ARTIFACTS = path.join(ROOT, 'test', 'artifacts');
/** The `llmeter` command as a user runs it. */
export const LLMETER_BIN = path.join(ROOT, 'bin', 'llmeter.js');

/** A file under test/fixtures, as text: `fixtureText('dcgm', 'page.prom')`. */
export function fixtureText(...parts: string[]): string {
  return readFileSync(path.join(FIXTURES, ...parts), 'utf8');
}
