// The signals that come from outside the proxy's own load, in a running collector configured the way
// `llmeter start` runs it: vLLM and dcgm-exporter pages (real captures, two with one value rewritten
// so the averages are not all zero) scraped over HTTP by the real scrapers; the spot price from a
// fake EC2 endpoint answering the captured DescribeSpotPriceHistory page, the on-demand price from the
// price book; tokens per second from real traffic through the proxy; notices through the hub. Each
// value is read on /metrics and through GetMetrics, as KEDA would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { ExternalScalerServer } from '../../../collector/features/autoscale/scaler.ts';
import type { Scraper } from '../../../exporters/scrape/scraper.ts';
import { FakeUpstream, lines, FIX } from '../../helpers/fake-upstream.ts';
import { fakeServer, fixture as priceFixture, send, type FakeServer } from '../../helpers/prices.ts';
import { fixture, PageServer } from '../../helpers/page-server.ts';
import { testConfig } from '../../helpers/store.ts';
import { kedaClient, type KedaClient, type Ref } from '../../helpers/keda-client.ts';
import { waitFor } from '../../helpers/wait.ts';
import { textMetricValue } from '../../helpers/metrics.ts';

const SCRAPE_MS = 250;
const STALE_MS = 2_000;

// Inputs, and what the signals must make of them.
const KV_A = 0.42; // vllm-a (V1 page, Qwen/Qwen3-0.6B, engine 0) on gpu-node-1
const KV_B = 0.16; // vllm-b (older page, vllm:gpu_cache_usage_perc, Qwen2.5-Coder-32B) on gpu-node-2
const KV_STD = 0.9; // vllm-std on cpu-node-1: the standard tier's, never the premium's
const UTIL_B_PERCENT = 50; // dcgm-b (RTX A5000) on gpu-node-2; dcgm-a (4x V100) reports 0 % for its one GPU_UTIL
const ON_DEMAND = '0.41'; // price book, m3.medium on demand in us-west-2

const pages = new PageServer();
let gpu: FakeUpstream;
let ec2: FakeServer;
let collector: Collector;
let keda: KedaClient;

const ref = (md: Record<string, string>): Ref => ({ name: 'pool', namespace: 'llm', scalerMetadata: md });
const metric = async (md: Record<string, string>) => (await keda.metrics(ref(md), 'm'))[0]!.metricValueFloat;

function withValue(page: string, series: string, value: string): string {
  const re = new RegExp(`^(${series.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\{[^}]*\\}) \\S+$`, 'm');
  expect(page).toMatch(re);
  return page.replace(re, `$1 ${value}`);
}

async function scrape(): Promise<string> {
  const res = await request(`http://${collector.address}/metrics`);
  return res.body.text();
}

function series(page: string, name: string, tier: string, model = '*'): number | undefined {
  return textMetricValue(page, `llmeter_autoscale_${name}`, { tier, model });
}

function scraper(): Scraper {
  return collector.components.find((c) => c.name === 'scrape') as Scraper;
}

