// The signals on their own, with a hand-driven clock and load: idle periods, request rate, drains
// that end, per-model views, and configurations that cannot work.
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { autoscaleConfigSchema } from '../../../collector/features/autoscale/config.ts';
import { MetricUnavailable } from '../../../collector/features/autoscale/errors.ts';
import { ScalerMetrics, type ScalerMetric, type MetricQuery } from '../../../collector/features/autoscale/scaler-metrics.ts';
import type { GpuSampleRecord, ModelServerSampleRecord } from '../../../collector/core/schema/tables.ts';
import { LivePrices } from '../../../exporters/prices/live.ts';
import { dec } from '../../../exporters/prices/money.ts';
import { pricePoint, type CapacityType } from '../../../exporters/prices/point.ts';
import { ProxyState } from '../../../exporters/proxy/state.ts';
import type { SignalBatch } from '../../../exporters/scrape/handler.ts';
import { LiveScrape, type LiveTarget } from '../../../exporters/scrape/live.ts';

function setup(idle = 60) {
  let now = 1_000_000;
  const state = new ProxyState();
  const registry = new Registry();
  const requests = new Counter({
    name: 'llmeter_proxy_requests_total',
    help: 'x',
    labelNames: ['upstream', 'model', 'tenant', 'status', 'error_kind'],
    registers: [registry],
  });
  const cfg = autoscaleConfigSchema.parse({
    enabled: true,
    rate_window_s: 10,
    tiers: [
      { name: 'premium', upstreams: ['gpu-a', 'gpu-b'], idle_seconds: idle },
      { name: 'standard', upstreams: ['cpu'] },
    ],
  });
  const upstreams = [
    { name: 'gpu-a', node: 'n1' },
    { name: 'gpu-b', node: 'n2' },
    { name: 'cpu', node: 'n3' },
  ];
  const signals = new ScalerMetrics({ config: cfg, state, upstreams, registry, now: () => now });
  const changed: string[] = [];
  signals.onChange((t) => changed.push(t));
  return { state, signals, requests, changed, advance: (ms: number) => (now += ms), at: () => now };
}

