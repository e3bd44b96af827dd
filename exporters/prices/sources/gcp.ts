// GCP Cloud Billing Catalog: Compute Engine SKUs priced per GPU-hour, per vCPU-hour and per
// GiB-hour as Money (units + nanos). A machine type's price is the sum of its GPU, core and RAM SKUs
// in a region, on-demand or spot (Preemptible) — computed here, since GCP publishes no VM price.
import type { Decimal } from 'decimal.js';
import type { PricePointRecord } from '../../../collector/core/schema/tables.ts';
import type { GcpMachine } from '../config.ts';
import { expectArray, expectRecord, isRecord, requestJson, str, type HttpOptions } from '../http.ts';
import { Dec, dec, fromUnitsNanos } from '../money.ts';
import { changesOnly, storablePoint, type CapacityType } from '../point.ts';
import { GarbageAnswer, SkipCounter, type FetchWindow, type PriceSource, type SourceResult } from '../source.ts';

/** Built-in GPU machine shapes (Compute Engine documentation); the configuration adds more. */
export const GCP_MACHINES: readonly GcpMachine[] = [
  ...[1, 2, 4, 8].map((n) => ({
    instance_type: `a2-highgpu-${n}g`,
    gpu_sku: 'Nvidia Tesla A100 GPU',
    gpu_count: n,
    gpu_model: 'NVIDIA A100 40GB',
    core_sku: 'A2 Instance Core',
    vcpus: 12 * n,
    ram_sku: 'A2 Instance Ram',
    memory_gib: String(85 * n),
  })),
  {
    instance_type: 'a2-megagpu-16g',
    gpu_sku: 'Nvidia Tesla A100 GPU',
    gpu_count: 16,
    gpu_model: 'NVIDIA A100 40GB',
    core_sku: 'A2 Instance Core',
    vcpus: 96,
    ram_sku: 'A2 Instance Ram',
    memory_gib: '1360',
  },
  ...[1, 2, 4, 8].map((n) => ({
    instance_type: `a2-ultragpu-${n}g`,
    gpu_sku: 'Nvidia A100 80GB GPU',
    gpu_count: n,
    gpu_model: 'NVIDIA A100 80GB',
    core_sku: 'A2 Instance Core',
    vcpus: 12 * n,
    ram_sku: 'A2 Instance Ram',
    memory_gib: String(170 * n),
  })),
  {
    instance_type: 'g2-standard-4',
    gpu_sku: 'Nvidia L4 GPU',
    gpu_count: 1,
    gpu_model: 'NVIDIA L4',
    core_sku: 'G2 Instance Core',
    vcpus: 4,
    ram_sku: 'G2 Instance Ram',
    memory_gib: '16',
  },
  {
    instance_type: 'g2-standard-8',
    gpu_sku: 'Nvidia L4 GPU',
    gpu_count: 1,
    gpu_model: 'NVIDIA L4',
    core_sku: 'G2 Instance Core',
    vcpus: 8,
    ram_sku: 'G2 Instance Ram',
    memory_gib: '32',
  },
  {
    instance_type: 'g2-standard-24',
    gpu_sku: 'Nvidia L4 GPU',
    gpu_count: 2,
    gpu_model: 'NVIDIA L4',
    core_sku: 'G2 Instance Core',
    vcpus: 24,
    ram_sku: 'G2 Instance Ram',
    memory_gib: '96',
  },
  {
    instance_type: 'g2-standard-48',
    gpu_sku: 'Nvidia L4 GPU',
    gpu_count: 4,
    gpu_model: 'NVIDIA L4',
    core_sku: 'G2 Instance Core',
    vcpus: 48,
    ram_sku: 'G2 Instance Ram',
    memory_gib: '192',
  },
  {
    instance_type: 'a3-highgpu-8g',
    gpu_sku: 'Nvidia H100 80GB GPU',
    gpu_count: 8,
    gpu_model: 'NVIDIA H100 80GB',
    core_sku: 'A3 Instance Core',
    vcpus: 208,
    ram_sku: 'A3 Instance Ram',
    memory_gib: '1872',
  },
];

