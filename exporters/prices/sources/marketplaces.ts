// GPU clouds without price history: RunPod (GraphQL), Vast.ai (marketplace offers) and Lambda. Each
// sync sees today's price; the sync stores a row only when it differs from the last one stored, with
// effective_from the time the change was first seen.
import { readFileSync } from 'node:fs';
import type { PricePointRecord } from '../../../collector/core/schema/tables.ts';
import { expectArray, expectRecord, isRecord, requestJson, str, type HttpOptions } from '../http.ts';
import { dec } from '../money.ts';
import { storablePoint, type CapacityType } from '../point.ts';
import { GarbageAnswer, SkipCounter, type FetchWindow, type PriceSource, type SourceResult } from '../source.ts';

export interface MarketplaceOptions {
  endpoint: string;
  apiKey: string;
  http: Omit<HttpOptions, 'signal'>;
}

/** The key from the configuration or its file (read when the source is built). */
export function apiKeyOf(c: { api_key: string; api_key_file: string }): string {
  return c.api_key || (c.api_key_file ? readFileSync(c.api_key_file, 'utf8').trim() : '');
}

function authHeaders(key: string): Record<string, string> {
  return key ? { authorization: `Bearer ${key}` } : {};
}

export const RUNPOD_QUERY = `query GpuTypes {
  gpuTypes {
    id
    displayName
    memoryInGb
    secureCloud
    communityCloud
    securePrice
    communityPrice
    communitySpotPrice
    secureSpotPrice
  }
}`;

export class RunPodSource implements PriceSource {
  readonly name = 'runpod';
  readonly provider = 'runpod';
  readonly hasHistory = false;
  private readonly o: MarketplaceOptions & { gpuIds: readonly string[] };

  constructor(o: MarketplaceOptions & { gpuIds: readonly string[] }) {
    this.o = o;
  }

  async fetch(w: FetchWindow): Promise<SourceResult> {
    const skipped = new SkipCounter();
    const body = expectRecord(
      await requestJson(
        this.o.endpoint,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...authHeaders(this.o.apiKey) },
          body: JSON.stringify({ query: RUNPOD_QUERY }),
        },
        { ...this.o.http, signal: w.signal },
      ),
      'GraphQL answer',
    );
    // GraphQL reports errors with HTTP 200.
    if (Array.isArray(body.errors) && body.errors.length) {
      const msg = isRecord(body.errors[0]) ? str(body.errors[0].message) : undefined;
      throw new GarbageAnswer(`RunPod GraphQL error: ${msg ?? 'unknown'}`);
    }
    const data = expectRecord(body.data, 'GraphQL data');
    const points: PricePointRecord[] = [];
    const wanted = new Set(this.o.gpuIds);
    for (const t of expectArray(data.gpuTypes, 'gpuTypes')) {
      if (!isRecord(t) || typeof t.id !== 'string') {
        skipped.add('incomplete_item');
        continue;
      }
      if (wanted.size && !wanted.has(t.id)) continue;
      // Prices are per GPU per hour; the series is one GPU of that type in Secure or Community Cloud.
      const offers: [string, CapacityType, unknown][] = [
        ['secure', 'on_demand', t.securePrice],
        ['community', 'on_demand', t.communityPrice],
        ['secure', 'spot', t.secureSpotPrice],
        ['community', 'spot', t.communitySpotPrice],
      ];
      for (const [cloud, capacity, raw] of offers) {
        if (raw === null || raw === undefined) continue;
        if (typeof raw !== 'number' || raw <= 0) {
          skipped.add('bad_price');
          continue;
        }
        const point = storablePoint({
          effectiveFrom: w.now,
          provider: 'runpod',
          region: cloud,
          instanceType: t.id,
          capacityType: capacity,
          usdPerHour: dec(raw),
          rawPrice: String(raw),
          rawUnit: 'USD per GPU per hour',
          source: this.name,
          gpu: { model: str(t.displayName) ?? t.id, count: 1 },
          observedAt: w.now,
        });
        if (point) points.push(point);
        else skipped.add('bad_price');
      }
    }
    return { points, skipped: skipped.counts, pages: 1 };
  }
}

export class VastSource implements PriceSource {
  readonly name = 'vast';
  readonly provider = 'vast';
  readonly hasHistory = false;
  private readonly o: MarketplaceOptions & { query: Record<string, unknown> };

  constructor(o: MarketplaceOptions & { query: Record<string, unknown> }) {
    this.o = o;
  }

