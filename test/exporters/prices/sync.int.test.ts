// Syncing sources into the store through a running collector: only changes are written, a re-sync is
// idempotent, a source that is down or answers garbage is retried with backoff, reported on /metrics,
// and leaves the stored prices as they were; the scheduler syncs under `llmeter start`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { buildSource } from '../../../exporters/prices/sources/index.ts';
import { PriceSyncScheduler } from '../../../exporters/prices/scheduler.ts';
import { syncSource, type SyncDeps } from '../../../exporters/prices/sync.ts';
import { count, testConfig } from '../../helpers/store.ts';
import { fakeServer, fixture, send, type FakeServer } from '../../helpers/prices.ts';
import { metricValue } from '../../helpers/metrics.ts';
import { waitFor } from '../../helpers/wait.ts';

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
  return {
    sink: collector.pipeline,
    store: collector.store,
    metrics: collector.provided!.prices.metrics,
    retry: { max_attempts: 3, initial_ms: 10, max_ms: 50 },
    log: silentLogger,
    lookbackMs: 86_400_000,
  };
}

describe('scheduled syncs under the collector', () => {
  it('syncs the enabled sources and the price book at start-up', async () => {
    await waitFor('the lambda prices stored', async () => (await count(collector.store, "price_points FINAL WHERE provider = 'lambda'")) === 3);
    await waitFor('the book price stored', async () => (await count(collector.store, "price_points FINAL WHERE provider = 'book'")) === 1);
    const [book] = await collector.store.queryRows<{ p: string }>("SELECT toString(usd_per_hour) AS p FROM price_points FINAL WHERE provider = 'book'");
    expect(book!.p).toBe('25');
    expect(await metricValue(collector.registry, 'llmeter_prices_source_up', { source: 'lambda' })).toBe(1);
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
    const rows = await collector.store.queryRows<{ p: string }>(
      "SELECT toString(usd_per_hour) AS p FROM price_points FINAL WHERE instance_type = 'gpu_1x_a100_sxm4' ORDER BY effective_from",
    );
    expect(rows.map((r) => r.p)).toEqual(['1.99', '1.49']);
  });

  it('retries a source that answers 503, with backoff, and succeeds', async () => {
    flakyFailures = 2;
    const src = buildSource(testConfig({ prices: { sources: { lambda: { endpoint: flaky.url } } } }).prices, 'lambda');
    const before = (await metricValue(collector.registry, 'llmeter_prices_fetch_attempts_total', { source: 'lambda', result: 'retryable' })) ?? 0;
    const r = await syncSource(src, deps());
    expect(r).toMatchObject({ ok: true, attempts: 3 });
    expect(await metricValue(collector.registry, 'llmeter_prices_fetch_attempts_total', { source: 'lambda', result: 'retryable' })).toBe(before + 2);
  });

  it('a source that is down or answers garbage fails, is reported, and erases nothing', async () => {
    const src = buildSource(testConfig({ prices: { sources: { lambda: { endpoint: lambda.url } } } }).prices, 'lambda');
    const snapshot = async () =>
      collector.store.queryRows(
        "SELECT instance_type, toString(usd_per_hour) AS p, effective_from FROM price_points FINAL WHERE provider = 'lambda' ORDER BY instance_type, effective_from",
      );
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
    expect(await metricValue(collector.registry, 'llmeter_prices_syncs_total', { source: 'lambda', outcome: 'failure' })).toBeGreaterThanOrEqual(1);
    const text = await collector.registry.metrics();
    expect(text).toMatch(/llmeter_prices_source_up\{source="lambda"\} 1/);
    expect(text).toContain('llmeter_prices_items_skipped_total{source="lambda",reason="bad_price"');
  });

  it('a non-JSON answer is retried and then reported failed', async () => {
    const junk = await fakeServer((_req, res) => send(res, 200, 'not json at all', 'text/plain'));
    try {
      const src = buildSource(testConfig({ prices: { sources: { runpod: { endpoint: junk.url } } } }).prices, 'runpod');
      const r = await syncSource(src, deps());
      expect(r).toMatchObject({ ok: false, attempts: 3, written: 0 });
      expect(junk.requests).toHaveLength(3);
      expect(await metricValue(collector.registry, 'llmeter_prices_fetch_attempts_total', { source: 'runpod', result: 'garbage' })).toBe(3);
      expect(await metricValue(collector.registry, 'llmeter_prices_source_up', { source: 'runpod' })).toBe(0);
    } finally {
      await junk.close();
    }
  });

  it('re-syncing the same spot history is idempotent', async () => {
    const cfg = testConfig({
      prices: { sources: { aws_spot: { endpoint: spot.url, regions: ['us-west-2'], instance_types: ['m3.medium'], credentials: creds } } },
    }).prices;
    const src = buildSource(cfg, 'aws-spot');
    const window = { since: Date.parse('2020-11-01T00:00:00Z'), until: Date.parse('2020-11-02T00:00:00Z') };
    const a = await syncSource(src, deps(), window);
    expect(a).toMatchObject({ ok: true, written: 2 });
    await syncSource(src, deps(), window);
    await collector.pipeline.forceFlush();
    expect(await count(collector.store, "price_points FINAL WHERE provider = 'aws' AND instance_type = 'm3.medium'")).toBe(2);
  });
});