export interface GcpOptions {
  endpoint: string;
  serviceId: string;
  apiKey: string;
  regions: readonly string[];
  machines: readonly GcpMachine[];
  maxPages: number;
  http: Omit<HttpOptions, 'signal'>;
}

interface SkuPrice {
  price: Decimal;
  /** The tier's unit price as sent (units + nanos written as one decimal). */
  raw: string;
  /** The pricing expression's usage unit as sent ("h", "GiBy.h"). */
  unit: string;
  /** The raw unit with the display quantity when it is not 1 ("730 h"). */
  rawUnit: string;
  effective: number;
}

type Usage = 'on_demand' | 'spot';

/** "Nvidia Tesla A100 GPU attached to Spot Preemptible VMs running in Americas" → base + spot. */
export function skuBase(description: string, usageType: string): { base: string; usage: Usage } | undefined {
  const m = /^(.*?)\s+running in\s+.*$/.exec(description);
  if (!m) return undefined;
  let base = m[1]!;
  let spot = usageType === 'Preemptible';
  const attached = /^(.*?)\s+attached to (Spot )?Preemptible VMs$/.exec(base);
  if (attached) {
    base = attached[1]!;
    spot = true;
  }
  const prefixed = /^(?:Spot )?Preemptible\s+(.*)$/.exec(base);
  if (prefixed) {
    base = prefixed[1]!;
    spot = true;
  }
  return { base, usage: spot ? 'spot' : 'on_demand' };
}

export class GcpSource implements PriceSource {
  readonly name = 'gcp';
  readonly provider = 'gcp';
  readonly hasHistory = true;
  private readonly o: GcpOptions;

  constructor(o: GcpOptions) {
    this.o = o;
  }

  async fetch(w: FetchWindow): Promise<SourceResult> {
    const skipped = new SkipCounter();
    // base description → usage → region → price
    const prices = new Map<string, SkuPrice>();
    let pageToken = '';
    let pages = 0;
    do {
      if (++pages > this.o.maxPages) throw new GarbageAnswer(`more than ${this.o.maxPages} pages`);
      const url = new URL(`${this.o.endpoint.replace(/\/$/, '')}/v1/services/${encodeURIComponent(this.o.serviceId)}/skus`);
      url.searchParams.set('currencyCode', 'USD');
      url.searchParams.set('pageSize', '5000');
      if (this.o.apiKey) url.searchParams.set('key', this.o.apiKey);
      if (pageToken) url.searchParams.set('pageToken', pageToken);
      const page = expectRecord(await requestJson(url.toString(), {}, { ...this.o.http, signal: w.signal }), 'SKU page');
      for (const sku of expectArray(page.skus ?? [], 'skus')) this.collect(sku, prices, skipped);
      pageToken = str(page.nextPageToken) ?? '';
    } while (pageToken);
    return { points: changesOnly(this.machines(prices, w.now, skipped)), skipped: skipped.counts, pages };
  }

