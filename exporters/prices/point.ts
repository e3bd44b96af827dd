// Builds one price_point record: the normalised price beside the raw one, per GPU-hour from the GPU
// count, all through decimal arithmetic.
import type { Decimal } from 'decimal.js';
import type { PricePointRecord } from '../../collector/core/schema/tables.ts';
import type { GpuInfo } from './catalog.ts';
import { money, perGpuHour } from './money.ts';

export type CapacityType = PricePointRecord['capacity_type'];

export interface PointInput {
  effectiveFrom: number;
  provider: string;
  region?: string;
  zone?: string;
  instanceType: string;
  capacityType: CapacityType;
  os?: string;
  usdPerHour: Decimal;
  rawPrice: string;
  rawUnit: string;
  currency?: string;
  source: string;
  gpu: GpuInfo;
  observedAt: number;
}

export function pricePoint(i: PointInput): PricePointRecord {
  if (i.usdPerHour.isNegative() || !i.usdPerHour.isFinite()) throw new Error(`negative or non-finite price ${i.usdPerHour.toString()}`);
  return {
    effective_from: i.effectiveFrom,
    provider: i.provider,
    region: i.region ?? '',
    zone: i.zone ?? '',
    instance_type: i.instanceType,
    capacity_type: i.capacityType,
    os: i.os ?? 'linux',
    usd_per_hour: money(i.usdPerHour),
    usd_per_gpu_hour: perGpuHour(i.usdPerHour, i.gpu.count),
    gpu_model: i.gpu.model,
    gpu_count: i.gpu.count,
    raw_price: i.rawPrice.slice(0, 64),
    raw_unit: i.rawUnit,
    currency: i.currency ?? 'USD',
    source: i.source,
    observed_at: i.observedAt,
  };
}

/**
 * The record, or undefined when its price cannot be stored (negative, not finite, beyond the
 * column's range): the caller skips and counts the item (`bad_price`), so one bad item never fails
 * a whole answer.
 */
export function storablePoint(i: PointInput): PricePointRecord | undefined {
  try {
    return pricePoint(i);
  } catch {
    return undefined;
  }
}

/** The identity of a price series (the table's sort key without effective_from). */
export function seriesKey(p: Pick<PricePointRecord, 'provider' | 'instance_type' | 'region' | 'zone' | 'capacity_type' | 'os'>): string {
  return [p.provider, p.instance_type, p.region ?? '', p.zone ?? '', p.capacity_type, p.os ?? 'linux'].join('\u0001');
}

export function timeMs(v: number | string): number {
  return typeof v === 'number' ? v : Date.parse(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?$/.test(v) ? v.replace(' ', 'T') + 'Z' : v);
}

/**
 * Keeps one row per change: sorted by time within each series, a row whose price equals the one
 * before it is dropped, and rows at the same instant keep the first given (callers order preferred
 * variants first).
 */
export function changesOnly(points: readonly PricePointRecord[]): PricePointRecord[] {
  const bySeries = new Map<string, PricePointRecord[]>();
  for (const p of points) {
    const k = seriesKey(p);
    let list = bySeries.get(k);
    if (!list) bySeries.set(k, (list = []));
    list.push(p);
  }
  const out: PricePointRecord[] = [];
  for (const list of bySeries.values()) {
    const sorted = list.map((p, i) => ({ p, i, t: timeMs(p.effective_from ?? 0) })).sort((a, b) => a.t - b.t || a.i - b.i);
    let prev: { t: number; price: string } | undefined;
    for (const { p, t } of sorted) {
      if (prev && prev.t === t) continue;
      if (prev && prev.price === p.usd_per_hour) continue;
      out.push(p);
      prev = { t, price: p.usd_per_hour ?? '' };
    }
  }
  return out;
}