describe('AWS syncs: timeouts, shutdown, Retry-After and garbage like every other source', () => {
  const spotCfg = (endpoint: string, timeout_ms = 30_000) =>
    testConfig({ prices: { timeout_ms, sources: { aws_spot: { endpoint, regions: ['us-west-2'], instance_types: ['m3.medium'], credentials: creds } } } })
      .prices;
  const window = { since: Date.parse('2020-11-01T00:00:00Z'), until: Date.parse('2020-11-02T00:00:00Z') };

  it('honours Retry-After on a 503 instead of its own back-off', async () => {
    let failures = 2;
    const busy = await fakeServer((_req, res) => {
      if (failures-- > 0)
        return send(
          res,
          503,
          '<Response><Errors><Error><Code>Unavailable</Code><Message>busy</Message></Error></Errors><RequestID>x</RequestID></Response>',
          'text/xml',
          { 'retry-after': '0' },
        );
      send(res, 200, fixture('aws-spot-price-history-response.xml'), 'text/xml');
    });
    try {
      const t0 = Date.now();
      // The back-off alone would wait at least half of initial_ms between attempts.
      const r = await syncSource(
        buildSource(spotCfg(busy.url), 'aws-spot'),
        { ...deps(), retry: { max_attempts: 3, initial_ms: 30_000, max_ms: 60_000 } },
        window,
      );
      expect(r).toMatchObject({ ok: true, attempts: 3 });
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      await busy.close();
    }
  });

  it('retries an answer it cannot read (not XML)', async () => {
    let junk = 1;
    const server = await fakeServer((_req, res) => {
      if (junk-- > 0) return send(res, 200, 'garbage{{', 'text/xml');
      send(res, 200, fixture('aws-spot-price-history-response.xml'), 'text/xml');
    });
    try {
      const before = (await metricValue(collector.registry, 'llmeter_prices_fetch_attempts_total', { source: 'aws-spot', result: 'garbage' })) ?? 0;
      const r = await syncSource(buildSource(spotCfg(server.url), 'aws-spot'), deps(), window);
      expect(r).toMatchObject({ ok: true, attempts: 2 });
      expect(await metricValue(collector.registry, 'llmeter_prices_fetch_attempts_total', { source: 'aws-spot', result: 'garbage' })).toBe(before + 1);
    } finally {
      await server.close();
    }
  });

  it('the scheduler of llmeter start shuts down at once while an AWS sync waits on a silent endpoint', async () => {
    const silent = await fakeServer(() => undefined);
    try {
      const scheduler = new PriceSyncScheduler(
        [{ source: buildSource(spotCfg(silent.url, 600_000), 'aws-spot'), intervalMs: 3_600_000, lookbackMs: 86_400_000 }],
        deps(),
        0,
      );
      await scheduler.start();
      await waitFor('a request at the silent endpoint', async () => silent.requests.length > 0);
      const t0 = Date.now();
      await scheduler.shutdown();
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      await silent.close();
    }
  });

  it('a sync waiting on an endpoint that never answers stops at once on shutdown', async () => {
    const silent = await fakeServer(() => undefined);
    try {
      const stop = new AbortController();
      setTimeout(() => stop.abort(), 300);
      const t0 = Date.now();
      const r = await syncSource(buildSource(spotCfg(silent.url, 600_000), 'aws-spot'), deps(), { ...window, signal: stop.signal });
      expect(r).toMatchObject({ ok: false, attempts: 1 });
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(await metricValue(collector.registry, 'llmeter_prices_fetch_attempts_total', { source: 'aws-spot', result: 'aborted' })).toBeGreaterThanOrEqual(1);
    } finally {
      await silent.close();
    }
  });
});
