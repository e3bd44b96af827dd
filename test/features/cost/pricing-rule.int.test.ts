// One as-of pricing rule: the chargeback prices every node-hour with the same rule as `llmeter prices
// at` and `prices cost` (asof-sql.ts): the node's own capacity type before the on-demand fallback;
// within each, the book before the feed, the zone before the region before a global price. Each case
// puts a node where the two used to disagree and compares the report with the as-of answer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeSpec } from '../../../collector/features/cost/asof.ts';
import { nodeCostsFromStore, priceAtFromStore } from '../../../collector/features/cost/asof-sql.ts';
import { chargeback } from '../../../collector/features/cost/chargeback.ts';
import { FleetBuilder, H, openCostStore, type CostStore } from '../../helpers/cost-fleet.ts';

let t: CostStore;
beforeAll(async () => {
  t = await openCostStore();
});
afterAll(async () => t?.close());

const day = (n: number) => Date.UTC(2026, 8, n);

interface Case {
  name: string;
  node: NodeSpec & { gpus?: number };
  prices: Parameters<FleetBuilder['price']>[0][];
  /** What the node costs for the hour under the rule. */
  cost: string;
}

const spot: NodeSpec = { provider: 'aws', instance_type: 'g5.xlarge', region: 'us-east-1', zone: 'us-east-1a', capacity_type: 'spot' };
const onDemand: NodeSpec = { ...spot, capacity_type: 'on_demand' };

const CASES: Case[] = [
  {
    name: "a spot node with the book's default (on-demand) entry: the spot feed prices it, the book is the on-demand fallback",
    node: spot,
    prices: [
      { instance_type: 'g5.xlarge', provider: 'book', region: '', capacity_type: 'on_demand', from: Date.UTC(2000, 0, 1), usd: '10' },
      { instance_type: 'g5.xlarge', zone: 'us-east-1a', capacity_type: 'spot', from: Date.UTC(2026, 0, 1), usd: '1.25' },
    ],
    cost: '1.25',
  },
  {
    name: "a book entry for another region does not apply: the feed's region price does",
    node: onDemand,
    prices: [
      { instance_type: 'g5.xlarge', provider: 'book', region: 'us-west-2', capacity_type: 'on_demand', from: Date.UTC(2000, 0, 1), usd: '5' },
      { instance_type: 'g5.xlarge', capacity_type: 'on_demand', from: Date.UTC(2026, 0, 1), usd: '3' },
    ],
    cost: '3.00',
  },
  {
    name: 'a book entry for the zone beats the region-wide book entry',
    node: onDemand,
    prices: [
      { instance_type: 'g5.xlarge', provider: 'book', region: 'us-east-1', capacity_type: 'on_demand', from: Date.UTC(2000, 0, 1), usd: '7' },
      {
        instance_type: 'g5.xlarge',
        provider: 'book',
        region: 'us-east-1',
        zone: 'us-east-1a',
        capacity_type: 'on_demand',
        from: Date.UTC(2000, 0, 1),
        usd: '6',
      },
    ],
    cost: '6.00',
  },
  {
    name: 'a global feed price (no region) prices a node whose region has none',
    node: onDemand,
    prices: [{ instance_type: 'g5.xlarge', region: '', capacity_type: 'on_demand', from: Date.UTC(2026, 0, 1), usd: '4.5' }],
    cost: '4.50',
  },
  {
    name: "a spot node with only an on-demand price in another zone's region row: the fallback, said so",
    node: spot,
    prices: [{ instance_type: 'g5.xlarge', capacity_type: 'on_demand', from: Date.UTC(2026, 0, 1), usd: '2' }],
    cost: '2.00',
  },
];

describe('one as-of rule for the chargeback and prices at', () => {
  CASES.forEach((c, i) => {
    it(c.name, async () => {
      // Each case on its own day and instance type, so that the cases do not see each other's prices.
      const T = day(i + 1) + 10 * H;
      const instance = `${c.node.instance_type}-${i}`;
      const f = new FleetBuilder().node({
        node: `rule-${i}`,
        instance_type: instance,
        capacity_type: c.node.capacity_type as 'spot' | 'on_demand',
        region: c.node.region,
        zone: c.node.zone,
        up: [[T, T + H]],
      });
      for (const p of c.prices) f.price({ ...p, instance_type: instance });
      await f.load(t.pipeline);
      const node = { ...c.node, instance_type: instance };
      const report = await chargeback(t.store, { from: new Date(T), to: new Date(T + H) });
      const [asof] = await nodeCostsFromStore(t.store, [{ ...node, node: 'x' }], T, T + H);
      const at = await priceAtFromStore(t.store, node, T + H / 2);
      expect(report.totals.fleet_cost).toBe(c.cost);
      expect(Number(asof!.cost).toFixed(2)).toBe(c.cost);
      expect(Number(at!.usd_per_hour).toFixed(2)).toBe(c.cost);
      expect(report.totals.on_demand_fallback_minutes > 0).toBe(at!.fallback);
    });
  });
});