beforeAll(async () => {
  await pages.start();
  gpu = new FakeUpstream({ pace: 0.001 });
  const gpuUrl = await gpu.start();
  ec2 = await fakeServer((_req, res) => send(res, 200, priceFixture('aws-spot-price-history-response.xml'), 'text/xml'));
  const v1 = fixture('vllm', 'vllm-metrics-v1-grep-after-10-requests.prom');
  pages.set('/vllm-a', { body: withValue(v1, 'vllm:kv_cache_usage_perc', String(KV_A)) });
  pages.set('/vllm-b', { body: withValue(fixture('vllm', 'vllm-metrics-v0-legacy-router.prom'), 'vllm:gpu_cache_usage_perc', String(KV_B)) });
  pages.set('/vllm-std', { body: withValue(v1, 'vllm:kv_cache_usage_perc', String(KV_STD)) });
  pages.set('/dcgm-a', { body: fixture('dcgm', 'dcgm-multi-gpu-4xv100-hostname.prom') });
  pages.set('/dcgm-b', { body: withValue(fixture('dcgm', 'dcgm-rtxa5000-driver-label.prom'), 'DCGM_FI_DEV_GPU_UTIL', String(UTIL_B_PERCENT)) });
  const target = (name: string, kind: string, node: string) => ({ name, kind, url: pages.url(`/${name}`), node });
  collector = await startCollector(
    testConfig({
      pipeline: { batch_ms: 50 },
      proxy: {
        enabled: true,
        listen: '127.0.0.1:0',
        anonymous_tenant: 'anon',
        ps_poll_ms: 0,
        upstreams: [
          { name: 'gpu-a', url: gpuUrl, node: 'gpu-node-1', models: ['llama3*'] },
          { name: 'gpu-b', url: gpuUrl, node: 'gpu-node-2', models: ['qwen*'] },
          { name: 'cpu-a', url: gpuUrl, node: 'cpu-node-1' },
        ],
      },
      scrape: {
        enabled: true,
        interval_ms: SCRAPE_MS,
        jitter_ratio: 0,
        inventory: { enabled: false },
        targets: [
          target('vllm-a', 'vllm', 'gpu-node-1'),
          target('vllm-b', 'vllm', 'gpu-node-2'),
          target('vllm-std', 'vllm', 'cpu-node-1'),
          target('dcgm-a', 'dcgm', 'gpu-node-1'),
          target('dcgm-b', 'dcgm', 'gpu-node-2'),
        ],
      },
      prices: {
        enabled: true,
        first_sync_delay_ms: 0,
        sources: {
          aws_spot: {
            enabled: true,
            endpoint: ec2.url,
            regions: ['us-west-2'],
            instance_types: ['m3.medium'],
            credentials: { access_key_id: 'AKIDEXAMPLE', secret_access_key: 'fake-secret' },
          },
        },
        book: [{ instance_type: 'm3.medium', region: 'us-west-2', capacity_type: 'on_demand', price: ON_DEMAND }],
      },
      autoscale: {
        enabled: true,
        // Counters are sampled only at start and when the test asks, so both rates share one interval.
        evaluate_ms: 3_600_000,
        rate_window_s: 3_600,
        stale_after_ms: STALE_MS,
        tiers: [
          { name: 'premium', upstreams: ['gpu-a', 'gpu-b'], pricing: { instance_type: 'm3.medium', provider: 'aws', region: 'us-west-2' } },
          { name: 'standard', upstreams: ['cpu-a'] },
        ],
        scaler: { listen: '127.0.0.1:0' },
      },
    }),
    silentLogger,
  );
  const s = collector.components.find((c) => c instanceof ExternalScalerServer) as ExternalScalerServer;
  keda = kedaClient(s.address());
  await waitFor('every target scraped', () =>
    scraper()
      .statuses()
      .every((t) => t.lastSuccessAt !== null),
  );
}, 60_000);

afterAll(async () => {
  keda?.close();
  await collector?.shutdown();
  await Promise.all([gpu?.close(), ec2?.close(), pages.stop()]);
});

