// Syncing sources into the store through a running collector: only changes are written, a re-sync is
// idempotent, a source that is down or answers garbage is retried with backoff, reported on /metrics,
// and leaves the stored prices as they were; the scheduler syncs under `llmeter start`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../collector/log.ts';
import { startCollector, type Collector } from '../../collector/runtime.ts';
import { pricesMetrics } from '../../exporters/prices/index.ts';
import { buildSource } from '../../exporters/prices/sources/index.ts';
import { syncSource, type SyncDeps } from '../../exporters/prices/sync.ts';
import { count, testConfig } from '../helpers/store.ts';
import { fakeServer, fixture, send, type FakeServer } from './helpers.ts';

let collector: Collector;
let lambda: FakeServer;
let flaky: FakeServer;
let spot: FakeServer;
let lambdaMode: 'ok' | 'garbage' | 'down' | 'cheaper' = 'ok';
let flakyFailures = 0;

const creds = { access_key_id: 'AKIDEXAMPLE', secret_access_key: 'fake-secret' };

beforeAll(async () => {
  lambda = await fakeServer((_req, res) => {
    if (lambdaMode === 'down') return send(res, 503, 'upstream unavailable', 'text/plain');
    if (lambdaMode === 'garbage') return send(res, 200, '{"data": {"gpu_1x_a100_sxm4": {"instance_type": {"price_cents_per_hour": "lots"}}}}');
    const text = fixture('lambda-instance-types-response.json');
    send(res, 200, lambdaMode === 'cheaper' ? text.replace('"price_cents_per_hour":199', '"price_cents_per_hour":149') : text);
  });
  flaky = await fakeServer((_req, res) => {
    if (flakyFailures-- > 0) return send(res, 503, 'try later', 'text/plain', { 'retry-after': '0' });
    send(res, 200, fixture('lambda-instance-types-response.json'));
  });
  spot = await fakeServer((_req, res) => send(res, 200, fixture('aws-spot-price-history-response.xml'), 'text/xml'));
  collector = await startCollector(
    testConfig({
      pipeline: { batch_ms: 50 },
      prices: {
        enabled: true,
        first_sync_delay_ms: 0,
        retry: { max_attempts: 3, initial_ms: 10, max_ms: 50 },
        sources: {
          lambda: { enabled: true, endpoint: `${lambda.url}/api/v1/instance-types`, interval_ms: 3_600_000 },
          aws_spot: { endpoint: spot.url, regions: ['us-west-2'], instance_types: ['m3.medium'], credentials: creds },
        },
        book: [{ instance_type: 'dgx-a100', capacity_type: 'on_prem', price: '18250', unit: 'month', gpu_count: 8 }],
        interruptions: { eventbridge: { http: false } },
      },
    }),
    silentLogger,
  );
}, 60_000);

afterAll(async () => {
  await collector?.shutdown();
  await Promise.all([lambda?.close(), flaky?.close(), spot?.close()]);
});

function deps(): SyncDeps {
  return { sink: collector.pipeline, store: collector.store, metrics: pricesMetrics(collector.registry), retry: { max_attempts: 3, initial_ms: 10, max_ms: 50 }, log: silentLogger, lookbackMs: 86_400_000 };
}

async function waitFor(fn: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not met in time');
}

