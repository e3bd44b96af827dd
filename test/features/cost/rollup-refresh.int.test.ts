// The kept cost split (chargeback_rollup) against the same report computed from scratch: equal to the
// cent for every policy, scope and grouping, over aligned and unaligned periods, and still equal after
// late requests for an old hour, a price change for a past hour and a node moving pools.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chargeback, type ChargebackOptions, type ChargebackReport } from '../../../collector/features/cost/chargeback.ts';
import type { GroupDim } from '../../../collector/features/cost/chargeback-sql.ts';
import { refreshChargebackRollup, withChargebackLock } from '../../../collector/features/cost/rollup-refresh.ts';
import { FleetBuilder, H, M, openCostStore, type CostStore } from '../../helpers/cost-fleet.ts';

let t: CostStore;
// Days in the past, so that their hours are complete and kept.
const day = (n: number) => Date.UTC(2026, 5, n);

const refresh = () => withChargebackLock(t.store, () => refreshChargebackRollup(t.store, { now: Date.now(), settleMs: 0 }));
const strip = (r: ChargebackReport) => ({ tenants: r.tenants, totals: r.totals });

async function both(o: ChargebackOptions) {
  const kept = await chargeback(t.store, { ...o, compute: 'kept' });
  const scratch = await chargeback(t.store, { ...o, compute: 'scratch' });
  return { kept, scratch };
}

beforeAll(async () => {
  t = await openCostStore();
  const f = new FleetBuilder()
    .node({ node: 'rl-1', instance_type: 'rl.od', gpus: 1, pool: 'a', up: [[day(1), day(3) + 12 * H]] })
    .node({
      node: 'rl-2',
      instance_type: 'rl.spot',
      capacity_type: 'spot',
      gpus: 4,
      pool: 'b',
      up: [
        [day(1) + 6 * H, day(2) + 2 * H],
        [day(2) + 5 * H + 20 * M, day(2) + 18 * H],
      ],
    })
    .node({ node: 'rl-3', instance_type: 'rl.cpu', gpus: 1, pool: 'a', tier: 'standard', up: [[day(2), day(3)]] })
    .price({ instance_type: 'rl.od', from: day(0), usd: '1.2345678' })
    .price({ instance_type: 'rl.spot', from: day(0), usd: '7.5' })
    .price({ instance_type: 'rl.spot', from: day(0), usd: '2.25', capacity_type: 'spot', zone: 'us-east-1a' })
    .price({ instance_type: 'rl.spot', from: day(1) + 10 * H + 30 * M, usd: '2.8765432', capacity_type: 'spot', zone: 'us-east-1a' })
    .price({ instance_type: 'rl.spot', from: day(2) + 3 * H + 15 * M, usd: '1.9', capacity_type: 'spot', zone: 'us-east-1a' })
    .price({ instance_type: 'rl.cpu', from: day(0), usd: '0.096' })
    .resident({ node: 'rl-1', from: day(1) + 20 * H, to: day(2) + 2 * H });
  let k = 0;
  for (let at = day(1); at < day(3) + 12 * H; at += 37 * M) {
    k++;
    const tenant = ['A', 'B', 'C'][k % 3]!;
    const model = k % 4 === 0 ? 'm2' : 'm1';
    f.request({ tenant, node: 'rl-1', at, gpuSeconds: 60 + (k % 7) * 45, model });
    if (at >= day(1) + 6 * H && at < day(2) + 18 * H) {
      // Measured, wall-clock only and token-only requests on the same node-hours; some overlap.
      f.request({ tenant: 'A', node: 'rl-2', at, gpuSeconds: 1800 + (k % 5) * 900, model: 'm2' });
      f.request({ tenant: 'B', node: 'rl-2', at: at + M, wallSeconds: 400 + k, model: 'm2' });
      f.request({ tenant: 'C', node: 'rl-2', at: at + 2 * M, tokensIn: 300 + k, tokensOut: 900, model: 'm1' });
    }
    if (at >= day(2) && at < day(3)) f.request({ tenant: k % 2 ? 'A' : 'D', node: 'rl-3', at, tokensIn: 50, tokensOut: 70 + k });
  }
  // A node nobody has inventory for: its requests are unattributed.
  f.request({ tenant: 'B', node: 'rl-ghost', at: day(2) + 4 * H, gpuSeconds: 30 });
  await f.load(t.pipeline);
}, 120_000);
afterAll(async () => t?.close());

const PERIODS: [string, number, number][] = [
  ['whole days', day(1), day(4)],
  ['unaligned ends', day(1) + 5 * H + 17 * M + 30_000, day(3) + 9 * H + 42 * M],
  ['hours inside one day', day(2) + 7 * H, day(2) + 19 * H],
];
const GROUPINGS: GroupDim[][] = [[], ['model', 'day'], ['node', 'pool', 'tier']];

