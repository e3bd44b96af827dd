// The spot and on-demand price of a tier's capacity, from the price syncs' in-memory view. A tier
// names what it prices in its configuration (`pricing`: instance type, region, zone) rather than
// taking it from the node inventory, because a pool at zero replicas has no nodes to look up — and
// that is when the price matters most for deciding where to scale up.
//
// Choice among matching series: price-book entries win over feeds (as in the cost model); then the
// most specific (the tier's own zone, then its own region, over entries for every zone or region);
// then the lowest price, which is what a tier with no zone named pays in the cheapest zone.
import type { LivePrice, LivePrices } from '../../../exporters/prices/live.ts';
import type { TierPricing } from './config.ts';
import { age, MetricUnavailable } from './errors.ts';

export type PriceMetric = 'spot_price' | 'on_demand_price' | 'spot_discount';

export interface PriceLookup {
  signal: PriceMetric;
  tier: string;
  pricing: TierPricing;
  /** Fixed bound (autoscale.price_stale_after_ms); absent: twice each source's sync interval. */
  staleAfterMs: number | undefined;
  now: number;
}

function describe(p: TierPricing): string {
  return [p.instance_type, p.provider, p.region || 'any region', p.zone].filter((s) => s !== '').join(' / ');
}

export function currentPrice(live: LivePrices, l: PriceLookup, capacity: 'spot' | 'on_demand'): number {
  const p = l.pricing;
  const all = live.candidates({ instanceType: p.instance_type, capacityType: capacity, provider: p.provider, region: p.region, zone: p.zone, os: p.os });
  if (all.length === 0) {
    const synced = live.synced();
    const why =
      synced.length === 0
        ? 'no price source has synced in this collector yet (prices.enabled, prices.sources.*, prices.book)'
        : `no ${capacity} price for ${describe(p)} from the sources synced (${synced.join(', ')})`;
    throw new MetricUnavailable(l.signal, l.tier, why);
  }
  let fresh: LivePrice[] = [];
  let newest = Number.NEGATIVE_INFINITY;
  let bound = 0;
  for (const c of all) {
    const s = live.source(c.source);
    const interval = s?.intervalMs || Number.POSITIVE_INFINITY;
    const limit = l.staleAfterMs ?? 2 * interval;
    const syncedAt = s?.syncedAt ?? 0;
    if (l.now - syncedAt <= limit) fresh.push(c);
    else if (syncedAt > newest) {
      newest = syncedAt;
      bound = limit;
    }
  }
  if (fresh.length === 0)
    throw new MetricUnavailable(
      l.signal,
      l.tier,
      `the ${capacity} price of ${describe(p)} is stale: its source last synced ${age(l.now - newest)} ago (bound ${age(bound)})`,
    );
  if (fresh.some((c) => c.provider === 'book')) fresh = fresh.filter((c) => c.provider === 'book');
  const score = (c: LivePrice) => (p.zone !== '' && c.zone === p.zone ? 2 : 0) + (c.region === p.region ? 1 : 0);
  const best = Math.max(...fresh.map(score));
  return Math.min(...fresh.filter((c) => score(c) === best).map((c) => c.usdPerHour));
}

export function priceMetric(live: LivePrices, l: PriceLookup): number {
  switch (l.signal) {
    case 'spot_price':
      return currentPrice(live, l, 'spot');
    case 'on_demand_price':
      return currentPrice(live, l, 'on_demand');
    case 'spot_discount': {
      const onDemand = currentPrice(live, l, 'on_demand');
      const spot = currentPrice(live, l, 'spot');
      if (onDemand <= 0) throw new MetricUnavailable(l.signal, l.tier, `the on-demand price of ${describe(l.pricing)} is 0, so no discount can be computed`);
      return 1 - spot / onDemand;
    }
  }
}