async function metric(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = await collector.registry.getSingleMetric(name)?.get();
  return m?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

describe('scheduled syncs under the collector', () => {
  it('syncs the enabled sources and the price book at start-up', async () => {
    await waitFor(async () => (await count(collector.store, "price_points FINAL WHERE provider = 'lambda'")) === 3);
    await waitFor(async () => (await count(collector.store, "price_points FINAL WHERE provider = 'book'")) === 1);
    const [book] = await collector.store.queryRows<{ p: string }>("SELECT toString(usd_per_hour) AS p FROM price_points FINAL WHERE provider = 'book'");
    expect(book!.p).toBe('25');
    expect(await metric('llmeter_prices_source_up', { source: 'lambda' })).toBe(1);
  });
});

describe('one sync', () => {
  it('writes only what changed; the same answer again writes nothing', async () => {
    const src = buildSource(testConfig({ prices: { sources: { lambda: { endpoint: lambda.url } } } }).prices, 'lambda');
    const again = await syncSource(src, deps());
    expect(again).toMatchObject({ ok: true, fetched: 3, written: 0, unchanged: 3 });
    lambdaMode = 'cheaper';
    const changed = await syncSource(src, deps());
    expect(changed).toMatchObject({ ok: true, written: 1, unchanged: 2 });
    lambdaMode = 'ok';
    await collector.pipeline.forceFlush();
    const rows = await collector.store.queryRows<{ p: string }>("SELECT toString(usd_per_hour) AS p FROM price_points FINAL WHERE instance_type = 'gpu_1x_a100_sxm4' ORDER BY effective_from");
    expect(rows.map((r) => r.p)).toEqual(['1.99', '1.49']);
  });

  it('retries a source that answers 503, with backoff, and succeeds', async () => {
    flakyFailures = 2;
    const src = buildSource(testConfig({ prices: { sources: { lambda: { endpoint: flaky.url } } } }).prices, 'lambda');
    const before = (await metric('llmeter_prices_fetch_attempts_total', { source: 'lambda', result: 'retryable' })) ?? 0;
    const r = await syncSource(src, deps());
    expect(r).toMatchObject({ ok: true, attempts: 3 });
    expect(await metric('llmeter_prices_fetch_attempts_total', { source: 'lambda', result: 'retryable' })).toBe(before + 2);
  });

  it('a source that is down or answers garbage fails, is reported, and erases nothing', async () => {
    const src = buildSource(testConfig({ prices: { sources: { lambda: { endpoint: lambda.url } } } }).prices, 'lambda');
    const snapshot = async () => collector.store.queryRows("SELECT instance_type, toString(usd_per_hour) AS p, effective_from FROM price_points FINAL WHERE provider = 'lambda' ORDER BY instance_type, effective_from");
    const before = await snapshot();
    for (const mode of ['down', 'garbage'] as const) {
      lambdaMode = mode;
      const r = await syncSource(src, deps());
      expect(r.ok).toBe(mode === 'garbage');
      if (mode === 'down') expect(r).toMatchObject({ attempts: 3, written: 0 });
      // Garbage items are skipped and counted; nothing is written for them.
      if (mode === 'garbage') expect(r).toMatchObject({ written: 0, skipped: { bad_price: 1 } });
    }
    lambdaMode = 'ok';
    await collector.pipeline.forceFlush();
    expect(await snapshot()).toEqual(before);
    expect(await metric('llmeter_prices_syncs_total', { source: 'lambda', outcome: 'failure' })).toBeGreaterThanOrEqual(1);
    const text = await collector.registry.metrics();
    expect(text).toMatch(/llmeter_prices_source_up\{source="lambda",service="llmeter"\} 1/);
    expect(text).toContain('llmeter_prices_items_skipped_total{source="lambda",reason="bad_price"');
  });

  it('a non-JSON answer is retried and then reported failed', async () => {
    const junk = await fakeServer((_req, res) => send(res, 200, 'not json at all', 'text/plain'));
    try {
      const src = buildSource(testConfig({ prices: { sources: { runpod: { endpoint: junk.url } } } }).prices, 'runpod');
      const r = await syncSource(src, deps());
      expect(r).toMatchObject({ ok: false, attempts: 3, written: 0 });
      expect(junk.requests).toHaveLength(3);
      expect(await metric('llmeter_prices_fetch_attempts_total', { source: 'runpod', result: 'garbage' })).toBe(3);
      expect(await metric('llmeter_prices_source_up', { source: 'runpod' })).toBe(0);
    } finally {
      await junk.close();
    }
  });

  it('re-syncing the same spot history is idempotent', async () => {
    const cfg = testConfig({ prices: { sources: { aws_spot: { endpoint: spot.url, regions: ['us-west-2'], instance_types: ['m3.medium'], credentials: creds } } } }).prices;
    const src = buildSource(cfg, 'aws-spot');
    const window = { since: Date.parse('2020-11-01T00:00:00Z'), until: Date.parse('2020-11-02T00:00:00Z') };
    const a = await syncSource(src, deps(), window);
    expect(a).toMatchObject({ ok: true, written: 2 });
    await syncSource(src, deps(), window);
    await collector.pipeline.forceFlush();
    expect(await count(collector.store, "price_points FINAL WHERE provider = 'aws' AND instance_type = 'm3.medium'")).toBe(2);
  });
});
