import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chargeback } from '../../../collector/features/cost/chargeback.ts';
import { toCsv, toHtml } from '../../../collector/features/cost/formats.ts';
import type { Pipeline } from '../../../collector/core/pipeline/pipeline.ts';
import { FleetBuilder, H, M, openCostStore, type CostStore } from '../../helpers/cost-fleet.ts';

let t: CostStore;
let pipeline: Pipeline;
beforeAll(async () => {
  t = await openCostStore();
  pipeline = t.pipeline;
});
afterAll(async () => t?.close());

// Each scenario lives on its own day so they do not see each other.
const day = (n: number) => Date.UTC(2026, 9, n);

describe('chargeback: the hand-computed scenario', () => {
  const T = day(1) + 10 * H;
  beforeAll(async () => {
    const f = new FleetBuilder()
      .node({ node: 'hand-1', instance_type: 'g5.xlarge', up: [[T, T + H]] })
      .price({ instance_type: 'g5.xlarge', from: day(1), usd: '2.00' });
    // A: 900 GPU-seconds in three requests; B: 1800 in two.
    for (const k of [0, 1, 2]) f.request({ tenant: 'A', node: 'hand-1', at: T + k * 600_000, gpuSeconds: 300 });
    for (const k of [0, 1]) f.request({ tenant: 'B', node: 'hand-1', at: T + 1_800_000 + k * 900_000, gpuSeconds: 900 });
    await f.load(pipeline);
  });

  it('separate idle: A $0.50, B $1.00, idle $0.50', async () => {
    const r = await chargeback(t.store, { from: new Date(T), to: new Date(T + H), idle: 'separate' });
    expect(r.tenants.map((x) => [x.tenant, x.gpu_seconds, x.usage_cost, x.idle_share, x.total])).toEqual([
      ['A', 900, '0.50', '0.00', '0.50'],
      ['B', 1800, '1.00', '0.00', '1.00'],
    ]);
    expect(r.totals).toMatchObject({
      fleet_cost: '2.00',
      tenants_total: '1.50',
      unshared_idle: '0.50',
      idle_total: '0.50',
      reconciliation: '0.00',
      node_count: 1,
      device_hours: 1,
    });
  });

  it('share-weighted idle: A $0.67 (0.6667), B $1.33 (1.3333), nothing unshared', async () => {
    const r = await chargeback(t.store, { from: new Date(T), to: new Date(T + H), idle: 'share-weighted' });
    expect(r.tenants.map((x) => [x.tenant, x.usage_cost, x.idle_share, x.total])).toEqual([
      ['A', '0.50', '0.17', '0.67'],
      ['B', '1.00', '0.33', '1.33'],
    ]);
    expect(r.totals).toMatchObject({ fleet_cost: '2.00', tenants_total: '2.00', unshared_idle: '0.00', reconciliation: '0.00' });
  });

  it('share-even idle: each tenant takes half of the idle', async () => {
    const r = await chargeback(t.store, { from: new Date(T), to: new Date(T + H), idle: 'share-even' });
    expect(r.tenants.map((x) => [x.tenant, x.total])).toEqual([
      ['A', '0.75'],
      ['B', '1.25'],
    ]);
  });

  it('raw tables and rollups give the same report', async () => {
    const a = await chargeback(t.store, { from: new Date(T), to: new Date(T + H), idle: 'share-weighted', source: 'raw' });
    const b = await chargeback(t.store, { from: new Date(T), to: new Date(T + H), idle: 'share-weighted', source: 'rollup' });
    // Only how they were computed differs: the raw path computes every hour, the rollup path keeps it.
    expect(a.computed).toEqual({ kept_hours: 0, computed_hours: 1 });
    expect(b.computed).toEqual({ kept_hours: 1, computed_hours: 0 });
    expect({ ...a, computed: b.computed }).toEqual(b);
  });

  it('the node section: the device-hours, cost, use, idle and price gaps; in CSV lines of their own', async () => {
    const r = await chargeback(t.store, { from: new Date(T), to: new Date(T + H), idle: 'share-weighted' });
    expect(r.nodes).toEqual([
      {
        node: 'hand-1',
        pool: 'gpu-pool',
        instance_type: 'g5.xlarge',
        provider: 'aws',
        region: 'us-east-1',
        zone: 'us-east-1a',
        capacity_type: 'on_demand',
        device_hours: 1,
        cost: '2.00',
        cost_exact: '2.000000',
        used: '1.50',
        used_exact: '1.500000',
        idle: '0.50',
        idle_exact: '0.500000',
        idle_with_model_resident: '0.00',
        on_demand_fallback_minutes: 0,
        unpriced_minutes: 0,
      },
    ]);
    const csv = toCsv(r).trim().split('\n');
    const head = csv[0]!.split(',');
    const node = csv.find((l) => l.startsWith('node,'))!.split(',');
    const col = (name: string) => node[head.indexOf(name)];
    expect([node[1], col('node_pool'), col('device_hours'), col('usage_cost_usd'), col('idle_share_usd'), col('total_usd'), col('unpriced_minutes')]).toEqual([
      'hand-1',
      'gpu-pool',
      '1',
      '1.50',
      '0.50',
      '2.00',
      '0',
    ]);
    const page = toHtml(r, { byDay: [], byModel: [], generatedAt: new Date(0) });
    expect(page).toMatch(/<table id="nodes">[\s\S]*<td>hand-1<\/td><td>gpu-pool<\/td>/);
  });

  it('effective price per million tokens', async () => {
    const r = await chargeback(t.store, { from: new Date(T), to: new Date(T + H) });
    // A moved 3 × 300 tokens for $0.50.
    expect(r.tenants[0]!.usd_per_million_tokens).toBe('555.5556');
  });
});