describe('chargeback_rollup', () => {
  it('kept and from-scratch reports are equal to the cent for every policy, scope, grouping and period', async () => {
    for (const [name, from, to] of PERIODS) {
      for (const idle of ['separate', 'share-weighted', 'share-even'] as const) {
        for (const scope of ['node', 'pool'] as const) {
          for (const groupBy of GROUPINGS) {
            const { kept, scratch } = await both({ from: new Date(from), to: new Date(to), idle, scope, groupBy });
            expect(strip(kept), `${name} ${idle} ${scope} ${groupBy.join(',')}`).toEqual(strip(scratch));
          }
        }
      }
    }
    const whole = await chargeback(t.store, { from: new Date(day(1)), to: new Date(day(4)) });
    expect(whole.computed).toEqual({ kept_hours: 72, computed_hours: 0 });
    expect(Number(whole.totals.fleet_cost)).toBeGreaterThan(0);
    // The request on the ghost node, which has no inventory. (rl-2's requests while its scrapes were
    // down are answered requests: evidence that it was up, so they are priced.)
    expect(whole.totals.unattributed_requests).toBe(1);
    expect(whole.tenants.map((x) => x.tenant)).toEqual(['A', 'B', 'C', 'D']);
    const partial = await chargeback(t.store, { from: new Date(PERIODS[1]![1]), to: new Date(PERIODS[1]![2]) });
    // 05:17:30 → 09:42 two days later: the 51 whole hours 06:00 → 09:00 kept, the two partial ones computed.
    expect(partial.computed).toEqual({ kept_hours: 51, computed_hours: 2 });
  }, 300_000);

  it('the raw path (every hour from the raw table) gives the same report', async () => {
    for (const [, from, to] of PERIODS) {
      const raw = await chargeback(t.store, { from: new Date(from), to: new Date(to), idle: 'share-weighted', groupBy: ['model'], source: 'raw' });
      const scratch = await chargeback(t.store, { from: new Date(from), to: new Date(to), idle: 'share-weighted', groupBy: ['model'], compute: 'scratch' });
      expect(strip(raw)).toEqual(strip(scratch));
    }
  });

  it('recomputes nothing when no input changed', async () => {
    await refresh();
    expect((await refresh()).days).toBe(0);
  });

  it('late requests for an old hour re-dirty only that day', async () => {
    await refresh();
    const o = { from: new Date(day(1)), to: new Date(day(4)), idle: 'share-weighted' as const };
    const before = await chargeback(t.store, o);
    await new FleetBuilder().request({ tenant: 'E', node: 'rl-1', at: day(1) + 2 * H + 5 * M, gpuSeconds: 1200 }).load(t.pipeline);
    expect((await refresh()).days).toBe(1);
    const { kept, scratch } = await both(o);
    expect(strip(kept)).toEqual(strip(scratch));
    expect(kept.tenants.find((x) => x.tenant === 'E')?.usage_cost).not.toBeUndefined();
    expect(before.tenants.find((x) => x.tenant === 'E')).toBeUndefined();
    expect(kept.totals.fleet_cost).toBe(before.totals.fleet_cost);
  });

  it('a price change for a past hour re-dirties that day and every later one', async () => {
    await refresh();
    const o = { from: new Date(day(1)), to: new Date(day(4)), idle: 'separate' as const, groupBy: ['node'] as GroupDim[] };
    const before = await chargeback(t.store, o);
    await new FleetBuilder().price({ instance_type: 'rl.od', from: day(2) + 20 * H + 30 * M, usd: '3.5' }).load(t.pipeline);
    // Day 2 and day 3 have inputs after the change.
    expect((await refresh()).days).toBe(2);
    const { kept, scratch } = await both(o);
    expect(strip(kept)).toEqual(strip(scratch));
    expect(kept.totals.fleet_cost).not.toBe(before.totals.fleet_cost);
  });

  it('a node moving to another pool is charged to the new pool from the hour it moved', async () => {
    await refresh();
    const f = new FleetBuilder();
    f.nodes.push({
      ts: day(2) + 12 * H + 30 * M,
      node: 'rl-1',
      instance_type: 'rl.od',
      provider: 'aws',
      region: 'us-east-1',
      zone: 'us-east-1a',
      capacity_type: 'on_demand',
      gpu_count: 1,
      gpu_model: 'NVIDIA A10G',
      pool: 'c',
      tier: 'premium',
    });
    await f.load(t.pipeline);
    const o = { from: new Date(day(1)), to: new Date(day(4)), idle: 'share-even' as const, scope: 'pool' as const, groupBy: ['pool', 'day'] as GroupDim[] };
    const { kept, scratch } = await both(o);
    expect(strip(kept)).toEqual(strip(scratch));
    const pools = new Set(kept.tenants.flatMap((x) => x.groups.map((g) => `${g.dims.day} ${g.dims.pool}`)));
    expect(pools.has('2026-06-02 a')).toBe(true);
    expect(pools.has('2026-06-02 c')).toBe(true);
    expect(pools.has('2026-06-01 c')).toBe(false);
  });
});
