// Runs the Prometheus tools (Debian's prometheus / prometheus-alertmanager packages) for the alert
// tests and hands back their exit status and output instead of throwing, so a test can show why.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './paths.ts';
import { requireTier } from './tiers.ts';

export const ALERTS_DIR = path.join(ROOT, 'alerts');

export interface ToolResult {
  code: number;
  output: string;
}

export function runTool(cmd: string, args: readonly string[], cwd = ROOT): Promise<ToolResult> {
  requireTier(cmd, 'integration');
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

export function ruleFiles(dir = ALERTS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.rules.yml'))
    .sort()
    .map((f) => path.join(dir, f));
}

export function ruleTestFiles(dir = ALERTS_DIR): string[] {
  const tests = path.join(dir, 'tests');
  return readdirSync(tests)
    .filter((f) => f.endsWith('.test.yml'))
    .sort()
    .map((f) => path.join(tests, f));
}
