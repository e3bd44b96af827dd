// The static price book from the configuration: on-prem hardware and negotiated contracts. Its rows
// are stored under provider `book`, which the as-of lookup consults before any feed.
import type { BookEntry } from '../config.ts';
import { dec, perHour } from '../money.ts';
import { pricePoint } from '../point.ts';
import type { FetchWindow, PriceSource, SourceResult } from '../source.ts';

export class BookSource implements PriceSource {
  readonly name = 'book';
  readonly provider = 'book';
  readonly hasHistory = true;
  private readonly entries: readonly BookEntry[];

  constructor(entries: readonly BookEntry[]) {
    this.entries = entries;
  }

  async fetch(w: FetchWindow): Promise<SourceResult> {
    const points = this.entries.map((e) => {
      const eff = typeof e.effective_from === 'number' ? e.effective_from : Date.parse(e.effective_from);
      if (!Number.isFinite(eff)) throw new Error(`price book: bad effective_from ${JSON.stringify(e.effective_from)} for ${e.instance_type}`);
      const usd = perHour(dec(e.price).times(dec(e.usd_rate)), e.unit);
      return pricePoint({
        effectiveFrom: eff,
        provider: e.provider,
        region: e.region,
        zone: e.zone,
        instanceType: e.instance_type,
        capacityType: e.capacity_type,
        os: e.os,
        usdPerHour: usd,
        rawPrice: e.price,
        rawUnit: e.unit,
        currency: e.currency,
        source: this.name,
        gpu: { model: e.gpu_model, count: e.gpu_count },
        observedAt: w.now,
      });
    });
    return { points, skipped: {}, pages: 0 };
  }
}
