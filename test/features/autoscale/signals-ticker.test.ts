// The autoscaler's evaluation tick runs on a timer nobody awaits: when it fails, KEDA keeps reading
// stale signals, so each failure must show in llmeter_background_failures_total and the log.
import { Counter, Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundFailures } from '../../../collector/core/lifecycle/background.ts';
import type { Logger } from '../../../collector/core/log.ts';
import { autoscaleConfigSchema } from '../../../collector/features/autoscale/config.ts';
import { ScalerMetricsTicker } from '../../../collector/features/autoscale/index.ts';
import { ScalerMetrics } from '../../../collector/features/autoscale/scaler-metrics.ts';
import { ProxyState } from '../../../exporters/proxy/state.ts';

const EVERY_MS = 1_000;

function setup() {
  const registry = new Registry();
  const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
  const log: Logger = { debug() {}, info() {}, warn: (msg, fields) => warnings.push({ msg, fields }), error() {}, child: () => log };
  const source = { broken: false };
  // The proxy's request counter, read by every tick for the request rate; broken, reading it throws.
  new Counter({
    name: 'llmeter_proxy_requests_total',
    help: 'x',
    labelNames: ['upstream', 'model', 'tenant', 'status', 'error_kind'],
    registers: [registry],
    collect() {
      if (source.broken) throw new Error('request counter unreadable');
    },
  });
  const config = autoscaleConfigSchema.parse({ enabled: true, tiers: [{ name: 'gpu', upstreams: ['gpu-a'] }] });
  const signals = new ScalerMetrics({ config, state: new ProxyState(), upstreams: [{ name: 'gpu-a', node: 'n1' }], registry });
  const ticker = new ScalerMetricsTicker(signals, EVERY_MS, [], new BackgroundFailures(registry, log));
  return { registry, warnings, source, ticker };
}

async function failuresOf(registry: Registry, component: string): Promise<number> {
  const m = await registry.getSingleMetric('llmeter_background_failures_total')!.get();
  return m.values.find((v) => v.labels.component === component)?.value ?? 0;
}

describe('the autoscaling signals ticker', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.parse('2026-11-01T00:00:00Z') });
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts every failed tick in llmeter_background_failures_total{component="autoscale-signals"} and logs it', async () => {
    const { registry, warnings, source, ticker } = setup();
    await ticker.start();
    try {
      await vi.advanceTimersByTimeAsync(EVERY_MS);
      expect(await failuresOf(registry, 'autoscale-signals')).toBe(0);
      source.broken = true;
      await vi.advanceTimersByTimeAsync(3 * EVERY_MS);
      expect(await failuresOf(registry, 'autoscale-signals')).toBe(3);
      expect(await registry.getSingleMetricAsString('llmeter_background_failures_total')).toContain(
        'llmeter_background_failures_total{component="autoscale-signals"} 3',
      );
      // Logged once for the three: a tick that keeps failing is logged once a minute.
      expect(warnings).toEqual([
        { msg: 'autoscaling signals not recomputed', fields: { component: 'autoscale-signals', error: 'request counter unreadable' } },
      ]);
      // The timer lives on: once the source mends, ticks succeed again and the count stays.
      source.broken = false;
      await vi.advanceTimersByTimeAsync(2 * EVERY_MS);
      expect(await failuresOf(registry, 'autoscale-signals')).toBe(3);
    } finally {
      await ticker.shutdown();
    }
  });
});
