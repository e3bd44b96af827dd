// A scheduled price sync runs on a timer nobody awaits. A source that fails is in the sync's report;
// a sync that throws before it begins (the store cannot say what is already kept) must be logged and
// counted as a background failure, not end the process as an unhandled rejection, and the source
// keeps its schedule.
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { BackgroundFailures } from '../../../collector/core/lifecycle/background.ts';
import { silentLogger } from '../../../collector/core/log.ts';
import type { RecordSink } from '../../../collector/core/pipeline/pipeline.ts';
import type { Store } from '../../../collector/core/store/store.ts';
import { PricesMetrics } from '../../../exporters/prices/metrics.ts';
import { PriceSyncScheduler } from '../../../exporters/prices/scheduler.ts';
import type { PriceSource } from '../../../exporters/prices/source.ts';

let scheduler: PriceSyncScheduler | undefined;

afterEach(async () => {
  await scheduler?.shutdown();
});

async function until(check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('PriceSyncScheduler', () => {
  it('counts a sync that threw before it began in llmeter_background_failures_total and keeps the schedule', async () => {
    const registry = new Registry();
    let reads = 0;
    const store = {
      queryRows: async () => {
        reads++;
        throw new Error('store unreachable');
      },
    } as unknown as Store;
    const source: PriceSource = {
      name: 'aws-spot',
      provider: 'aws',
      hasHistory: true,
      fetch: async () => ({ points: [], skipped: {}, pages: 0 }),
    };
    scheduler = new PriceSyncScheduler(
      [{ source, intervalMs: 50, lookbackMs: 86_400_000 }],
      {
        sink: {} as RecordSink,
        store,
        metrics: new PricesMetrics(registry),
        retry: { max_attempts: 1, initial_ms: 1, max_ms: 1 },
        log: silentLogger,
      },
      0,
      { failures: new BackgroundFailures(registry, silentLogger) },
    );
    await scheduler.start();
    const failed = async () =>
      (await registry.getSingleMetric('llmeter_background_failures_total')!.get()).values.find((v) => v.labels.component === 'prices')?.value ?? 0;
    await until(async () => (await failed()) >= 2);
    expect(reads).toBeGreaterThanOrEqual(2);
  });
});
