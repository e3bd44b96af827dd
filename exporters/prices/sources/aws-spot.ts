// AWS spot price history through the EC2 SDK's DescribeSpotPriceHistory. All pages are read; the
// first row of each series is the price already in force at the window's start (AWS returns it with
// its older timestamp) and is kept, since it prices the start of the window. "Linux/UNIX" and
// "Linux/UNIX (Amazon VPC)" describe the same Linux price and are folded into one `linux` series.
import { DescribeSpotPriceHistoryCommand, EC2Client, type _InstanceType, type SpotPrice } from '@aws-sdk/client-ec2';
import type { PricePointRecord } from '../../../collector/core/schema/tables.ts';
import { AWS_TABLE, type GpuCatalog } from '../catalog.ts';
import { dec } from '../money.ts';
import { changesOnly, storablePoint } from '../point.ts';
import { GarbageAnswer, SkipCounter, type FetchWindow, type PriceSource, type SourceResult } from '../source.ts';
import { awsClientConfig, sendAws, type AwsClientSettings } from './aws-client.ts';

export interface AwsSpotOptions extends AwsClientSettings {
  regions: readonly string[];
  instanceTypes: readonly string[];
  productDescriptions: readonly string[];
  pageSize: number;
  maxPages: number;
  catalog: GpuCatalog;
}

/** Operating system of a product description; VPC and classic variants are the same price list. */
export function osOfProduct(desc: string): string {
  const base = desc.replace(/\s*\(Amazon VPC\)\s*$/, '').trim();
  if (base === 'Linux/UNIX') return 'linux';
  if (base === 'Windows') return 'windows';
  if (base === 'SUSE Linux') return 'suse';
  if (base === 'Red Hat Enterprise Linux') return 'rhel';
  return base.toLowerCase().replace(/[^a-z0-9]+/g, '_');
}

export function regionOfZone(zone: string): string {
  // us-east-1a → us-east-1; local zones (us-west-2-lax-1a) keep their parent region's prefix.
  const m = /^([a-z]{2}(?:-gov)?-[a-z]+-\d+)/.exec(zone);
  return m ? m[1]! : zone.replace(/[a-z]$/, '');
}

export class AwsSpotSource implements PriceSource {
  readonly name = 'aws-spot';
  readonly provider = 'aws';
  readonly hasHistory = true;
  private readonly o: AwsSpotOptions;

  constructor(o: AwsSpotOptions) {
    this.o = o;
  }

  async fetch(w: FetchWindow): Promise<SourceResult> {
    const skipped = new SkipCounter();
    const rows: PricePointRecord[] = [];
    let pages = 0;
    const instanceTypes = this.o.instanceTypes.length ? this.o.instanceTypes : AWS_TABLE.map((r) => r.instanceType);
    for (const region of this.o.regions) {
      const client = new EC2Client(awsClientConfig(this.o, region));
      try {
        const input = {
          StartTime: new Date(w.since),
          EndTime: new Date(w.until),
          // The SDK's union lists known types; a newer type name is sent as given.
          InstanceTypes: [...instanceTypes] as _InstanceType[],
          ProductDescriptions: [...this.o.productDescriptions],
          MaxResults: this.o.pageSize,
        };
        let token: string | undefined;
        do {
          if (++pages > this.o.maxPages) throw new GarbageAnswer(`more than ${this.o.maxPages} pages`);
          const command = new DescribeSpotPriceHistoryCommand({ ...input, ...(token ? { NextToken: token } : {}) });
          const page = await sendAws(
            (abortSignal) => client.send(command, { abortSignal }),
            `DescribeSpotPriceHistory in ${region}`,
            this.o.timeoutMs,
            w.signal,
          );
          if (!Array.isArray(page.SpotPriceHistory)) throw new GarbageAnswer('DescribeSpotPriceHistory answered without a spotPriceHistorySet');
          for (const item of page.SpotPriceHistory) {
            const p = this.toPoint(item, region, w.now, skipped);
            if (p) rows.push(p);
          }
          token = page.NextToken || undefined;
        } while (token);
      } finally {
        client.destroy();
      }
    }
    // The plain description sorts before its VPC twin, so at the same instant the plain row is kept.
    const vpc = (p: PricePointRecord) => (String(p.raw_unit).includes('(Amazon VPC)') ? 1 : 0);
    rows.sort((a, b) => vpc(a) - vpc(b));
    return { points: changesOnly(rows), skipped: skipped.counts, pages };
  }

  private toPoint(item: SpotPrice, region: string, now: number, skipped: SkipCounter): PricePointRecord | undefined {
    const zone = item.AvailabilityZone ?? '';
    const type = item.InstanceType ?? '';
    const t = item.Timestamp instanceof Date ? item.Timestamp.getTime() : NaN;
    if (!type || !zone || !Number.isFinite(t) || item.SpotPrice === undefined) {
      skipped.add('incomplete_item');
      return undefined;
    }
    let price;
    try {
      price = dec(item.SpotPrice);
    } catch {
      skipped.add('bad_price');
      return undefined;
    }
    if (price.lte(0)) {
      skipped.add('bad_price');
      return undefined;
    }
    const desc = item.ProductDescription ?? 'Linux/UNIX';
    const p = storablePoint({
      effectiveFrom: t,
      provider: 'aws',
      region: regionOfZone(zone) || region,
      zone,
      instanceType: type,
      capacityType: 'spot',
      os: osOfProduct(desc),
      usdPerHour: price,
      rawPrice: item.SpotPrice,
      // The hour is implied by the API; the description tells which variant the row came from.
      rawUnit: `1 Hour (${desc})`,
      source: this.name,
      gpu: this.o.catalog.lookup(type),
      observedAt: now,
    });
    if (!p) skipped.add('bad_price');
    return p;
  }
}
