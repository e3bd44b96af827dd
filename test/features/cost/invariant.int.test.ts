// Property: for any fleet, traffic, period and idle policy, tenants' charges plus the unshared idle
// equal the fleet's total cost to the cent, and nothing is negative; kept and from-scratch reports agree.
import fc from 'fast-check';
import { Decimal } from 'decimal.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chargeback } from '../../../collector/features/cost/chargeback.ts';
import type { Pipeline } from '../../../collector/core/pipeline/pipeline.ts';
import { FleetBuilder, H, M, openCostStore, type CostStore } from '../../helpers/cost-fleet.ts';

let t: CostStore;
let pipeline: Pipeline;
beforeAll(async () => {
  t = await openCostStore();
  pipeline = t.pipeline;
});
afterAll(async () => t?.close());

const nodeArb = fc.record({
  gpus: fc.integer({ min: 1, max: 8 }),
  spot: fc.boolean(),
  pool: fc.constantFrom('a', 'b'),
  upFrom: fc.integer({ min: 0, max: 150 }),
  upMinutes: fc.integer({ min: 1, max: 180 }),
  prices: fc.array(
    fc.record({ at: fc.integer({ min: 0, max: 180 }), cents: fc.integer({ min: 1, max: 9_999 }), frac: fc.integer({ min: 0, max: 9_999_999 }) }),
    { minLength: 0, maxLength: 4 },
  ),
});
const reqArb = fc.record({
  node: fc.nat(),
  tenant: fc.constantFrom('t1', 't2', 't3', 't4'),
  at: fc.integer({ min: 0, max: 179 }),
  gpuSeconds: fc.oneof(fc.constant(0), fc.double({ min: 0.001, max: 20_000, noNaN: true })),
  wall: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5000 })),
  tokens: fc.integer({ min: 0, max: 5000 }),
  model: fc.constantFrom('m1', 'm2'),
});

describe('chargeback invariant', () => {
  it('tenants + unshared idle = fleet cost, to the cent, for random fleets, traffic and policies', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(nodeArb, { minLength: 1, maxLength: 4 }),
        fc.array(reqArb, { maxLength: 25 }),
        fc.constantFrom('separate', 'share-weighted', 'share-even' as const),
        fc.constantFrom('node', 'pool' as const),
        fc.subarray(['model', 'node', 'day'] as const),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 1, max: 240 }),
        async (nodes, reqs, idle, scope, groupBy, periodFrom, periodLen) => {
          // Each run gets its own day (and instance types), so runs never see each other's rows.
          const base = Date.UTC(2027, 0, 1) + run++ * 24 * H;
          const f = new FleetBuilder();
          nodes.forEach((n, i) => {
            const type = `r${run}.n${i}`;
            const name = `run${run}-node${i}`;
            f.node({
              node: name,
              instance_type: type,
              capacity_type: n.spot ? 'spot' : 'on_demand',
              gpus: n.gpus,
              pool: n.pool,
              up: [[base + n.upFrom * M, base + (n.upFrom + n.upMinutes) * M]],
            });
            f.price({ instance_type: type, from: base - H, usd: '1.5', capacity_type: 'on_demand' });
            for (const p of n.prices)
              f.price({
                instance_type: type,
                from: base + p.at * M,
                usd: `${Math.floor(p.cents / 100)}.${String(p.cents % 100).padStart(2, '0')}${String(p.frac).padStart(7, '0')}`,
                capacity_type: n.spot ? 'spot' : 'on_demand',
                zone: n.spot ? 'us-east-1a' : '',
              });
          });
          for (const r of reqs) {
            f.request({
              tenant: r.tenant,
              node: `run${run}-node${r.node % nodes.length}`,
              at: base + r.at * M,
              gpuSeconds: r.gpuSeconds,
              wallSeconds: r.wall,
              tokensIn: r.tokens,
              tokensOut: r.tokens,
              model: r.model,
            });
          }
          await f.load(pipeline);
          const rep = await chargeback(t.store, {
            from: new Date(base + periodFrom * M),
            to: new Date(base + (periodFrom + periodLen) * M),
            idle,
            scope,
            groupBy,
          });
          const sum = rep.tenants.reduce((a, x) => a.plus(x.total), new Decimal(0)).plus(rep.totals.unshared_idle);
          expect(rep.totals.reconciliation).toBe('0.00');
          expect(sum.toFixed(2)).toBe(rep.totals.fleet_cost);
          expect(new Decimal(rep.totals.unshared_idle).isNegative()).toBe(false);
          for (const x of rep.tenants) {
            expect(new Decimal(x.total).isNegative(), `${x.tenant} ${x.total}`).toBe(false);
            expect(x.groups.reduce((a, g) => a.plus(g.total), new Decimal(0)).toFixed(2)).toBe(x.total);
          }
          if (idle === 'separate') expect(rep.totals.unshared_idle).toBe(new Decimal(rep.totals.idle_total).toFixed(2));
          // The node section adds up to the bill too, idle never negative; the exact amounts (six
          // decimals, each rounded on its own) agree with it to a millionth.
          expect(rep.nodes.reduce((a, n) => a.plus(n.cost), new Decimal(0)).toFixed(2)).toBe(rep.totals.fleet_cost);
          for (const n of rep.nodes) expect(new Decimal(n.idle).isNegative(), `${n.node} idle ${n.idle}`).toBe(false);
          const exactGap = new Decimal(rep.totals.tenants_total_exact).plus(rep.totals.unshared_idle_exact).minus(rep.totals.fleet_cost_exact).abs();
          expect(exactGap.lessThanOrEqualTo('0.000001')).toBe(true);
          // The same report with these hours kept in chargeback_rollup (a clock after them) and
          // computed from scratch: equal to the cent.
          const period = { from: new Date(base + periodFrom * M), to: new Date(base + (periodFrom + periodLen) * M), idle, scope, groupBy };
          const kept = await chargeback(t.store, { ...period, now: new Date(Date.UTC(2030, 0, 1)) });
          const scratch = await chargeback(t.store, { ...period, compute: 'scratch' });
          expect({ tenants: kept.tenants, totals: kept.totals, nodes: kept.nodes }).toEqual({
            tenants: scratch.tenants,
            totals: scratch.totals,
            nodes: scratch.nodes,
          });
          expect({ tenants: rep.tenants, totals: rep.totals, nodes: rep.nodes }).toEqual({
            tenants: scratch.tenants,
            totals: scratch.totals,
            nodes: scratch.nodes,
          });
        },
      ),
      { numRuns: 25, seed: 20261123 },
    );
  }, 400_000);
});
