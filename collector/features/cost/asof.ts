// As-of pricing: which price holds for a node at an instant, and what a node costs over an interval.
// A price holds from its effective_from until the next change of the same series. A node is priced
// from candidate series in a fixed order — the price book before any feed, a zone's price before its
// region's before a global one — and only when none of its own capacity type has begun does it fall
// back to on-demand, with the segment's source saying so. Money is exact decimal arithmetic.
import { Decimal } from 'decimal.js';

const D = Decimal.clone({ precision: 60, rounding: Decimal.ROUND_DOWN });
const MS_PER_HOUR = 3_600_000;

export interface NodeSpec {
  provider: string;
  instance_type: string;
  region: string;
  zone: string;
  capacity_type: string;
  os?: string;
}

export interface AsofPoint {
  provider: string;
  instance_type: string;
  region: string;
  zone: string;
  capacity_type: string;
  os: string;
  /** Epoch milliseconds. */
  effective_from: number;
  usd_per_hour: string;
  source: string;
}

export interface CandidateKey {
  provider: string;
  region: string;
  zone: string;
  capacity_type: string;
  rank: number;
  /** True for the on-demand series used only when the node's own capacity type has no price. */
  fallback: boolean;
}

export const FALLBACK_RANK = 100;
export const BOOK_PROVIDER = 'book';

/** The series that may price a node, most preferred first. Shared with the SQL (asof-sql.ts). */
export function candidateKeys(n: NodeSpec): CandidateKey[] {
  const out: CandidateKey[] = [];
  const seen = new Set<string>();
  const caps = n.capacity_type === 'on_demand' ? ['on_demand'] : [n.capacity_type, 'on_demand'];
  caps.forEach((cap, ci) => {
    let rank = ci * FALLBACK_RANK;
    for (const provider of n.provider === BOOK_PROVIDER ? [BOOK_PROVIDER] : [BOOK_PROVIDER, n.provider]) {
      for (const [region, zone] of [
        [n.region, n.zone],
        [n.region, ''],
        ['', ''],
      ] as const) {
        const k = `${provider}\u0001${region}\u0001${zone}\u0001${cap}`;
        rank++;
        if (seen.has(k)) continue;
        seen.add(k);
        out.push({ provider, region, zone, capacity_type: cap, rank, fallback: ci > 0 });
      }
    }
  });
  return out;
}

export interface PriceSeries extends CandidateKey {
  points: AsofPoint[];
}

/** Groups points into the node's candidate series (points of other series are ignored). */
export function seriesFor(n: NodeSpec, points: readonly AsofPoint[]): PriceSeries[] {
  const os = n.os ?? 'linux';
  const series = candidateKeys(n).map((k) => ({ ...k, points: [] as AsofPoint[] }));
  const byKey = new Map(series.map((s) => [`${s.provider}\u0001${s.region}\u0001${s.zone}\u0001${s.capacity_type}`, s]));
  for (const p of points) {
    if (p.instance_type !== n.instance_type || (p.os || 'linux') !== os) continue;
    byKey.get(`${p.provider}\u0001${p.region}\u0001${p.zone}\u0001${p.capacity_type}`)?.points.push(p);
  }
  for (const s of series) s.points.sort((a, b) => a.effective_from - b.effective_from);
  return series.filter((s) => s.points.length > 0);
}

export interface PriceAt {
  usd_per_hour: string;
  effective_from: number;
  /** The point's source, prefixed `fallback:on_demand:` when the on-demand fallback priced it. */
  source: string;
  fallback: boolean;
  provider: string;
  capacity_type: string;
  region: string;
  zone: string;
}

function lastAtOrBefore(points: readonly AsofPoint[], t: number): AsofPoint | undefined {
  let lo = 0;
  let hi = points.length - 1;
  let found: AsofPoint | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid]!.effective_from <= t) {
      found = points[mid];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

export function fallbackSource(source: string): string {
  return `fallback:on_demand:${source}`;
}

/** The price in force at `t`: the most preferred series that has begun by then; undefined if none. */
export function priceAt(series: readonly PriceSeries[], t: number): PriceAt | undefined {
  for (const s of [...series].sort((a, b) => a.rank - b.rank)) {
    const p = lastAtOrBefore(s.points, t);
    if (!p) continue;
    return {
      usd_per_hour: p.usd_per_hour,
      effective_from: p.effective_from,
      source: s.fallback ? fallbackSource(p.source) : p.source,
      fallback: s.fallback,
      provider: s.provider,
      capacity_type: s.capacity_type,
      region: s.region,
      zone: s.zone,
    };
  }
  return undefined;
}

export interface CostSegment {
  from: number;
  to: number;
  usd_per_hour: string;
  source: string;
  fallback: boolean;
  /** price × hours, rounded down to 9 decimals (the total is summed before rounding). */
  cost: string;
}

export interface NodeCost {
  /** Exact sum over segments of price × milliseconds / 3 600 000, rounded down to 9 decimals. */
  cost: string;
  segments: CostSegment[];
  priced_ms: number;
  fallback_ms: number;
  /** Time in the interval no series priced (before any price is known): not costed, reported. */
  unpriced_ms: number;
}

export function toMs(t: number | string | Date): number {
  if (t instanceof Date) return t.getTime();
  if (typeof t === 'number') return t;
  return Date.parse(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?$/.test(t) ? t.replace(' ', 'T') + 'Z' : t);
}

/** Cost of a node over [from, to): the sum over price segments, exact. */
export function costOver(series: readonly PriceSeries[], from: number, to: number): NodeCost {
  const cuts = new Set<number>([from, to]);
  for (const s of series) for (const p of s.points) if (p.effective_from > from && p.effective_from < to) cuts.add(p.effective_from);
  const times = [...cuts].sort((a, b) => a - b);
  const segments: CostSegment[] = [];
  let numerator = new D(0);
  let priced = 0;
  let fallback = 0;
  for (let i = 0; i + 1 < times.length; i++) {
    const a = times[i]!;
    const b = times[i + 1]!;
    const p = priceAt(series, a);
    if (!p) continue;
    const ms = b - a;
    const last = segments[segments.length - 1];
    if (last && last.to === a && last.usd_per_hour === p.usd_per_hour && last.source === p.source) {
      last.to = b;
    } else {
      segments.push({ from: a, to: b, usd_per_hour: p.usd_per_hour, source: p.source, fallback: p.fallback, cost: '0' });
    }
    numerator = numerator.plus(new D(p.usd_per_hour).times(ms));
    priced += ms;
    if (p.fallback) fallback += ms;
  }
  for (const s of segments)
    s.cost = new D(s.usd_per_hour)
      .times(s.to - s.from)
      .div(MS_PER_HOUR)
      .toDecimalPlaces(9, D.ROUND_DOWN)
      .toFixed();
  return {
    cost: numerator.div(MS_PER_HOUR).toDecimalPlaces(9, D.ROUND_DOWN).toFixed(),
    segments,
    priced_ms: priced,
    fallback_ms: fallback,
    unpriced_ms: to - from - priced,
  };
}