describe('ScalerMetrics', () => {
  it('is active while anything is in flight or waiting, then until idle_seconds after the last request ended', () => {
    const { state, signals, advance, at } = setup(60);
    const q = { tier: 'premium', model: '' };
    // Nothing known: a collector that just started wakes no pool.
    expect(signals.active(q)).toBe(false);
    advance(61_000);
    expect(signals.active(q)).toBe(false);
    state.arrived('gpu-a', 'llama3.1:70b', at());
    state.inflightDelta('gpu-a', 'llama3.1:70b', 1);
    expect(signals.value(q, 'load')).toBe(1);
    advance(120_000);
    expect(signals.active(q)).toBe(true); // still in flight, however long
    state.inflightDelta('gpu-a', 'llama3.1:70b', -1);
    // It arrived 120 s ago but ended just now: idle counts from its end.
    expect(signals.value(q, 'idle_seconds')).toBe(0);
    expect(signals.active(q)).toBe(true);
    advance(59_000);
    expect(signals.active(q)).toBe(true);
    expect(signals.value(q, 'idle_seconds')).toBe(59);
    advance(1_000);
    expect(signals.active(q)).toBe(false);
    // Per model: `llama3.1:70b` and its `:latest`-less name agree; other models are separate.
    expect(signals.value({ tier: 'premium', model: 'llama3.1:70b' }, 'idle_seconds')).toBe(60);
    expect(signals.active({ tier: 'premium', model: 'qwen3' })).toBe(false);
    expect(signals.value({ tier: 'standard', model: '' }, 'load')).toBe(0);
  });

  it('a request held while the pool wakes counts as work until it has been answered', () => {
    const { state, signals, advance } = setup(60);
    const q = { tier: 'premium', model: '' };
    state.queueDelta('gpu-a', 'llama3.1:70b', 1);
    advance(300_000); // a slow wake, far longer than idle_seconds
    expect(signals.active(q)).toBe(true);
    // Released from the hold: the held count drops before the in-flight one rises.
    state.queueDelta('gpu-a', 'llama3.1:70b', -1);
    expect(signals.active(q)).toBe(true);
    state.inflightDelta('gpu-a', 'llama3.1:70b', 1);
    advance(5_000);
    state.inflightDelta('gpu-a', 'llama3.1:70b', -1);
    advance(59_000);
    expect(signals.active(q)).toBe(true);
    advance(1_000);
    expect(signals.active(q)).toBe(false);
  });

  it('after a restart, idle time counts from the end of the last stored request, not from start-up', () => {
    const { signals, advance, at, changed } = setup(60);
    const q = { tier: 'premium', model: '' };
    advance(7_200_000);
    // Requests that ended 30 s before start (gpu-b) and an hour before (gpu-a); one for an upstream in no tier.
    signals.remember([
      { upstream: 'gpu-a', model: 'llama3.1:70b', at: at() - 3_600_000 },
      { upstream: 'gpu-b', model: 'qwen3:latest', at: at() - 30_000 },
      { upstream: 'elsewhere', model: 'm', at: at() },
    ]);
    expect(changed).toEqual(['premium']);
    expect(signals.active(q)).toBe(true);
    expect(signals.value(q, 'idle_seconds')).toBe(30);
    expect(signals.active({ tier: 'premium', model: 'qwen3' })).toBe(true);
    expect(signals.active({ tier: 'premium', model: 'llama3.1:70b' })).toBe(false);
    expect(signals.value({ tier: 'premium', model: 'llama3.1:70b' }, 'idle_seconds')).toBe(3_600);
    advance(30_000);
    expect(signals.active(q)).toBe(false);
    // A tier with nothing stored is inactive at once.
    expect(signals.active({ tier: 'standard', model: '' })).toBe(false);
  });

  it('tells listeners which tier changed, on load changes and on every tick', async () => {
    const { state, signals, changed } = setup();
    state.queueDelta('cpu', 'm', 1);
    state.queueDelta('elsewhere', 'm', 1);
    expect(changed).toEqual(['standard']);
    await signals.tick();
    expect(changed.slice(1).sort()).toEqual(['premium', 'standard']);
  });

  it("computes the request rate over the window from the proxy's request counter", async () => {
    const { signals, requests, advance } = setup();
    await signals.tick();
    requests.inc({ upstream: 'gpu-a', model: 'llama3', tenant: 't', status: '200', error_kind: '' }, 20);
    requests.inc({ upstream: 'cpu', model: 'qwen', tenant: 't', status: '200', error_kind: '' }, 5);
    advance(10_000);
    await signals.tick();
    expect(signals.value({ tier: 'premium', model: '' }, 'request_rate')).toBe(2);
    expect(signals.value({ tier: 'premium', model: 'llama3' }, 'request_rate')).toBe(2);
    expect(signals.value({ tier: 'premium', model: 'other' }, 'request_rate')).toBe(0);
    expect(signals.value({ tier: 'standard', model: '' }, 'request_rate')).toBe(0.5);
    // Nothing more for a whole window: the rate falls to zero.
    advance(10_000);
    await signals.tick();
    advance(10_000);
    await signals.tick();
    expect(signals.value({ tier: 'premium', model: '' }, 'request_rate')).toBe(0);
  });

  it('drains the upstreams of a node until the drain ends', async () => {
    const { signals, advance, at, changed, state } = setup();
    expect(signals.drain('unknown-node', at() + 1_000)).toEqual([]);
    expect(signals.drain('n2', at() + 120_000)).toEqual(['gpu-b']);
    // The proxy is told too, so it passes over the draining upstream for new requests.
    expect(state.isDraining('gpu-b', at())).toBe(true);
    expect(state.isDraining('gpu-a', at())).toBe(false);
    expect(state.isDraining('gpu-b', at() + 120_000)).toBe(false);
    expect(changed).toEqual(['premium']);
    expect(signals.value({ tier: 'premium', model: '' }, 'draining')).toBe(1);
    expect(signals.isDraining('gpu-a')).toBe(false);
    advance(120_000);
    await signals.tick();
    expect(signals.value({ tier: 'premium', model: '' }, 'draining')).toBe(0);
  });

  it('refuses tiers that name unknown upstreams, or share one', () => {
    const state = new ProxyState();
    const mk = (tiers: unknown) => () =>
      new ScalerMetrics({ config: autoscaleConfigSchema.parse({ tiers }), state, upstreams: [{ name: 'a', node: 'n' }], registry: new Registry() });
    expect(mk([{ name: 't', upstreams: ['b'] }])).toThrow(/names upstream 'b'/);
    expect(
      mk([
        { name: 't', upstreams: ['a'] },
        { name: 'u', upstreams: ['a'] },
      ]),
    ).toThrow(/in tiers 't' and 'u'/);
    expect(
      mk([
        { name: 't', upstreams: ['a'] },
        { name: 't', upstreams: ['a'] },
      ]),
    ).toThrow(/configured twice/);
    expect(() => autoscaleConfigSchema.parse({ tiers: [{ name: 't', upstreams: [] }] })).toThrow();
    expect(() => autoscaleConfigSchema.parse({ bogus: 1 })).toThrow();
  });
});