describe('scraped signals', () => {
  it("kv_cache_usage: the mean over the tier's vLLM servers (matched by node), per model by model_name", async () => {
    expect(await metric({ tier: 'premium', metric: 'kv_cache_usage' })).toBeCloseTo((KV_A + KV_B) / 2, 12);
    expect(await metric({ tier: 'premium', metric: 'kv_cache_usage', model: 'Qwen/Qwen3-0.6B' })).toBe(KV_A);
    // The older page's deprecated name counts under the current one.
    expect(await metric({ tier: 'premium', metric: 'kv_cache_usage', model: 'Qwen/Qwen2.5-Coder-32B-Instruct' })).toBe(KV_B);
    expect(await metric({ tier: 'standard', metric: 'kv_cache_usage' })).toBe(KV_STD);
    const page = await scrape();
    expect(series(page, 'kv_cache_usage', 'premium')).toBeCloseTo((KV_A + KV_B) / 2, 12);
    expect(series(page, 'kv_cache_usage', 'premium', 'Qwen/Qwen3-0.6B')).toBe(KV_A);
    expect(series(page, 'kv_cache_usage', 'standard')).toBe(KV_STD);
  });

  it('a model no server of the tier reports is UNAVAILABLE, naming the signal', async () => {
    await expect(keda.metrics(ref({ tier: 'premium', metric: 'kv_cache_usage', model: 'llama3.2' }), 'm')).rejects.toMatchObject({
      code: 14,
      details: expect.stringMatching(/^kv_cache_usage for tier 'premium': no reading .*model 'llama3.2'/),
    });
  });

  it("gpu_utilization: the mean over the GPUs of the tier's nodes, as a ratio; a tier with none has no value", async () => {
    expect(await metric({ tier: 'premium', metric: 'gpu_utilization' })).toBe((0 + UTIL_B_PERCENT / 100) / 2);
    const page = await scrape();
    expect(series(page, 'gpu_utilization', 'premium')).toBe(0.25);
    // Node-level: no per-model series, and no series at all for a tier without readings.
    expect(page).not.toMatch(/^llmeter_autoscale_gpu_utilization\{tier="premium",model="(?!\*)/m);
    expect(series(page, 'gpu_utilization', 'standard')).toBeUndefined();
    await expect(keda.metrics(ref({ tier: 'standard', metric: 'gpu_utilization' }), 'm')).rejects.toMatchObject({
      code: 14,
      details: expect.stringContaining("gpu_utilization for tier 'standard': no reading for GPUs on the tier's nodes (cpu-node-1)"),
    });
  });
});

describe('prices', () => {
  it("spot and on-demand price of the tier's instance type, and the discount", async () => {
    await waitFor('the spot price sync', async () => series(await scrape(), 'spot_price', 'premium') !== undefined);
    // The capture's Linux/UNIX price in us-west-2a; its Windows row (0.033) is another OS.
    expect(await metric({ tier: 'premium', metric: 'spot_price' })).toBe(0.287);
    expect(await metric({ tier: 'premium', metric: 'on_demand_price' })).toBe(Number(ON_DEMAND));
    expect(await metric({ tier: 'premium', metric: 'spot_discount' })).toBeCloseTo(1 - 0.287 / 0.41, 12);
    const page = await scrape();
    expect(series(page, 'spot_price', 'premium')).toBe(0.287);
    expect(series(page, 'on_demand_price', 'premium')).toBe(0.41);
    expect(series(page, 'spot_discount', 'premium')).toBeCloseTo(0.3, 12);
    expect(series(page, 'spot_price', 'standard')).toBeUndefined();
  });
});

describe('proxy and notices', () => {
  it('tokens_per_second counts output tokens only, over the same window as request_rate', async () => {
    const last = JSON.parse(lines(FIX.chatStream).at(-1)!) as { eval_count: number; prompt_eval_count: number };
    expect(last.eval_count).not.toBe(last.prompt_eval_count);
    const proxy = collector.components.find((c) => c.name === 'proxy') as unknown as { address(): string };
    for (let i = 0; i < 4; i++) {
      const res = await request(`http://${proxy.address()}/api/chat`, {
        method: 'POST',
        body: JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: true }),
      });
      await res.body.text();
      expect(res.statusCode).toBe(200);
    }
    await collector.components.find((c) => c.name === 'autoscale-signals')!.forceFlush();
    const rate = await metric({ tier: 'premium', metric: 'request_rate' });
    const tps = await metric({ tier: 'premium', metric: 'tokens_per_second' });
    expect(rate).toBeGreaterThan(0);
    expect(tps / rate).toBeCloseTo(last.eval_count, 9);
    expect(await metric({ tier: 'premium', metric: 'tokens_per_second', model: 'llama3.2' })).toBe(tps);
    expect(await metric({ tier: 'standard', metric: 'tokens_per_second' })).toBe(0);
    // The proxy labels an Ollama model by its full name (docs/proxy.md), whatever the client sent.
    expect(series(await scrape(), 'tokens_per_second', 'premium', 'llama3.2:latest')).toBe(tps);
  });

  it('interruptions_pending counts nodes with a notice still to come; node_down drains but is not pending', async () => {
    const hub = collector.provided!.prices.notices;
    const now = Date.now();
    const base = { ts: now, provider: 'aws' as const, channel: 'imds', action: '', detail: {} };
    expect(await metric({ tier: 'premium', metric: 'interruptions_pending' })).toBe(0);
    await hub.report({ ...base, eventId: 't:1', kind: 'rebalance_recommendation', node: 'gpu-node-2', instanceId: 'i-2', actionAt: null });
    await hub.report({ ...base, eventId: 't:2', kind: 'spot_interruption', node: 'gpu-node-2', instanceId: 'i-2', actionAt: now + 120_000 });
    expect(await metric({ tier: 'premium', metric: 'interruptions_pending' })).toBe(1);
    await hub.report({ ...base, eventId: 't:3', kind: 'spot_interruption', node: 'gpu-node-1', instanceId: 'i-1', actionAt: now + 120_000 });
    expect(await metric({ tier: 'premium', metric: 'interruptions_pending' })).toBe(2);
    await hub.report({ ...base, eventId: 't:4', kind: 'node_down', node: 'cpu-node-1', instanceId: 'i-3', actionAt: null });
    expect(await metric({ tier: 'standard', metric: 'draining' })).toBe(1);
    expect(await metric({ tier: 'standard', metric: 'interruptions_pending' })).toBe(0);
    const page = await scrape();
    expect(series(page, 'interruptions_pending', 'premium')).toBe(2);
    expect(series(page, 'interruptions_pending', 'standard')).toBe(0);
  });
});

