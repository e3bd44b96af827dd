// A running collector leaves its address in its data directory, so other llmeter commands on the
// same machine (chDB lets one process hold the directory) know where to send their queries.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const FILE = 'collector.json';

export interface RunningCollector {
  pid: number;
  address: string;
}

export function writeRunningCollector(dataDir: string, address: string): void {
  writeFileSync(path.join(dataDir, FILE), JSON.stringify({ pid: process.pid, address } satisfies RunningCollector));
}

/** The collector that says it holds the store; undefined when none wrote the file (or it is not readable JSON). */
export function readRunningCollector(dataDir: string): RunningCollector | undefined {
  try {
    const r = JSON.parse(readFileSync(path.join(dataDir, FILE), 'utf8')) as RunningCollector;
    return typeof r.address === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

export function clearRunningCollector(dataDir: string): void {
  rmSync(path.join(dataDir, FILE), { force: true });
}

export function isAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // Signal 0 only asks: ESRCH is the answer "gone"; EPERM is a live process of another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