// --- signals from the scrapers, the price syncs and notices, with hand-fed hubs -------------------

function liveSetup(autoscale: Record<string, unknown> = {}) {
  let now = 5_000_000;
  const state = new ProxyState();
  const registry = new Registry();
  const tokens = new Counter({ name: 'llmeter_proxy_tokens_total', help: 'x', labelNames: ['upstream', 'model', 'tenant', 'kind'], registers: [registry] });
  const cfg = autoscaleConfigSchema.parse({
    enabled: true,
    rate_window_s: 10,
    drain_hold_ms: 60_000,
    tiers: [
      { name: 'premium', upstreams: ['vllm-a', 'vllm-b'], pricing: { instance_type: 'g5.xlarge', provider: 'aws', region: 'us-east-1' } },
      { name: 'standard', upstreams: ['cpu'] },
    ],
    ...autoscale,
  });
  const upstreams = [
    { name: 'vllm-a', node: 'n1', origin: '10.0.0.1:8000' },
    { name: 'vllm-b', node: 'n2', origin: '10.0.0.2:8000' },
    { name: 'cpu', node: 'n3', origin: '10.0.0.3:11434' },
  ];
  const scraped = new LiveScrape();
  const prices = new LivePrices();
  const signals = new ScalerMetrics({ config: cfg, state, upstreams, registry, now: () => now, scraped, prices });
  return { signals, registry, tokens, scraped, prices, advance: (ms: number) => (now += ms), at: () => now };
}

const vllmTarget = (name: string, origin: string, intervalMs = 10_000): LiveTarget => ({ name, kind: 'vllm', origin, intervalMs });
const kv = (node: string, model: string, value: number, engine = '0'): SignalBatch => {
  const r: ModelServerSampleRecord = { ts: 0, server: 's', node, model, engine, metric: 'vllm:kv_cache_usage_perc', kind: 'gauge', value, labels: {} };
  return { signal: 'model_server_sample', records: [r] };
};
const util = (node: string, uuid: string, value: number, mig = ''): SignalBatch => {
  const r: GpuSampleRecord = { ts: 0, node, gpu_uuid: uuid, mig_instance: mig, field: 'utilization', value, unit: 'ratio' };
  return { signal: 'gpu_sample', records: [r] };
};

