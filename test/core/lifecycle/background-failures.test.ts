// The one handler for failures of work nobody awaits: every failure is counted per component, and a
// failure that repeats is logged once a minute per component, not once per tick.
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundFailures } from '../../../collector/core/lifecycle/background.ts';
import type { Logger } from '../../../collector/core/log.ts';

interface Logged {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

function capturingLogger(into: Logged[]): Logger {
  const log: Logger = {
    debug: (msg, fields) => into.push({ level: 'debug', msg, fields }),
    info: (msg, fields) => into.push({ level: 'info', msg, fields }),
    warn: (msg, fields) => into.push({ level: 'warn', msg, fields }),
    error: (msg, fields) => into.push({ level: 'error', msg, fields }),
    child: () => log,
  };
  return log;
}

async function counted(registry: Registry): Promise<Record<string, number>> {
  const m = await registry.getSingleMetric('llmeter_background_failures_total')!.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.component), v.value]));
}

describe('BackgroundFailures', () => {
  let registry: Registry;
  let logged: Logged[];
  let failures: BackgroundFailures;

  beforeEach(() => {
    vi.useFakeTimers({ now: Date.parse('2026-11-01T00:00:00Z') });
    registry = new Registry();
    logged = [];
    failures = new BackgroundFailures(registry, capturingLogger(logged));
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts every failure and logs the first of a component with its message', async () => {
    failures.report('budgets', new Error('store unreachable'), 'budget refresh failed');
    expect(await counted(registry)).toEqual({ budgets: 1 });
    expect(logged).toEqual([{ level: 'warn', msg: 'budget refresh failed', fields: { component: 'budgets', error: 'store unreachable' } }]);
  });

  it('logs a failure that repeats once a minute per component, and counts each one', async () => {
    for (let s = 0; s < 150; s += 10) {
      failures.report('autoscale-signals', new Error(`tick ${s}`), 'autoscaling signals not recomputed');
      vi.advanceTimersByTime(10_000);
    }
    expect(await counted(registry)).toEqual({ 'autoscale-signals': 15 });
    // At 0 s, 60 s and 120 s: the ones in between are counted only.
    expect(logged.map((l) => l.fields?.error)).toEqual(['tick 0', 'tick 60', 'tick 120']);
  });

  it('keeps each component to its own minute: one that fails often does not silence another', async () => {
    failures.report('prices', new Error('a'));
    failures.report('prices', new Error('b'));
    failures.report('node-directory', new Error('c'));
    expect(await counted(registry)).toEqual({ prices: 2, 'node-directory': 1 });
    expect(logged.map((l) => [l.fields?.component, l.fields?.error])).toEqual([
      ['prices', 'a'],
      ['node-directory', 'c'],
    ]);
    expect(logged[0]!.msg).toBe('background work failed');
  });

  it('hands out a rejection handler for a promise nobody awaits; what was thrown need not be an Error', async () => {
    await Promise.reject('KEDA signal source gone').catch(failures.handler('autoscale-signals', 'autoscaling signals not recomputed'));
    expect(await counted(registry)).toEqual({ 'autoscale-signals': 1 });
    expect(logged[0]).toMatchObject({ msg: 'autoscaling signals not recomputed', fields: { error: 'KEDA signal source gone' } });
  });

  it('shows on /metrics under its name with the component label', async () => {
    failures.report('kafka-consumer-lag', new Error('broker down'));
    expect(await registry.metrics()).toContain('llmeter_background_failures_total{component="kafka-consumer-lag"} 1');
  });
});
