// As-of pricing, in JavaScript (collector/features/cost/asof.ts) and in ClickHouse (asof-sql.ts), over the same
// stored series: changes, gaps before the first price, the book winning, zone before region, the
// on-demand fallback named in the source, and exact decimal costs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { costOver, priceAt, seriesFor, type AsofPoint, type NodeSpec } from '../../../collector/features/cost/asof.ts';
import { nodeCostsFromStore, priceAtFromStore } from '../../../collector/features/cost/asof-sql.ts';
import type { PricePointRecord } from '../../../collector/core/schema/tables.ts';
import { openTestStore, type TestStore } from '../../helpers/store.ts';
import { insertPoints } from '../../helpers/prices.ts';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const H = 3_600_000;

function pt(p: Partial<PricePointRecord> & { effective_from: number; usd_per_hour: string }): PricePointRecord {
  return {
    provider: 'aws',
    region: 'us-east-1',
    zone: 'us-east-1a',
    instance_type: 'p5.48xlarge',
    capacity_type: 'spot',
    os: 'linux',
    source: 'aws-spot',
    observed_at: T0,
    ...p,
  };
}

const POINTS: PricePointRecord[] = [
  // Spot in us-east-1a: changes at 01:00, 01:30 and 03:00.
  pt({ effective_from: T0 + H, usd_per_hour: '30.326' }),
  pt({ effective_from: T0 + 1.5 * H, usd_per_hour: '20.9934' }),
  pt({ effective_from: T0 + 3 * H, usd_per_hour: '25.5' }),
  // Region-wide on-demand from the table, from before the window.
  pt({ zone: '', capacity_type: 'on_demand', effective_from: T0 - 24 * H, usd_per_hour: '55.04', source: 'aws-table' }),
  // A contract price in the book for g5.12xlarge on-demand, overriding the feed's price.
  pt({ instance_type: 'g5.12xlarge', zone: '', capacity_type: 'on_demand', effective_from: T0 - 24 * H, usd_per_hour: '5.672', source: 'aws-table' }),
  pt({
    provider: 'book',
    region: '',
    zone: '',
    instance_type: 'g5.12xlarge',
    capacity_type: 'on_demand',
    effective_from: T0 + 2 * H,
    usd_per_hour: '4',
    source: 'book',
  }),
  // An odd price: 1/3 cent resolution to check exact sums.
  pt({ instance_type: 'g4dn.xlarge', zone: 'us-east-1b', effective_from: T0, usd_per_hour: '0.201' }),
  pt({ instance_type: 'g4dn.xlarge', zone: 'us-east-1b', effective_from: T0 + 20 * 60_000, usd_per_hour: '0.186333333' }),
];

const spotNode: NodeSpec & { node: string } = {
  node: 'gpu-1',
  provider: 'aws',
  instance_type: 'p5.48xlarge',
  region: 'us-east-1',
  zone: 'us-east-1a',
  capacity_type: 'spot',
};
const bookNode: NodeSpec & { node: string } = {
  node: 'gpu-2',
  provider: 'aws',
  instance_type: 'g5.12xlarge',
  region: 'us-east-1',
  zone: 'us-east-1c',
  capacity_type: 'on_demand',
};
const oddNode: NodeSpec & { node: string } = {
  node: 'gpu-3',
  provider: 'aws',
  instance_type: 'g4dn.xlarge',
  region: 'us-east-1',
  zone: 'us-east-1b',
  capacity_type: 'spot',
};
const unknownNode: NodeSpec & { node: string } = {
  node: 'gpu-4',
  provider: 'aws',
  instance_type: 'p4d.24xlarge',
  region: 'us-east-1',
  zone: 'us-east-1a',
  capacity_type: 'spot',
};

function asof(points: readonly PricePointRecord[]): AsofPoint[] {
  return points.map((p) => ({
    provider: p.provider!,
    instance_type: p.instance_type!,
    region: p.region ?? '',
    zone: p.zone ?? '',
    capacity_type: p.capacity_type!,
    os: p.os ?? 'linux',
    effective_from: Number(p.effective_from),
    usd_per_hour: p.usd_per_hour!,
    source: p.source ?? '',
  }));
}

let ts: TestStore;

beforeAll(async () => {
  ts = await openTestStore();
  await insertPoints(ts.store, POINTS);
  // The same change synced twice: the replacing key keeps one.
  await insertPoints(ts.store, POINTS.slice(0, 1));
}, 60_000);

afterAll(async () => {
  await ts?.close();
});