  async fetch(w: FetchWindow): Promise<SourceResult> {
    const skipped = new SkipCounter();
    const body = expectRecord(
      await requestJson(
        this.o.endpoint,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...authHeaders(this.o.apiKey) },
          body: JSON.stringify(this.o.query),
        },
        { ...this.o.http, signal: w.signal },
      ),
      'bundles answer',
    );
    // Documented as an array; the reference example shows a single object.
    const offers = Array.isArray(body.offers) ? body.offers : isRecord(body.offers) ? [body.offers] : expectArray(body.offers, 'offers');
    const bidding = this.o.query.type === 'bid' || this.o.query.type === 'interruptible';
    // The marketplace lists many hosts per GPU: keep the cheapest offer per model, count and country.
    const cheapest = new Map<string, { point: PricePointRecord; price: string }>();
    for (const o of offers) {
      if (!isRecord(o) || typeof o.gpu_name !== 'string' || typeof o.num_gpus !== 'number' || o.num_gpus <= 0) {
        skipped.add('incomplete_item');
        continue;
      }
      const raw = bidding ? o.min_bid : o.dph_total;
      if (typeof raw !== 'number' || !(raw > 0)) {
        skipped.add('bad_price');
        continue;
      }
      const geo = str(o.geolocation) ?? '';
      const country = /([A-Z]{2})\s*$/.exec(geo)?.[1] ?? '';
      const type = `${o.num_gpus}x ${o.gpu_name}`;
      const price = dec(raw);
      const key = `${type}\u0001${country}`;
      const prev = cheapest.get(key);
      if (prev && dec(prev.price).lte(price)) continue;
      const point = storablePoint({
        effectiveFrom: w.now,
        provider: 'vast',
        region: country,
        instanceType: type,
        capacityType: bidding ? 'spot' : 'marketplace',
        usdPerHour: price,
        rawPrice: String(raw),
        rawUnit: bidding ? 'min_bid USD per hour (whole offer)' : 'dph_total USD per hour (whole offer)',
        source: this.name,
        gpu: { model: o.gpu_name, count: o.num_gpus },
        observedAt: w.now,
      });
      if (!point) {
        skipped.add('bad_price');
        continue;
      }
      cheapest.set(key, { price: price.toFixed(), point });
    }
    return { points: [...cheapest.values()].map((c) => c.point), skipped: skipped.counts, pages: 1 };
  }
}

export class LambdaSource implements PriceSource {
  readonly name = 'lambda';
  readonly provider = 'lambda';
  readonly hasHistory = false;
  private readonly o: MarketplaceOptions;

  constructor(o: MarketplaceOptions) {
    this.o = o;
  }

  async fetch(w: FetchWindow): Promise<SourceResult> {
    const skipped = new SkipCounter();
    const body = expectRecord(
      await requestJson(this.o.endpoint, { headers: authHeaders(this.o.apiKey) }, { ...this.o.http, signal: w.signal }),
      'instance-types answer',
    );
    const data = expectRecord(body.data, 'instance-types data');
    const points: PricePointRecord[] = [];
    for (const [name, entry] of Object.entries(data)) {
      const it = isRecord(entry) && isRecord(entry.instance_type) ? entry.instance_type : undefined;
      const cents = it?.price_cents_per_hour;
      if (!it || typeof cents !== 'number' || !Number.isInteger(cents) || cents <= 0) {
        skipped.add(it ? 'bad_price' : 'incomplete_item');
        continue;
      }
      const specs = isRecord(it.specs) ? it.specs : {};
      const gpus = typeof specs.gpus === 'number' && Number.isInteger(specs.gpus) ? specs.gpus : 0;
      // Whole-instance price in integer cents; the same in every region, so the series is region-wide.
      const usd = dec(cents).div(100);
      const point = storablePoint({
        effectiveFrom: w.now,
        provider: 'lambda',
        instanceType: str(it.name) ?? name,
        capacityType: 'on_demand',
        usdPerHour: usd,
        rawPrice: String(cents),
        rawUnit: 'price_cents_per_hour',
        source: this.name,
        gpu: { model: str(it.gpu_description) ?? gpuModelFromLambdaName(name), count: gpus },
        observedAt: w.now,
      });
      if (point) points.push(point);
      else skipped.add('bad_price');
    }
    return { points, skipped: skipped.counts, pages: 1 };
  }
}

/** gpu_8x_h100_sxm5 → "H100 SXM5" (used when the answer carries no gpu_description). */
export function gpuModelFromLambdaName(name: string): string {
  const m = /^gpu_\d+x_(.+)$/.exec(name);
  return m
    ? m[1]!
        .split('_')
        .map((s) => s.toUpperCase())
        .join(' ')
    : '';
}
