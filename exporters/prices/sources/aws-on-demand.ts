// AWS on-demand prices: the Price List API (GetProducts through the pricing SDK, every page, each
// PriceList element a JSON document in a string) or the maintained table shipped with llmeter.
import { GetProductsCommand, PricingClient } from '@aws-sdk/client-pricing';
import type { PricePointRecord } from '../../../collector/core/schema/tables.ts';
import { AWS_TABLE, AWS_TABLE_DATE, type GpuCatalog } from '../catalog.ts';
import { expectRecord, isRecord, str } from '../http.ts';
import { dec, hoursInUnit, perHour } from '../money.ts';
import { changesOnly, pricePoint, storablePoint } from '../point.ts';
import { GarbageAnswer, SkipCounter, type FetchWindow, type PriceSource, type SourceResult } from '../source.ts';
import { awsClientConfig, sendAws, type AwsClientSettings } from './aws-client.ts';

export interface AwsOnDemandOptions extends AwsClientSettings {
  mode: 'table' | 'api';
  apiRegion: string;
  regions: readonly string[];
  instanceTypes: readonly string[];
  maxPages: number;
  catalog: GpuCatalog;
}

const OS: Record<string, string> = { Linux: 'linux', Windows: 'windows', RHEL: 'rhel', SUSE: 'suse' };

/**
 * A PriceList element as the SDK hands it over: a JSON document in a string (the wire form), or a
 * lazily converted JSON string object, or a document already parsed.
 */
export function priceListDocument(item: unknown): unknown {
  if (typeof item === 'string' || item instanceof String) {
    try {
      return JSON.parse(String(item)) as unknown;
    } catch {
      throw new GarbageAnswer('a PriceList element is not JSON');
    }
  }
  if (isRecord(item) && typeof item.toJSON === 'function' && !('product' in item)) return priceListDocument(String(item));
  return item;
}

/** One GetProducts PriceList element → its on-demand hourly price, or the reason it is not one. */
export function parsePriceListItem(item: unknown, now: number, catalog: GpuCatalog): PricePointRecord | string {
  const doc = priceListDocument(item);
  const product = expectRecord(expectRecord(doc, 'PriceList element').product, 'PriceList element product');
  const attrs = isRecord(product.attributes) ? product.attributes : {};
  if (product.productFamily !== 'Compute Instance') return 'not_an_instance';
  const type = str(attrs.instanceType);
  const region = str(attrs.regionCode);
  if (!type || !region) return 'incomplete_item';
  if (
    (attrs.tenancy && attrs.tenancy !== 'Shared') ||
    (attrs.preInstalledSw && attrs.preInstalledSw !== 'NA') ||
    (attrs.capacitystatus && attrs.capacitystatus !== 'Used')
  ) {
    return 'other_variant';
  }
  const terms = isRecord(doc) && isRecord(doc.terms) && isRecord(doc.terms.OnDemand) ? doc.terms.OnDemand : undefined;
  if (!terms) return 'no_on_demand_term';
  for (const term of Object.values(terms)) {
    if (!isRecord(term) || !isRecord(term.priceDimensions)) continue;
    for (const dim of Object.values(term.priceDimensions)) {
      if (!isRecord(dim) || !isRecord(dim.pricePerUnit)) continue;
      const raw = str(dim.pricePerUnit.USD);
      const unit = str(dim.unit) ?? '';
      if (raw === undefined || !hoursInUnit(unit)) continue;
      let price;
      try {
        price = perHour(dec(raw), unit);
      } catch {
        return 'bad_price';
      }
      const eff = Date.parse(str(term.effectiveDate) ?? '');
      return (
        storablePoint({
          effectiveFrom: Number.isFinite(eff) ? eff : now,
          provider: 'aws',
          region,
          instanceType: type,
          capacityType: 'on_demand',
          os: OS[str(attrs.operatingSystem) ?? 'Linux'] ?? String(attrs.operatingSystem).toLowerCase(),
          usdPerHour: price,
          rawPrice: raw,
          rawUnit: unit,
          source: 'aws-pricing',
          gpu: catalog.lookup(type),
          observedAt: now,
        }) ?? 'bad_price'
      );
    }
  }
  return 'no_hourly_price';
}