describe('price at an instant', () => {
  it('is the last change at or before the instant, in JS and in ClickHouse', async () => {
    const series = seriesFor(spotNode, asof(POINTS));
    const cases: [number, string][] = [
      [T0 + H, '30.326'],
      [T0 + 1.5 * H - 1, '30.326'],
      [T0 + 1.5 * H, '20.9934'],
      [T0 + 10 * H, '25.5'],
    ];
    for (const [t, want] of cases) {
      expect(priceAt(series, t)?.usd_per_hour).toBe(want);
      const sql = await priceAtFromStore(ts.store, spotNode, t);
      expect(Number(sql?.usd_per_hour)).toBe(Number(want));
      expect(sql?.source).toBe('aws-spot');
      expect(sql?.fallback).toBe(false);
    }
  });

  it('falls back to on-demand before the first spot price, and says so in the source', async () => {
    const p = priceAt(seriesFor(spotNode, asof(POINTS)), T0 + 30 * 60_000);
    expect(p).toMatchObject({ usd_per_hour: '55.04', fallback: true, source: 'fallback:on_demand:aws-table' });
    const sql = await priceAtFromStore(ts.store, spotNode, T0 + 30 * 60_000);
    expect(sql).toMatchObject({ source: 'fallback:on_demand:aws-table', fallback: true });
    expect(Number(sql?.usd_per_hour)).toBe(55.04);
  });

  it('has no price at all for an instance type nothing prices', async () => {
    expect(priceAt(seriesFor(unknownNode, asof(POINTS)), T0)).toBeUndefined();
    expect(await priceAtFromStore(ts.store, unknownNode, T0)).toBeUndefined();
  });

  it('takes the price book over the feed once the book entry starts', async () => {
    const series = seriesFor(bookNode, asof(POINTS));
    expect(priceAt(series, T0 + H)?.source).toBe('aws-table');
    expect(priceAt(series, T0 + 2 * H)).toMatchObject({ usd_per_hour: '4', source: 'book' });
    expect((await priceAtFromStore(ts.store, bookNode, T0 + 2 * H))?.source).toBe('book');
    expect((await priceAtFromStore(ts.store, bookNode, T0 + H))?.source).toBe('aws-table');
  });
});

describe('cost over an interval', () => {
  it('prices a half-hour spot segment exactly', async () => {
    const c = costOver(seriesFor(spotNode, asof(POINTS)), T0 + H, T0 + 1.5 * H);
    // 30.326 $/h × 0.5 h
    expect(c.cost).toBe('15.163');
    expect(c.segments).toHaveLength(1);
    const [sql] = await nodeCostsFromStore(ts.store, [spotNode], T0 + H, T0 + 1.5 * H);
    expect(sql!.cost).toBe('15.163');
    expect(sql!.priced_ms).toBe(H / 2);
  });

  it('sums segments across changes and the fallback gap, and both paths agree to the last digit', async () => {
    const from = T0;
    const to = T0 + 4 * H;
    const c = costOver(seriesFor(spotNode, asof(POINTS)), from, to);
    // 1 h fallback on-demand 55.04 + 0.5 h × 30.326 + 1.5 h × 20.9934 + 1 h × 25.5
    expect(c.cost).toBe('127.1931');
    expect(c.fallback_ms).toBe(H);
    expect(c.segments.map((s) => s.source)).toEqual(['fallback:on_demand:aws-table', 'aws-spot', 'aws-spot', 'aws-spot']);
    const [sql] = await nodeCostsFromStore(ts.store, [spotNode], from, to);
    expect(sql).toMatchObject({ cost: '127.1931', priced_ms: 4 * H, fallback_ms: H, unpriced_ms: 0 });
    expect(sql!.sources.sort()).toEqual(['aws-spot', 'fallback:on_demand:aws-table']);
  });

  it('reports time before any price as unpriced instead of inventing one', async () => {
    const c = costOver(seriesFor(oddNode, asof(POINTS)), T0 - H, T0 + H);
    expect(c.unpriced_ms).toBe(H);
    const [sql] = await nodeCostsFromStore(ts.store, [oddNode], T0 - H, T0 + H);
    expect(sql!.unpriced_ms).toBe(H);
    expect(sql!.cost).toBe(c.cost);
  });

  it('keeps sub-cent prices exact: no float drift over many segments', async () => {
    // 20 min × 0.201 + 100 min × 0.186333333 = 0.067 + 0.3105555555 (rounded down at 9 places)
    const c = costOver(seriesFor(oddNode, asof(POINTS)), T0, T0 + 2 * H);
    expect(c.cost).toBe('0.377555555');
    const [sql] = await nodeCostsFromStore(ts.store, [oddNode], T0, T0 + 2 * H);
    expect(sql!.cost).toBe('0.377555555');
  });

  it('prices several nodes in one query, each by its own series', async () => {
    const rows = await nodeCostsFromStore(ts.store, [spotNode, bookNode, unknownNode], T0, T0 + 4 * H);
    expect(rows.map((r) => r.node)).toEqual(['gpu-1', 'gpu-2', 'gpu-4']);
    // g5.12xlarge: 2 h × 5.672 (table) + 2 h × 4 (book)
    expect(rows[1]!.cost).toBe('19.344');
    expect(rows[2]).toMatchObject({ cost: '0', priced_ms: 0, unpriced_ms: 4 * H });
  });
});