describe('chargeback: prices, overlap, departures, idle tenants', () => {
  it('a spot price change mid-hour is priced per segment', async () => {
    const T = day(2) + 10 * H;
    await new FleetBuilder()
      .node({ node: 'spot-1', instance_type: 'g5.2xlarge', capacity_type: 'spot', zone: 'us-east-1b', up: [[T, T + H]] })
      .price({ instance_type: 'g5.2xlarge', capacity_type: 'spot', zone: 'us-east-1b', from: day(2), usd: '0.60' })
      .price({ instance_type: 'g5.2xlarge', capacity_type: 'spot', zone: 'us-east-1b', from: T + 30 * M, usd: '1.20' })
      .price({ instance_type: 'g5.2xlarge', capacity_type: 'on_demand', from: day(2), usd: '1.212' })
      .request({ tenant: 'A', node: 'spot-1', at: T + 40 * M, gpuSeconds: 1800 })
      .load(pipeline);
    const r = await chargeback(t.store, { from: new Date(T), to: new Date(T + H) });
    // 30 min at $0.60 + 30 min at $1.20 = $0.90; A used half the hour.
    expect(r.totals.fleet_cost).toBe('0.90');
    expect(r.totals.on_demand_fallback_minutes).toBe(0);
    expect(r.tenants[0]!.usage_cost).toBe('0.45');
  });

  it('a spot node with no spot price falls back to on-demand and says so', async () => {
    const T = day(3) + 10 * H;
    await new FleetBuilder()
      .node({ node: 'spot-nofeed', instance_type: 'p4d.24xlarge', capacity_type: 'spot', zone: 'us-east-1c', gpus: 8, up: [[T, T + 30 * M]] })
      .price({ instance_type: 'p4d.24xlarge', capacity_type: 'on_demand', from: day(3), usd: '32.7726' })
      .load(pipeline);
    const r = await chargeback(t.store, { from: new Date(T), to: new Date(T + H) });
    expect(r.totals.fleet_cost).toBe('16.39');
    expect(r.totals.on_demand_fallback_minutes).toBe(30);
    expect(r.totals.unshared_idle).toBe('16.39');
  });

  it('overlapping requests never sell a GPU-second twice', async () => {
    const T = day(4) + 10 * H;
    const f = new FleetBuilder()
      .node({ node: 'busy-1', instance_type: 'g5.xlarge', up: [[T, T + H]] })
      .price({ instance_type: 'g5.xlarge', from: day(4), usd: '2.00' });
    // 2 tenants, 4 parallel slots: 2 × 3600 + 1 × 3600 GPU-seconds claimed on a 3600-second GPU.
    f.request({ tenant: 'A', node: 'busy-1', at: T, gpuSeconds: 3600 }).request({ tenant: 'A', node: 'busy-1', at: T, gpuSeconds: 3600 });
    f.request({ tenant: 'B', node: 'busy-1', at: T, gpuSeconds: 3600 });
    await f.load(pipeline);
    const r = await chargeback(t.store, { from: new Date(T), to: new Date(T + H) });
    expect(r.tenants.map((x) => [x.tenant, x.gpu_seconds, x.total])).toEqual([
      ['A', 2400, '1.33'],
      ['B', 1200, '0.67'],
    ]);
    expect(r.totals).toMatchObject({ fleet_cost: '2.00', unshared_idle: '0.00', reconciliation: '0.00' });
  });

  it('a node that leaves is charged only while it was up; a node with no traffic is all idle', async () => {
    const T = day(5) + 10 * H;
    await new FleetBuilder()
      .node({ node: 'leaver', instance_type: 'g5.xlarge', up: [[T, T + 20 * M]] })
      .node({ node: 'quiet', instance_type: 'g5.xlarge', up: [[T, T + H]] })
      .price({ instance_type: 'g5.xlarge', from: day(5), usd: '3.00' })
      .request({ tenant: 'A', node: 'leaver', at: T + M, gpuSeconds: 600 })
      .load(pipeline);
    const r = await chargeback(t.store, { from: new Date(T), to: new Date(T + 2 * H), idle: 'share-weighted', groupBy: ['node'] });
    // leaver: 20 min × $3/h = $1.00, A used 600 of 1200 s → $0.50 usage + $0.50 idle on its node.
    // quiet: $3.00 idle that no tenant used: stays unshared under node scope.
    expect(r.tenants).toHaveLength(1);
    expect(r.tenants[0]).toMatchObject({ tenant: 'A', usage_cost: '0.50', total: '1.00' });
    expect(r.tenants[0]!.groups.map((g) => [g.dims.node, g.total])).toEqual([['leaver', '1.00']]);
    expect(r.totals).toMatchObject({ fleet_cost: '4.00', unshared_idle: '3.00', reconciliation: '0.00' });
    // By pool, the quiet node's idle is shared with the pool's only tenant.
    const pool = await chargeback(t.store, { from: new Date(T), to: new Date(T + 2 * H), idle: 'share-weighted', scope: 'pool' });
    expect(pool.tenants[0]!.total).toBe('4.00');
    expect(pool.totals.unshared_idle).toBe('0.00');
  });

  it('small amounts keep their digits: a one-minute run and a cheap tenant, while totals reconcile to the cent', async () => {
    const T = day(9) + 10 * H;
    const f = new FleetBuilder()
      .node({ node: 'brief-1', instance_type: 'g5.xlarge', up: [[T, T + M]] })
      .price({ instance_type: 'g5.xlarge', from: day(9), usd: '2.00' });
    // One minute at $2.00/h = $0.033333…; A used 10 s ($0.005556), B 2 s ($0.001111).
    f.request({ tenant: 'A', node: 'brief-1', at: T, gpuSeconds: 10 }).request({ tenant: 'B', node: 'brief-1', at: T, gpuSeconds: 2 });
    await f.load(pipeline);
    const r = await chargeback(t.store, { from: new Date(T), to: new Date(T + H) });
    expect(r.tenants.map((x) => [x.tenant, x.total, x.total_exact, x.usage_cost_exact, x.idle_share_exact])).toEqual([
      ['A', '0.00', '0.005556', '0.005556', '0.000000'],
      ['B', '0.00', '0.001111', '0.001111', '0.000000'],
    ]);
    expect(r.totals).toMatchObject({
      fleet_cost: '0.03',
      fleet_cost_exact: '0.033333',
      tenants_total_exact: '0.006667',
      unshared_idle_exact: '0.026667',
      reconciliation: '0.00',
    });
    const csv = toCsv(r).trim().split('\n');
    const head = csv[0]!.split(',');
    const line = (prefix: string) => csv.find((l) => l.startsWith(prefix))!.split(',')[head.indexOf('total_exact_usd')];
    expect([line('tenant,A,'), line('tenant,B,'), line('total,fleet_cost,')]).toEqual(['0.005556', '0.001111', '0.033333']);
    const page = toHtml(r, { byDay: [], byModel: [], generatedAt: new Date(0) });
    expect(page).toContain('$0.005556');
    expect(page).toContain('$0.001111');
    expect(page).toContain('$0.033333');
  });

  it('requests without durations fall back to wall-clock time, then to token share, and say so', async () => {
    const T = day(6) + 10 * H;
    const f = new FleetBuilder()
      .node({ node: 'vllm-1', instance_type: 'g5.xlarge', up: [[T, T + H]] })
      .price({ instance_type: 'g5.xlarge', from: day(6), usd: '2.00' });
    f.request({ tenant: 'A', node: 'vllm-1', at: T, gpuSeconds: 0, wallSeconds: 900 });
    f.request({ tenant: 'B', node: 'vllm-1', at: T, gpuSeconds: 0, wallSeconds: 0, tokensIn: 100, tokensOut: 200 });
    await f.load(pipeline);
    const r = await chargeback(t.store, { from: new Date(T), to: new Date(T + H) });
    const a = r.tenants.find((x) => x.tenant === 'A')!;
    const b = r.tenants.find((x) => x.tenant === 'B')!;
    expect(a.bases).toEqual(['wall_clock']);
    expect(b.bases).toEqual(['tokens']);
    // B's 300 tokens at A's rate (900 s per 300 tokens) = 900 s.
    expect([a.gpu_seconds, b.gpu_seconds]).toEqual([900, 900]);
    expect([a.total, b.total]).toEqual(['0.50', '0.50']);
  });

  it('idle while a model sits loaded in VRAM is its own line', async () => {
    const T = day(7) + 10 * H;
    await new FleetBuilder()
      .node({ node: 'warm-1', instance_type: 'g5.xlarge', up: [[T, T + H]] })
      .price({ instance_type: 'g5.xlarge', from: day(7), usd: '2.00' })
      .resident({ node: 'warm-1', from: T, to: T + 30 * M })
      .load(pipeline);
    const r = await chargeback(t.store, { from: new Date(T), to: new Date(T + H) });
    expect(r.totals).toMatchObject({ fleet_cost: '2.00', idle_total: '2.00', idle_with_model_resident: '1.00' });
  });

  it('an empty period costs nothing and still reconciles', async () => {
    const r = await chargeback(t.store, { from: new Date(Date.UTC(2020, 0, 1)), to: new Date(Date.UTC(2020, 0, 2)) });
    expect(r.tenants).toEqual([]);
    expect(r.totals).toMatchObject({ fleet_cost: '0.00', tenants_total: '0.00', unshared_idle: '0.00', reconciliation: '0.00' });
  });
});