  private collect(sku: unknown, prices: Map<string, SkuPrice>, skipped: SkipCounter): void {
    if (!isRecord(sku) || !isRecord(sku.category)) return skipped.add('incomplete_item');
    if (sku.category.resourceFamily !== 'Compute') return skipped.add('not_compute');
    const parsed = skuBase(str(sku.description) ?? '', str(sku.category.usageType) ?? '');
    if (!parsed) return skipped.add('unknown_description');
    if (str(sku.category.usageType) === 'Commit1Yr' || str(sku.category.usageType) === 'Commit3Yr') return skipped.add('commitment');
    const info = Array.isArray(sku.pricingInfo) ? sku.pricingInfo[sku.pricingInfo.length - 1] : undefined;
    const expr = isRecord(info) && isRecord(info.pricingExpression) ? info.pricingExpression : undefined;
    const rates = expr && Array.isArray(expr.tieredRates) ? expr.tieredRates : [];
    // The first tier is the list price; later tiers are volume discounts that start above zero.
    const tier = rates.find((t) => isRecord(t) && Number(t.startUsageAmount ?? 0) === 0);
    if (!expr || !isRecord(tier) || !isRecord(tier.unitPrice)) return skipped.add('no_price');
    if ((str(tier.unitPrice.currencyCode) ?? 'USD') !== 'USD') return skipped.add('not_usd');
    let sent: Decimal;
    const qty = Number(expr.displayQuantity ?? 1);
    try {
      const units = tier.unitPrice.units;
      sent = fromUnitsNanos(
        typeof units === 'string' || typeof units === 'number' ? units : undefined,
        typeof tier.unitPrice.nanos === 'number' ? tier.unitPrice.nanos : 0,
      );
    } catch {
      return skipped.add('bad_price');
    }
    // A negative price is not a price: skipped, like a malformed one, and the machines that need
    // this SKU are then not priced (incomplete_machine).
    if (sent.isNegative() || !(qty > 0)) return skipped.add('bad_price');
    const price = qty !== 1 ? sent.div(qty) : sent;
    const unit = str(expr.usageUnit) ?? '';
    const effective = Date.parse(str(isRecord(info) ? info.effectiveTime : undefined) ?? '');
    const regions = Array.isArray(sku.serviceRegions) ? sku.serviceRegions.filter((r): r is string => typeof r === 'string') : [];
    const entry = { price, raw: sent.toFixed(), unit, rawUnit: qty !== 1 ? `${qty} ${unit}` : unit, effective };
    for (const region of regions) {
      if (this.o.regions.length && !this.o.regions.includes(region)) continue;
      prices.set(`${parsed.base}\u0001${parsed.usage}\u0001${region}`, entry);
    }
  }

  private machines(prices: Map<string, SkuPrice>, now: number, skipped: SkipCounter): PricePointRecord[] {
    const byType = new Map<string, GcpMachine>();
    for (const m of [...GCP_MACHINES, ...this.o.machines]) byType.set(m.instance_type, m);
    const regions = new Set<string>();
    for (const k of prices.keys()) regions.add(k.split('\u0001')[2]!);
    const out: PricePointRecord[] = [];
    for (const m of byType.values()) {
      for (const region of regions) {
        for (const usage of ['on_demand', 'spot'] as const) {
          const get = (base: string) => prices.get(`${base}\u0001${usage}\u0001${region}`);
          const gpu = m.gpu_sku ? get(m.gpu_sku) : undefined;
          const core = get(m.core_sku);
          const ram = get(m.ram_sku);
          if ((m.gpu_sku && !gpu) || !core || !ram) {
            // A shape is priced only when every part is: a VM without its GPU price is not cheaper.
            if (gpu || core || ram) skipped.add('incomplete_machine');
            continue;
          }
          if (core.unit !== 'h' || ram.unit !== 'GiBy.h' || (gpu && gpu.unit !== 'h')) {
            skipped.add('unexpected_unit');
            continue;
          }
          const mem = dec(m.memory_gib);
          let total = core.price.times(m.vcpus).plus(ram.price.times(mem));
          if (gpu) total = total.plus(gpu.price.times(m.gpu_count));
          // GCP publishes no machine price: what it sent are the parts' SKU prices, kept in order.
          const parts = gpu ? [gpu, core, ram] : [core, ram];
          const effective = Math.max(gpu?.effective ?? 0, core.effective, ram.effective);
          const point = storablePoint({
            effectiveFrom: Number.isFinite(effective) && effective > 0 ? effective : now,
            provider: 'gcp',
            region,
            instanceType: m.instance_type,
            capacityType: usage as CapacityType,
            usdPerHour: new Dec(total),
            rawPrice: parts.map((p) => p.raw).join(';'),
            rawUnit: parts.map((p) => p.rawUnit).join(';'),
            source: this.name,
            gpu: { model: m.gpu_model, count: m.gpu_count },
            observedAt: now,
          });
          if (point) out.push(point);
          else skipped.add('bad_price');
        }
      }
    }
    return out;
  }
}