describe('trigger metadata', () => {
  it('refuses a model on node-level metrics and price metrics on a tier without pricing', async () => {
    for (const m of ['gpu_utilization', 'spot_price', 'interruptions_pending']) {
      await expect(keda.metricSpec(ref({ tier: 'premium', metric: m, model: 'llama3.2' }))).rejects.toMatchObject({
        code: 3,
        details: expect.stringContaining(`metric '${m}' is per tier`),
      });
    }
    await expect(keda.metricSpec(ref({ tier: 'standard', metric: 'spot_discount' }))).rejects.toMatchObject({
      code: 3,
      details: expect.stringContaining("tier 'standard' has none"),
    });
    expect(await keda.metricSpec(ref({ tier: 'premium', metric: 'kv_cache_usage', target: '0.8' }))).toEqual([
      { metricName: 'llmeter-kv-cache-usage-premium', targetSize: 1, targetSizeFloat: 0.8 },
    ]);
  });
});

// Last: it takes the vLLM pages down.
describe('staleness', () => {
  it('readings older than stale_after_ms are left out; with none left the signal is UNAVAILABLE and off /metrics', async () => {
    pages.set('/vllm-b', { status: 500, body: 'engine dead' });
    const failedAt = Date.now();
    await waitFor('vllm-b to go stale', async () => (await metric({ tier: 'premium', metric: 'kv_cache_usage' })) === KV_A);
    expect(Date.now() - failedAt).toBeGreaterThanOrEqual(STALE_MS - SCRAPE_MS);
    pages.set('/vllm-a', { status: 500, body: 'engine dead' });
    await waitFor('vllm-a to go stale', async () => series(await scrape(), 'kv_cache_usage', 'premium') === undefined);
    await expect(keda.metrics(ref({ tier: 'premium', metric: 'kv_cache_usage' }), 'm')).rejects.toMatchObject({
      code: 14,
      details: expect.stringMatching(/^kv_cache_usage for tier 'premium': readings are stale: the newest of 2 is \d+ s old \(bound 2 s\)/),
    });
    // The other tier's server still answers.
    expect(await metric({ tier: 'standard', metric: 'kv_cache_usage' })).toBe(KV_STD);
  });
});
