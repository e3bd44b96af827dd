// KEDA's own scaler code against a collector: keda-check (scripts/keda/check, built by
// scripts/prereqs/60-keda.sh) runs KEDA's `external` and `external-push` scalers through its scalers
// cache, as the operator does. `kedaPoll` is one polling round (the metric spec KEDA builds, then the
// metric and the activity); `kedaPush` holds the push scaler's stream and collects what its channel
// delivers.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './paths.ts';
import { requireTier } from './tiers.ts';

const VERSION = readFileSync(path.join(ROOT, 'scripts', 'keda', 'VERSION'), 'utf8').trim();
export const KEDA_CHECK = path.join(ROOT, '.cache', 'keda', VERSION, 'keda-check');

function binary(): string {
  requireTier("KEDA's scaler code (keda-check)", 'integration');
  if (!existsSync(KEDA_CHECK)) throw new Error(`${KEDA_CHECK} is missing: run scripts/prereqs/60-keda.sh (npm test runs it)`);
  return KEDA_CHECK;
}

export interface KedaPoll {
  /** The metric name KEDA gives the HPA (`s0-llmeter-load-premium`). */
  metric: string;
  target: number;
  targetType: string;
  value: number;
  active: boolean;
}

/** One polling round of KEDA's `external` scaler; rejects with KEDA's error text when it fails. */
export function kedaPoll(address: string, metadata: Record<string, string>): Promise<KedaPoll> {
  return new Promise((resolve, reject) => {
    const c = spawn(binary(), ['poll', address, JSON.stringify(metadata)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
    c.on('close', (code) => {
      clearTimeout(timer);
      let r: (KedaPoll & { error?: undefined }) | { error: string };
      try {
        r = JSON.parse(out.trim().split('\n').at(-1) ?? '') as typeof r;
      } catch {
        return reject(new Error(`keda-check poll exited ${code} without an answer\nstdout: ${out}\nstderr: ${err}`));
      }
      if (r.error !== undefined) return reject(new Error(r.error));
      resolve(r);
    });
  });
}

export interface KedaPush {
  /** Every value delivered so far, in order. */
  readonly values: boolean[];
  /** When each arrived (epoch ms). */
  readonly at: number[];
  /** The next value not yet read, waiting up to timeoutMs for it. */
  next(timeoutMs?: number): Promise<boolean>;
  /** Ends the stream (closes the scaler's context) and waits for the process to exit. */
  close(): Promise<void>;
}

/** KEDA's `external-push` scaler running (its Run loop on StreamIsActive), as the operator starts it for a ScaledObject. */
export function kedaPush(address: string, metadata: Record<string, string>): KedaPush {
  const c: ChildProcess = spawn(binary(), ['push', address, JSON.stringify(metadata)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const values: boolean[] = [];
  const at: number[] = [];
  let buf = '';
  let err = '';
  let ended = false;
  c.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const m = JSON.parse(line) as { active: boolean; at: number };
      values.push(m.active);
      at.push(m.at);
    }
  });
  c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) =>
    c.on('close', () => {
      ended = true;
      resolve();
    }),
  );
  let read = 0;
  return {
    values,
    at,
    async next(timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (values.length <= read) {
        if (ended) throw new Error(`keda-check push ended after ${JSON.stringify(values)}\nstderr: ${err}`);
        if (Date.now() > deadline) throw new Error(`no value from KEDA's push scaler within ${timeoutMs} ms (got ${JSON.stringify(values)})\nstderr: ${err}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return values[read++]!;
    },
    async close() {
      c.stdin!.end();
      const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}
