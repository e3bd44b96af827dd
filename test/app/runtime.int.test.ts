// A running collector's own /metrics page, as Prometheus reads it: promtool's lint passes, and the
// process and Node.js metrics carry the standard names every exporter uses (process_*, nodejs_*).
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../collector/core/log.ts';
import { startCollector, type Collector } from '../../collector/app/runtime.ts';
import { testConfig } from '../helpers/store.ts';
import { requireTier } from '../helpers/tiers.ts';

let collector: Collector;
let page: string;

beforeAll(async () => {
  collector = await startCollector(testConfig(), silentLogger);
  page = await (await fetch(`http://${collector.address}/metrics`)).text();
});

afterAll(async () => {
  await collector?.shutdown();
});

describe('the collector /metrics page', () => {
  it("passes promtool's metric lint", () => {
    requireTier('promtool', 'integration');
    const r = spawnSync('promtool', ['check', 'metrics'], { input: page, encoding: 'utf8', timeout: 30_000 });
    expect(r.error).toBeUndefined();
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });

  it('names process and Node.js metrics as every other exporter does', () => {
    const types = new Map([...page.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    expect(types.get('process_cpu_seconds_total')).toBe('counter');
    expect(types.get('process_resident_memory_bytes')).toBe('gauge');
    expect(types.get('process_start_time_seconds')).toBe('gauge');
    expect(types.get('nodejs_eventloop_lag_seconds')).toBe('gauge');
    expect(types.get('nodejs_heap_size_used_bytes')).toBe('gauge');
    expect(types.get('nodejs_active_handles')).toBe('gauge');
    // Nothing doubled or prefixed, and no gauge that reads as a counter.
    expect([...types.keys()].filter((n) => n.startsWith('llmeter_process_'))).toEqual([]);
    expect([...types].filter(([n, t]) => n.endsWith('_total') && t !== 'counter')).toEqual([]);
  });

  it("carries none of the labels Prometheus gives a target (the Operator's service, pod, namespace…), which a scrape would rename to exported_*", () => {
    const targetLabels = new Set(['job', 'instance', 'service', 'namespace', 'pod', 'container', 'endpoint']);
    const used = new Set([...page.matchAll(/^[a-zA-Z_:][\w:]*\{([^}]*)\}/gm)].flatMap((m) => [...m[1]!.matchAll(/(\w+)="/g)].map((l) => l[1]!)));
    expect(used.size).toBeGreaterThan(0);
    expect([...used].filter((l) => targetLabels.has(l))).toEqual([]);
  });
});
