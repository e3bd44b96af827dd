// The current price of every series the price syncs have fetched, kept in memory for the autoscaling
// signals (spot and on-demand price of a tier's instance type) so they never query ClickHouse. Fed by
// each successful sync with everything the source answered, changed or not; a series is as fresh as
// the last successful sync of its source.
import type { PricePointRecord } from '../../collector/core/schema/tables.ts';
import { seriesKey, timeMs } from './point.ts';

export interface LivePrice {
  source: string;
  provider: string;
  instanceType: string;
  region: string;
  zone: string;
  capacityType: PricePointRecord['capacity_type'];
  os: string;
  usdPerHour: number;
  effectiveFrom: number;
}

export interface PriceQuery {
  instanceType: string;
  capacityType: PricePointRecord['capacity_type'];
  /** '' = any provider. */
  provider: string;
  /** '' = any region. */
  region: string;
  /** '' = every zone of the region. */
  zone: string;
  os: string;
}

export interface SourceState {
  /** Last successful sync (epoch ms). */
  syncedAt: number;
  /** How often the source is synced (0: unknown). */
  intervalMs: number;
}

export class LivePrices {
  private readonly series = new Map<string, LivePrice>();
  private readonly sources = new Map<string, SourceState>();

  /** Sets a source's sync interval (before or after its first sync), which staleness is judged by. */
  expect(source: string, intervalMs: number): void {
    const s = this.sources.get(source);
    if (s) s.intervalMs = intervalMs;
    else this.sources.set(source, { syncedAt: 0, intervalMs });
  }

  /** Everything one successful sync of `source` answered, at `now`. */
  observe(source: string, points: readonly PricePointRecord[], now: number): void {
    for (const p of points) {
      const eff = timeMs(p.effective_from ?? 0);
      // A price announced for later is not the current one yet.
      if (!Number.isFinite(eff) || eff > now) continue;
      const usd = Number(p.usd_per_hour);
      if (!Number.isFinite(usd)) continue;
      const lp: LivePrice = {
        source,
        provider: p.provider ?? '',
        instanceType: p.instance_type ?? '',
        region: p.region ?? '',
        zone: p.zone ?? '',
        capacityType: p.capacity_type,
        os: p.os ?? 'linux',
        usdPerHour: usd,
        effectiveFrom: eff,
      };
      const k = seriesKey(p);
      const prev = this.series.get(k);
      if (!prev || prev.effectiveFrom <= eff) this.series.set(k, lp);
    }
    const s = this.sources.get(source);
    if (s) s.syncedAt = now;
    else this.sources.set(source, { syncedAt: now, intervalMs: 0 });
  }

  source(name: string): SourceState | undefined {
    return this.sources.get(name);
  }

  /** Sources that have synced at least once. */
  synced(): string[] {
    return [...this.sources].filter(([, s]) => s.syncedAt > 0).map(([n]) => n);
  }

  /**
   * Series that price `q`: same instance type, capacity type and OS; the provider when given; the
   * region, or an entry for every region (''); the zone when given, or an entry for every zone.
   */
  candidates(q: PriceQuery): LivePrice[] {
    const out: LivePrice[] = [];
    for (const p of this.series.values()) {
      if (p.instanceType !== q.instanceType || p.capacityType !== q.capacityType || p.os !== q.os) continue;
      if (q.provider !== '' && p.provider !== q.provider && p.provider !== 'book') continue;
      if (q.region !== '' && p.region !== q.region && p.region !== '') continue;
      if (q.zone !== '' && p.zone !== q.zone && p.zone !== '') continue;
      out.push(p);
    }
    return out;
  }
}