export class AwsOnDemandSource implements PriceSource {
  readonly name: string;
  readonly provider = 'aws';
  readonly hasHistory = true;
  private readonly o: AwsOnDemandOptions;

  constructor(o: AwsOnDemandOptions) {
    this.o = o;
    this.name = o.mode === 'api' ? 'aws-pricing' : 'aws-table';
  }

  async fetch(w: FetchWindow): Promise<SourceResult> {
    return this.o.mode === 'api' ? this.fromApi(w) : this.fromTable(w);
  }

  private fromTable(w: FetchWindow): SourceResult {
    const skipped = new SkipCounter();
    const wanted = new Set(this.o.instanceTypes);
    const points: PricePointRecord[] = [];
    for (const row of AWS_TABLE) {
      if (wanted.size && !wanted.has(row.instanceType)) continue;
      if (!row.usdPerHour) {
        skipped.add('no_public_price');
        continue;
      }
      // The table is us-east-1 only: other regions price differently and are not guessed.
      points.push(
        pricePoint({
          effectiveFrom: Date.parse(AWS_TABLE_DATE),
          provider: 'aws',
          region: 'us-east-1',
          instanceType: row.instanceType,
          capacityType: 'on_demand',
          usdPerHour: dec(row.usdPerHour),
          rawPrice: row.usdPerHour,
          rawUnit: 'Hrs',
          source: this.name,
          gpu: this.o.catalog.lookup(row.instanceType),
          observedAt: w.now,
        }),
      );
    }
    return { points, skipped: skipped.counts, pages: 0 };
  }

  private async fromApi(w: FetchWindow): Promise<SourceResult> {
    const skipped = new SkipCounter();
    const points: PricePointRecord[] = [];
    const client = new PricingClient(awsClientConfig(this.o, this.o.apiRegion));
    const types = this.o.instanceTypes.length ? this.o.instanceTypes : AWS_TABLE.map((r) => r.instanceType);
    let pages = 0;
    try {
      for (const region of this.o.regions) {
        for (const type of types) {
          let token: string | undefined;
          do {
            if (++pages > this.o.maxPages) throw new GarbageAnswer(`more than ${this.o.maxPages} pages`);
            const command = new GetProductsCommand({
              ServiceCode: 'AmazonEC2',
              FormatVersion: 'aws_v1',
              Filters: [
                { Type: 'TERM_MATCH', Field: 'instanceType', Value: type },
                { Type: 'TERM_MATCH', Field: 'regionCode', Value: region },
                { Type: 'TERM_MATCH', Field: 'operatingSystem', Value: 'Linux' },
                { Type: 'TERM_MATCH', Field: 'tenancy', Value: 'Shared' },
                { Type: 'TERM_MATCH', Field: 'preInstalledSw', Value: 'NA' },
                { Type: 'TERM_MATCH', Field: 'capacitystatus', Value: 'Used' },
              ],
              ...(token ? { NextToken: token } : {}),
            });
            const out = await sendAws(
              (abortSignal) => client.send(command, { abortSignal }),
              `GetProducts for ${type} in ${region}`,
              this.o.timeoutMs,
              w.signal,
            );
            if (!Array.isArray(out.PriceList)) throw new GarbageAnswer('GetProducts answered without a PriceList');
            for (const item of out.PriceList) {
              const r = parsePriceListItem(item, w.now, this.o.catalog);
              if (typeof r === 'string') skipped.add(r);
              else points.push(r);
            }
            token = out.NextToken || undefined;
          } while (token);
        }
      }
    } finally {
      client.destroy();
    }
    return { points: changesOnly(points), skipped: skipped.counts, pages };
  }
}