function unavailable(signals: ScalerMetrics, q: MetricQuery, s: ScalerMetric): string {
  try {
    signals.value(q, s);
  } catch (err) {
    expect(err).toBeInstanceOf(MetricUnavailable);
    return (err as Error).message;
  }
  throw new Error(`${s} was available`);
}

const premium = { tier: 'premium', model: '' };

describe('ScalerMetrics from scrapes, prices and notices', () => {
  it('tokens_per_second: output tokens (not input) per second over the rate window', async () => {
    const { signals, tokens, advance } = liveSetup();
    await signals.tick();
    tokens.inc({ upstream: 'vllm-a', model: 'qwen3', tenant: 't', kind: 'output' }, 300);
    tokens.inc({ upstream: 'vllm-a', model: 'qwen3', tenant: 't', kind: 'input' }, 5_000);
    tokens.inc({ upstream: 'vllm-b', model: 'llama3', tenant: 'u', kind: 'output' }, 100);
    tokens.inc({ upstream: 'cpu', model: 'qwen3', tenant: 't', kind: 'output' }, 50);
    advance(10_000);
    await signals.tick();
    expect(signals.value(premium, 'tokens_per_second')).toBe(40);
    expect(signals.value({ tier: 'premium', model: 'qwen3' }, 'tokens_per_second')).toBe(30);
    expect(signals.value({ tier: 'standard', model: '' }, 'tokens_per_second')).toBe(5);
  });

  it('kv_cache_usage: mean over fresh readings; servers found by host:port first, then by node', () => {
    const { signals, scraped, advance } = liveSetup();
    expect(unavailable(signals, premium, 'kv_cache_usage')).toMatch(/no vllm scrape target is configured/);
    // Same host:port as upstream vllm-a, though its node says n3 (the standard tier's node).
    scraped.observe(vllmTarget('a', '10.0.0.1:8000'), [kv('n3', 'qwen3', 0.6)], 5_000_000);
    // No upstream on its host:port: its node n2 puts it in premium. Two engines, each a reading.
    scraped.observe(vllmTarget('b', '10.9.9.9:8000'), [kv('n2', 'qwen3', 0.2, '0'), kv('n2', 'llama3', 0.1, '1')], 5_000_000);
    expect(signals.value(premium, 'kv_cache_usage')).toBeCloseTo((0.6 + 0.2 + 0.1) / 3, 12);
    expect(signals.value({ tier: 'premium', model: 'qwen3' }, 'kv_cache_usage')).toBeCloseTo(0.4, 12);
    // Models of the tier's servers get their own kv_cache_usage series on /metrics.
    expect(signals.servedModels('premium')).toEqual(['llama3', 'qwen3']);
    expect(signals.servedModels('standard')).toEqual([]);
    expect(unavailable(signals, { tier: 'standard', model: '' }, 'kv_cache_usage')).toMatch(/^kv_cache_usage for tier 'standard': no reading/);
    // Default bound: twice the target's interval (10 s). At 20 s the readings still count; past it, not.
    advance(20_000);
    expect(signals.value({ tier: 'premium', model: 'llama3' }, 'kv_cache_usage')).toBe(0.1);
    advance(1);
    expect(unavailable(signals, premium, 'kv_cache_usage')).toBe(
      "kv_cache_usage for tier 'premium': readings are stale: the newest of 3 is 20 s old (bound 20 s); is the vllm target up?",
    );
    // A fresh page of one target brings the signal back, from that target alone.
    scraped.observe(vllmTarget('b', '10.9.9.9:8000'), [kv('n2', 'qwen3', 0.3)], 5_020_001);
    expect(signals.value(premium, 'kv_cache_usage')).toBe(0.3);
    // That page no longer has the engine serving llama3.
    expect(unavailable(signals, { tier: 'premium', model: 'llama3' }, 'kv_cache_usage')).toMatch(/no reading .* for model 'llama3'/);
  });

  it("gpu_utilization: mean over the GPUs and MIG slices on the tier's nodes; stale_after_ms overrides the bound", () => {
    const { signals, scraped, advance } = liveSetup({ stale_after_ms: 5_000 });
    const dcgm: LiveTarget = { name: 'dcgm', kind: 'dcgm', origin: 'x:9400', intervalMs: 60_000 };
    scraped.observe(dcgm, [util('n1', 'GPU-1', 0.9), util('n2', 'GPU-2', 0.3, '1'), util('n2', 'GPU-2', 0.0, '2'), util('n3', 'GPU-3', 1)], 5_000_000);
    expect(signals.value(premium, 'gpu_utilization')).toBeCloseTo(0.4, 12);
    expect(signals.value({ tier: 'standard', model: '' }, 'gpu_utilization')).toBe(1);
    advance(5_001);
    expect(unavailable(signals, premium, 'gpu_utilization')).toMatch(/stale: the newest of 3 is 5 s old \(bound 5 s\)/);
    // A page without a GPU it had before forgets it.
    scraped.observe(dcgm, [util('n1', 'GPU-1', 0.5)], 5_005_001);
    expect(signals.value(premium, 'gpu_utilization')).toBe(0.5);
  });

  it("prices: the tier's instance type and region; the zone or else the lowest zone; book first; stale after twice the sync interval", () => {
    const { signals, prices, advance, at } = liveSetup();
    expect(unavailable(signals, premium, 'spot_price')).toMatch(/no price source has synced/);
    expect(unavailable(signals, { tier: 'standard', model: '' }, 'spot_price')).toMatch(/no `pricing`/);
    const pt = (
      capacityType: CapacityType,
      zone: string,
      usd: string,
      over: Partial<{ instanceType: string; region: string; os: string; provider: string }> = {},
    ) =>
      pricePoint({
        effectiveFrom: at() - 60_000,
        provider: over.provider ?? 'aws',
        region: over.region ?? 'us-east-1',
        zone,
        instanceType: over.instanceType ?? 'g5.xlarge',
        capacityType,
        os: over.os,
        usdPerHour: dec(usd),
        rawPrice: usd,
        rawUnit: 'hour',
        source: 'x',
        gpu: { model: 'A10G', count: 1 },
        observedAt: at(),
      });
    prices.expect('aws-spot', 3_600_000);
    prices.expect('aws-on-demand', 86_400_000);
    prices.observe(
      'aws-spot',
      [
        pt('spot', 'us-east-1a', '0.45'),
        pt('spot', 'us-east-1b', '0.39'),
        pt('spot', 'us-east-1c', '0.10', { os: 'windows' }),
        pt('spot', 'us-west-2a', '0.20', { region: 'us-west-2' }),
        pt('spot', 'us-east-1a', '0.05', { instanceType: 'g5.2xlarge' }),
      ],
      at(),
    );
    prices.observe('aws-on-demand', [pt('on_demand', '', '1.006')], at());
    expect(signals.value(premium, 'spot_price')).toBe(0.39);
    expect(signals.value(premium, 'on_demand_price')).toBe(1.006);
    expect(signals.value(premium, 'spot_discount')).toBeCloseTo(1 - 0.39 / 1.006, 12);
    // A later change of the same series replaces it; an older one does not.
    prices.observe(
      'aws-spot',
      [
        { ...pt('spot', 'us-east-1b', '0.41'), effective_from: at() - 1_000 },
        { ...pt('spot', 'us-east-1a', '0.01'), effective_from: at() - 3_600_000 },
      ],
      at(),
    );
    expect(signals.value(premium, 'spot_price')).toBe(0.41);
    // Two sync intervals without a successful sync: the spot price is stale, the daily on-demand one is not.
    advance(7_200_001);
    expect(unavailable(signals, premium, 'spot_price')).toBe(
      "spot_price for tier 'premium': the spot price of g5.xlarge / aws / us-east-1 is stale: its source last synced 2.0 h ago (bound 2.0 h)",
    );
    expect(unavailable(signals, premium, 'spot_discount')).toMatch(/^spot_discount for tier 'premium': the spot price/);
    expect(signals.value(premium, 'on_demand_price')).toBe(1.006);
    // A price-book entry for every region wins over the feed, and never goes stale.
    prices.expect('book', Number.POSITIVE_INFINITY);
    prices.observe('book', [pt('spot', '', '0.30', { provider: 'book', region: '' })], at());
    advance(30 * 86_400_000);
    expect(signals.value(premium, 'spot_price')).toBe(0.3);
  });

  it("prices: a tier that names a zone gets that zone's price", () => {
    const { signals, prices, at } = liveSetup({
      tiers: [{ name: 'premium', upstreams: ['vllm-a'], pricing: { instance_type: 'g5.xlarge', region: 'us-east-1', zone: 'us-east-1a' } }],
    });
    const mk = (zone: string, usd: string) =>
      pricePoint({
        effectiveFrom: at() - 1,
        provider: 'aws',
        region: 'us-east-1',
        zone,
        instanceType: 'g5.xlarge',
        capacityType: 'spot',
        usdPerHour: dec(usd),
        rawPrice: usd,
        rawUnit: 'hour',
        source: 's',
        gpu: { model: '', count: 1 },
        observedAt: at(),
      });
    prices.observe('aws-spot', [mk('us-east-1a', '0.45'), mk('us-east-1b', '0.39')], at());
    expect(signals.value(premium, 'spot_price')).toBe(0.45);
    expect(unavailable(signals, premium, 'on_demand_price')).toBe(
      "on_demand_price for tier 'premium': no on_demand price for g5.xlarge / us-east-1 / us-east-1a from the sources synced (aws-spot)",
    );
  });

  it('interruptions_pending: tier nodes with a notice until its time; draining counts upstreams and lasts a minute longer', async () => {
    const { signals, advance, at, registry } = liveSetup();
    signals.notice({ node: 'n1', until: at() + 120_000 });
    signals.notice({ node: 'n1', until: at() + 30_000 });
    signals.notice({ node: 'elsewhere', until: at() + 120_000 });
    signals.drain('n1', at() + 180_000);
    expect(signals.value(premium, 'interruptions_pending')).toBe(1);
    expect(signals.value({ tier: 'standard', model: '' }, 'interruptions_pending')).toBe(0);
    advance(120_000);
    await signals.tick();
    expect(signals.value(premium, 'interruptions_pending')).toBe(0);
    expect(signals.value(premium, 'draining')).toBe(1);
    // /metrics: node-level signals have the tier's series only; unavailable ones have none.
    const text = await registry.metrics();
    expect(text).toMatch(/^llmeter_autoscale_interruptions_pending\{tier="premium",model="\*"\} 0$/m);
    expect(text).not.toMatch(/^llmeter_autoscale_kv_cache_usage\{/m);
    expect(text).not.toMatch(/^llmeter_autoscale_spot_price\{/m);
  });

  it('without hubs, the scraped and price signals say what is missing', () => {
    const state = new ProxyState();
    const cfg = autoscaleConfigSchema.parse({ tiers: [{ name: 't', upstreams: ['a'], pricing: { instance_type: 'x' } }] });
    const signals = new ScalerMetrics({ config: cfg, state, upstreams: [{ name: 'a', node: 'n' }], registry: new Registry() });
    const q = { tier: 't', model: '' };
    expect(unavailable(signals, q, 'kv_cache_usage')).toMatch(/runs no scrapers/);
    expect(unavailable(signals, q, 'gpu_utilization')).toMatch(/runs no scrapers/);
    expect(unavailable(signals, q, 'on_demand_price')).toMatch(/runs no price syncs/);
    expect(() => autoscaleConfigSchema.parse({ tiers: [{ name: 't', upstreams: ['a'], pricing: {} }] })).toThrow();
  });
});
