// Decimal arithmetic for prices. Every price is a decimal string in and out; JavaScript numbers only
// appear where a source sends one (JSON floats), and those are read back through their shortest
// round-trip text, which is the literal the source wrote.
import { Decimal } from 'decimal.js';

// Prices reach 9 integer digits at most and are stored with 9 fractional digits (Decimal(18, 9)).
const D = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_HALF_EVEN });

export { D as Dec };
export type Dec = Decimal;

/** A decimal from a source value: a decimal string, an integer, or a JSON float (via its literal). */
export function dec(v: string | number | Decimal): Decimal {
  if (v instanceof Decimal) return new D(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`not a finite number: ${v}`);
    return new D(String(v));
  }
  const s = v.trim();
  if (!/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(s)) throw new Error(`not a decimal: ${JSON.stringify(v)}`);
  return new D(s);
}

/** The stored form: at most 9 fractional digits (half-even), no exponent, no trailing zeros. */
export function money(v: Decimal): string {
  const r = new D(v).toDecimalPlaces(9, D.ROUND_HALF_EVEN);
  if (r.abs().gte('1e9')) throw new Error(`price out of range: ${r.toString()}`);
  return r.toFixed();
}

/** Google's Money: int64 units (a JSON string) plus nanos (an integer of the same sign). */
export function fromUnitsNanos(units: string | number | undefined, nanos: number | undefined): Decimal {
  const u = units === undefined || units === '' ? new D(0) : dec(String(units));
  if (!u.isInteger()) throw new Error(`units is not an integer: ${String(units)}`);
  const n = nanos ?? 0;
  if (!Number.isInteger(n) || Math.abs(n) >= 1e9) throw new Error(`nanos out of range: ${n}`);
  return u.plus(new D(n).div(1e9));
}

// Hours in each unit as an exact fraction [numerator, denominator].
const HOURS_PER: Record<string, [number, number]> = {
  second: [1, 3600],
  minute: [1, 60],
  hour: [1, 1],
  day: [24, 1],
  week: [168, 1],
  // The cloud convention for monthly and yearly rates: 730 hours a month, 8760 a year.
  month: [730, 1],
  year: [8760, 1],
};

/**
 * Hours in one unit as sources write it: "1 Hour", "Hrs", "h", "per second", "1/Month", "3 Years"…
 * Returns undefined for a unit that is not a span of time (GB-Mo, requests…).
 */
export function hoursInUnit(unit: string): Decimal | undefined {
  const u = unit
    .trim()
    .toLowerCase()
    .replace(/^per\s+/, '')
    .replace(/^1\s*\//, '1 ');
  const m =
    /^(\d+(?:\.\d+)?)?\s*(s|sec|secs|second|seconds|min|mins|minute|minutes|h|hr|hrs|hour|hours|d|day|days|wk|week|weeks|mo|month|months|y|yr|year|years)$/.exec(
      u,
    );
  if (!m) return undefined;
  const n = new D(m[1] ?? 1);
  const word = m[2]!;
  const key = word.startsWith('s')
    ? 'second'
    : word.startsWith('mi')
      ? 'minute'
      : word.startsWith('h')
        ? 'hour'
        : word.startsWith('d')
          ? 'day'
          : word.startsWith('w')
            ? 'week'
            : word.startsWith('mo')
              ? 'month'
              : 'year';
  const [num, den] = HOURS_PER[key]!;
  return n.times(num).div(den);
}

/** A price for `unit` turned into dollars per hour; throws for a unit that is not time. */
export function perHour(price: Decimal, unit: string): Decimal {
  const u = unit
    .trim()
    .toLowerCase()
    .replace(/^per\s+/, '')
    .replace(/^1\s*\//, '1 ');
  // Per-second and per-minute rates multiply exactly; dividing by a rounded 1/3600 would not.
  if (/^(1\s*)?(s|sec|second)s?$/.test(u)) return price.times(3600);
  if (/^(1\s*)?(min|minute)s?$/.test(u)) return price.times(60);
  const h = hoursInUnit(unit);
  if (!h || h.isZero()) throw new Error(`unit is not a span of time: ${JSON.stringify(unit)}`);
  return price.div(h);
}

/** Dollars per GPU-hour; "0" for an instance without GPUs. */
export function perGpuHour(usdPerHour: Decimal, gpuCount: number): string {
  return gpuCount > 0 ? money(usdPerHour.div(gpuCount)) : '0';
}
