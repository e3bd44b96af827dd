// Azure Retail Prices API: unauthenticated, OData $filter, pages of 100 items chained by
// NextPageLink. Spot, Low Priority and Windows meters are separate rows of the same SKU and are told
// apart by the meter/sku/product names; reservations are converted from their term price.
import type { PricePointRecord } from '../../../collector/core/schema/tables.ts';
import type { GpuCatalog } from '../catalog.ts';
import { expectArray, expectRecord, isRecord, requestJson, str, type HttpOptions } from '../http.ts';
import { dec, perHour } from '../money.ts';
import { changesOnly, storablePoint, type CapacityType } from '../point.ts';
import { GarbageAnswer, SkipCounter, type FetchWindow, type PriceSource, type SourceResult } from '../source.ts';

export interface AzureOptions {
  endpoint: string;
  apiVersion: string;
  regions: readonly string[];
  instanceTypes: readonly string[];
  includeDevTest: boolean;
  maxPages: number;
  http: Omit<HttpOptions, 'signal'>;
  catalog: GpuCatalog;
}

function odataString(v: string): string {
  return `'${v.replace(/'/g, "''")}'`;
}

export function azureFilter(o: Pick<AzureOptions, 'regions' | 'instanceTypes'>): string {
  const parts = ["serviceName eq 'Virtual Machines'"];
  if (o.instanceTypes.length) parts.push(`(${o.instanceTypes.map((t) => `armSkuName eq ${odataString(t)}`).join(' or ')})`);
  if (o.regions.length) parts.push(`(${o.regions.map((r) => `armRegionName eq ${odataString(r)}`).join(' or ')})`);
  return parts.join(' and ');
}

/** The next page's URL, kept on the configured endpoint's origin (a mirror or proxy keeps working). */
export function nextPageUrl(link: string, endpoint: string): string {
  const next = new URL(link);
  const base = new URL(endpoint);
  next.protocol = base.protocol;
  next.host = base.host;
  return next.toString();
}

export function classifyAzureItem(item: Record<string, unknown>, includeDevTest: boolean): { capacity: CapacityType; os: string; termHours?: string } | string {
  const type = str(item.type) ?? 'Consumption';
  const names = `${str(item.meterName) ?? ''} ${str(item.skuName) ?? ''}`;
  const os = /Windows$/.test(str(item.productName) ?? '') ? 'windows' : 'linux';
  if (type === 'DevTestConsumption' && !includeDevTest) return 'dev_test';
  if (type === 'Reservation') {
    const term = str(item.reservationTerm) ?? '';
    return { capacity: 'reserved', os, termHours: term };
  }
  if (type !== 'Consumption' && type !== 'DevTestConsumption') return 'other_price_type';
  if (/\bLow Priority\b/i.test(names)) return { capacity: 'low_priority', os };
  if (/\bSpot\b/i.test(names)) return { capacity: 'spot', os };
  return { capacity: 'on_demand', os };
}

export class AzureSource implements PriceSource {
  readonly name = 'azure';
  readonly provider = 'azure';
  readonly hasHistory = true;
  private readonly o: AzureOptions;

  constructor(o: AzureOptions) {
    this.o = o;
  }

  async fetch(w: FetchWindow): Promise<SourceResult> {
    const skipped = new SkipCounter();
    const points: PricePointRecord[] = [];
    const first = new URL(this.o.endpoint);
    first.searchParams.set('api-version', this.o.apiVersion);
    first.searchParams.set('$filter', azureFilter(this.o));
    let url: string | undefined = first.toString();
    let pages = 0;
    while (url) {
      if (++pages > this.o.maxPages) throw new GarbageAnswer(`more than ${this.o.maxPages} pages`);
      const page = expectRecord(
        await requestJson(url, { headers: { accept: 'application/json' } }, { ...this.o.http, signal: w.signal }),
        'Retail Prices page',
      );
      for (const raw of expectArray(page.Items, 'Retail Prices Items')) {
        const r = isRecord(raw) ? this.toPoint(raw, w.now) : 'not_an_object';
        if (typeof r === 'string') skipped.add(r);
        else points.push(r);
      }
      const link = str(page.NextPageLink);
      url = link ? nextPageUrl(link, this.o.endpoint) : undefined;
    }
    return { points: changesOnly(points), skipped: skipped.counts, pages };
  }

  private toPoint(item: Record<string, unknown>, now: number): PricePointRecord | string {
    const sku = str(item.armSkuName);
    const region = str(item.armRegionName);
    if (!sku || !region) return 'incomplete_item';
    if ((str(item.currencyCode) ?? 'USD') !== 'USD') return 'not_usd';
    const c = classifyAzureItem(item, this.o.includeDevTest);
    if (typeof c === 'string') return c;
    const rawPrice = item.retailPrice ?? item.unitPrice;
    if (typeof rawPrice !== 'number' && typeof rawPrice !== 'string') return 'bad_price';
    let price;
    try {
      price = dec(rawPrice);
    } catch {
      return 'bad_price';
    }
    if (price.isNegative()) return 'bad_price';
    const unit = str(item.unitOfMeasure) ?? '1 Hour';
    let usd;
    try {
      // A reservation's price is for the whole term ("1 Year", "3 Years"), not per unit of measure.
      usd = c.termHours !== undefined ? perHour(price, c.termHours) : perHour(price, unit);
    } catch {
      return 'unit_not_time';
    }
    const eff = Date.parse(str(item.effectiveStartDate) ?? '');
    return (
      storablePoint({
        effectiveFrom: Number.isFinite(eff) ? eff : now,
        provider: 'azure',
        region,
        instanceType: sku,
        capacityType: c.capacity,
        os: c.os,
        usdPerHour: usd,
        rawPrice: String(rawPrice),
        rawUnit: c.termHours !== undefined ? `${unit} (${c.termHours} term)` : unit,
        source: this.name,
        gpu: this.o.catalog.lookup(sku),
        observedAt: now,
      }) ?? 'bad_price'
    );
  }
}
