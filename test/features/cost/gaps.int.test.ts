// What the bill could not price is said, in every format, naming the node and how to fix it:
// node-minutes with no price, spot minutes priced at on-demand, requests on nodes with no inventory,
// a fleet with no price at all; and configured tenants with no traffic are on the bill at 0.00.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chargeback, type ChargebackReport } from '../../../collector/features/cost/chargeback.ts';
import { toCsv, toHtml, toJson } from '../../../collector/features/cost/formats.ts';
import { FleetBuilder, H, M, openCostStore, type CostStore } from '../../helpers/cost-fleet.ts';

let t: CostStore;
beforeAll(async () => {
  t = await openCostStore();
});
afterAll(async () => t?.close());

const day = (n: number) => Date.UTC(2026, 9, n);
const html = (r: ChargebackReport) => toHtml(r, { byDay: [], byModel: [], generatedAt: new Date(0) });
const csvLines = (r: ChargebackReport, kind: string) =>
  toCsv(r)
    .trim()
    .split('\n')
    .filter((l) => l.startsWith(`${kind},`));

describe('chargeback: gaps are loud', () => {
  const T = day(1) + 10 * H;
  let r: ChargebackReport;
  beforeAll(async () => {
    const f = new FleetBuilder()
      .node({ node: 'priced-1', instance_type: 'g5.xlarge', up: [[T, T + H]] })
      .price({ instance_type: 'g5.xlarge', from: day(1), usd: '2.00' })
      // An on-prem box nobody priced.
      .node({ node: 'free-1', instance_type: 'dgx-a100', up: [[T, T + 30 * M]] })
      // A spot node with only an on-demand price.
      .node({ node: 'spot-1', instance_type: 'g5.2xlarge', capacity_type: 'spot', zone: 'us-east-1c', up: [[T, T + H]] })
      .price({ instance_type: 'g5.2xlarge', capacity_type: 'on_demand', from: day(1), usd: '1.212' });
    f.nodes.find((n) => n.node === 'free-1')!.provider = 'on_prem';
    f.request({ tenant: 'acme', node: 'priced-1', at: T, gpuSeconds: 900 });
    f.request({ tenant: 'globex', node: 'free-1', at: T, gpuSeconds: 600 });
    // Requests on a node the inventory does not know, and requests with no node at all.
    for (let i = 0; i < 3; i++) f.request({ tenant: 'anonymous', node: 'ghost', at: T + i * M, gpuSeconds: 10 });
    for (let i = 0; i < 2; i++) f.request({ tenant: 'anonymous', node: '', at: T + i * M, gpuSeconds: 10 });
    await f.load(t.pipeline);
    r = await chargeback(t.store, { from: new Date(T), to: new Date(T + H), configuredTenants: ['acme', 'globex', 'idle-co', 'anonymous'] });
  });

  it('names each node with unpriced or on-demand-fallback minutes, its inventory and how to price it', () => {
    expect(r.totals).toMatchObject({ unpriced_minutes: 30, on_demand_fallback_minutes: 60, reconciliation: '0.00' });
    expect(r.price_gaps.map((g) => [g.kind, g.node, g.minutes, g.instance_type, g.provider, g.region, g.capacity_type, g.sync_source])).toEqual([
      ['unpriced', 'free-1', 30, 'dgx-a100', 'on_prem', 'us-east-1', 'on_demand', ''],
      ['on_demand_fallback', 'spot-1', 60, 'g5.2xlarge', 'aws', 'us-east-1', 'spot', 'aws-spot'],
    ]);
    // The exact price-book entry that prices the node (a price left to fill in).
    expect(r.price_gaps[0]!.book_entry).toBe('prices:\n  book:\n    - { instance_type: dgx-a100, capacity_type: on_demand, price: "<USD>", unit: hour }\n');
    expect(r.price_gaps[1]!.book_entry).toContain('{ instance_type: g5.2xlarge, capacity_type: spot, price: "<USD>", unit: hour }');
    expect(r.price_gaps[0]!.message).toMatch(/^node free-1 \(dgx-a100, on_prem us-east-1, on_demand\): 30 node-minutes had no price and cost \$0/);
    expect(r.price_gaps[0]!.message).toContain('prices.book');
    expect(r.price_gaps[1]!.message).toContain('llmeter prices sync aws-spot');
  });

  it('names the nodes requests ran on that have no inventory, and requests with no node', () => {
    expect(r.totals.unattributed_requests).toBe(5);
    expect(r.unattributed.map((u) => [u.node, u.requests, u.tenants])).toEqual([
      ['', 2, ['anonymous']],
      ['ghost', 3, ['anonymous']],
    ]);
    expect(r.unattributed[0]!.message).toMatch(/with no node.*proxy\.upstreams\[\]\.node/);
    expect(r.unattributed[1]!.message).toMatch(/node ghost.*scrape\.inventory\.nodes/);
  });

  it('configured tenants with no traffic show 0.00; a tenant whose requests could not be priced shows too', () => {
    expect(r.tenants.map((x) => [x.tenant, x.requests, x.total, x.unattributed_requests])).toEqual([
      ['acme', 1, '0.50', 0],
      ['anonymous', 0, '0.00', 5],
      ['globex', 1, '0.00', 0],
      ['idle-co', 0, '0.00', 0],
    ]);
    const csv = csvLines(r, 'tenant');
    expect(csv.find((l) => l.startsWith('tenant,idle-co,'))).toMatch(/^tenant,idle-co,0,0,0,0,0,0,0\.00,0\.00,0\.00,/);
    expect(csv.find((l) => l.startsWith('tenant,anonymous,'))).toBeDefined();
    // A filter still shows only what was asked for.
    expect(r.tenants.length).toBe(4);
  });

  it('the CSV (the default format) has a line per gap naming the node and the fix', () => {
    const unpriced = csvLines(r, 'unpriced');
    expect(unpriced).toHaveLength(1);
    expect(unpriced[0]).toMatch(/^unpriced,free-1,/);
    expect(unpriced[0]).toContain('dgx-a100');
    expect(unpriced[0]).toContain('instance_type: dgx-a100, capacity_type: on_demand');
    expect(csvLines(r, 'on_demand_fallback')[0]).toMatch(/^on_demand_fallback,spot-1,/);
    const unattributed = csvLines(r, 'unattributed');
    expect(unattributed.map((l) => l.split(',').slice(0, 3))).toEqual([
      ['unattributed', '', '2'],
      ['unattributed', 'ghost', '3'],
    ]);
  });

  it('JSON and HTML say the same', () => {
    const j = JSON.parse(toJson(r)) as ChargebackReport;
    expect(j.price_gaps).toEqual(r.price_gaps);
    expect(j.unattributed).toEqual(r.unattributed);
    expect(j.warnings).toEqual(r.warnings);
    expect(r.warnings).toHaveLength(4);
    const page = html(r);
    for (const s of ['free-1', 'dgx-a100', 'instance_type: dgx-a100', 'spot-1', 'llmeter prices sync aws-spot', 'ghost', 'idle-co']) expect(page).toContain(s);
  });
});

describe('chargeback: a fleet with no price at all', () => {
  const T = day(2) + 10 * H;
  it('says so and how to set one, in every format, instead of a silent $0.00', async () => {
    const f = new FleetBuilder().node({ node: 'lonely', instance_type: '', up: [[T, T + H]] });
    f.nodes[0]!.provider = '';
    f.request({ tenant: 'anonymous', node: 'lonely', at: T, gpuSeconds: 60 });
    await f.load(t.pipeline);
    const r = await chargeback(t.store, { from: new Date(T), to: new Date(T + H) });
    expect(r.totals).toMatchObject({ fleet_cost: '0.00', unpriced_minutes: 60, reconciliation: '0.00' });
    expect(r.warnings[0]).toMatch(/^no node had a price in this period: every amount in this report is \$0\.00/);
    // A node with no instance type cannot be matched by a book entry: the fix says to give it one.
    expect(r.price_gaps[0]!.message).toMatch(/no instance type.*scrape\.inventory\.nodes\[\]\.instance_type/);
    expect(r.price_gaps[0]!.book_entry).toContain('instance_type: <host class>');
    expect(toCsv(r)).toMatch(/^no_price,,.*no node had a price/m);
    expect(html(r)).toContain('no node had a price in this period');
  });
});
