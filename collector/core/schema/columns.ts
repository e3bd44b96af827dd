// One column of one table, defined once: its ClickHouse type and codec (for the DDL) and how a
// record carries it (for validation at the collector's edge). Everything else is derived from this.

export type Normalized = string | number | boolean | null | Record<string, string>;

export type Check = (value: unknown) => Normalized | Invalid;

/** Returned by a check instead of throwing: validation runs per field on the hot path. */
export class Invalid {
  readonly reason: string;
  constructor(reason: string) {
    this.reason = reason;
  }
}

export interface Column<TIn = unknown, TRequired extends boolean = boolean> {
  readonly type: string;
  readonly codec?: string;
  readonly required: TRequired;
  /** Value stored when an optional field is absent. */
  readonly fallback: Normalized;
  readonly check: Check;
  readonly doc: string;
  /** Phantom: the TypeScript type a producer passes. */
  readonly __in?: TIn;
}

interface Opts<R extends boolean> {
  required?: R;
  codec?: string;
  doc?: string;
}

const MAX_STRING = 4096;

function col<TIn, R extends boolean>(type: string, check: Check, fallback: Normalized, o: Opts<R>): Column<TIn, R> {
  return { type, check, fallback, required: (o.required ?? false) as R, codec: o.codec, doc: o.doc ?? '' };
}

function stringCheck(max: number, required: boolean): Check {
  return (v) => {
    if (typeof v !== 'string') return new Invalid(`expected a string, got ${typeOf(v)}`);
    if (v.length > max) return new Invalid(`longer than ${max} characters`);
    // A required name (tenant, node…) that is empty names nothing: it would be charged to nobody.
    if (required && v.length === 0) return new Invalid('empty; a value is required');
    return v;
  };
}

export function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

const pad2 = (n: number) => (n < 10 ? '0' : '') + n;
const pad3 = (n: number) => (n < 10 ? '00' : n < 100 ? '0' : '') + n;

let lastSecond = NaN;
let lastPrefix = '';

/**
 * Formats epoch milliseconds the way ClickHouse's basic DateTime64 parser reads them (UTC). The
 * date-and-seconds prefix is cached: records arrive in time order, so most share the last second.
 */
export function chTime(ms: number): string {
  const sec = Math.floor(ms / 1000);
  if (sec !== lastSecond) {
    const d = new Date(sec * 1000);
    lastPrefix =
      d.getUTCFullYear() +
      '-' +
      pad2(d.getUTCMonth() + 1) +
      '-' +
      pad2(d.getUTCDate()) +
      ' ' +
      pad2(d.getUTCHours()) +
      ':' +
      pad2(d.getUTCMinutes()) +
      ':' +
      pad2(d.getUTCSeconds()) +
      '.';
    lastSecond = sec;
  }
  return lastPrefix + pad3(Math.floor(ms - sec * 1000));
}

// 2000-01-01 .. 2100-01-01: anything outside is a unit mistake (seconds vs ms) or garbage.
const MIN_MS = 946684800000;
const MAX_MS = 4102444800000;

// ClickHouse's own text form (as spilled or exported) carries no zone: it is UTC by our schema.
const CH_TIME_RE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,9})?$/;

const timeCheck: Check = (v) => {
  let ms: number;
  if (typeof v === 'number') ms = v;
  else if (typeof v === 'string') ms = Date.parse(CH_TIME_RE.test(v) ? v.replace(' ', 'T') + 'Z' : v);
  else if (v instanceof Date) ms = v.getTime();
  else return new Invalid(`expected epoch milliseconds or an ISO-8601 string, got ${typeOf(v)}`);
  if (!Number.isFinite(ms)) return new Invalid(`not a valid time: ${JSON.stringify(v)}`);
  if (ms < MIN_MS || ms > MAX_MS) return new Invalid(`time out of range (2000..2100; epoch milliseconds expected): ${JSON.stringify(v)}`);
  // Epoch milliseconds, whole: DateTime64(3) keeps no finer part, and blocks carry the number as is.
  return Math.floor(ms);
};

function uintCheck(max: number): Check {
  return (v) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) return new Invalid(`expected a non-negative integer, got ${typeOf(v) === 'number' ? v : typeOf(v)}`);
    if (v < 0 || v > max) return new Invalid(`out of range 0..${max}: ${v}`);
    return v;
  };
}

const floatCheck: Check = (v) => {
  if (typeof v !== 'number') return new Invalid(`expected a number, got ${typeOf(v)}`);
  if (!Number.isFinite(v)) return new Invalid(`not a finite number: ${v}`);
  return v;
};

const nonNegFloatCheck: Check = (v) => {
  const r = floatCheck(v);
  if (typeof r === 'number' && r < 0) return new Invalid(`negative: ${r}`);
  return r;
};

const DECIMAL_RE = /^-?\d{1,9}(\.\d{1,9})?$/;
const decimalCheck: Check = (v) => {
  // Money travels as a decimal string; numbers are accepted only when they are integers, since a
  // float like 0.1 has already lost the exact value the source sent.
  if (typeof v === 'number' && Number.isInteger(v)) v = String(v);
  if (typeof v !== 'string') return new Invalid(`expected a decimal string such as "1.234", got ${typeOf(v)}`);
  if (!DECIMAL_RE.test(v)) return new Invalid(`not a decimal with at most 9 integer and 9 fractional digits: ${JSON.stringify(v)}`);
  return v;
};

const boolCheck: Check = (v) => (typeof v === 'boolean' ? v : new Invalid(`expected true or false, got ${typeOf(v)}`));

function enumCheck(values: readonly string[]): Check {
  const set = new Set(values);
  return (v) => (typeof v === 'string' && set.has(v) ? v : new Invalid(`expected one of ${values.join(', ')}, got ${JSON.stringify(v)}`));
}

const mapCheck: Check = (v) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return new Invalid(`expected an object of strings, got ${typeOf(v)}`);
  const out: Record<string, string> = {};
  let n = 0;
  for (const [k, x] of Object.entries(v)) {
    if (++n > 64) return new Invalid('more than 64 entries');
    if (typeof x !== 'string') return new Invalid(`entry ${JSON.stringify(k)} is ${typeOf(x)}, expected a string`);
    if (k.length > 256 || x.length > MAX_STRING) return new Invalid(`entry ${JSON.stringify(k.slice(0, 64))} too long`);
    out[k] = x;
  }
  return out;
};

export const c = {
  /** A short label with few distinct values (tenant, model, node, GPU model…). */
  label<R extends boolean = false>(o: Opts<R> & { max?: number } = {}) {
    return col<string, R>('LowCardinality(String)', stringCheck(o.max ?? 256, o.required ?? false), '', o);
  },
  string<R extends boolean = false>(o: Opts<R> & { max?: number } = {}) {
    return col<string, R>('String', stringCheck(o.max ?? MAX_STRING, o.required ?? false), '', { codec: 'ZSTD(1)', ...o });
  },
  /** A point in time: epoch milliseconds or ISO-8601 in, DateTime64(3, 'UTC') stored. */
  time<R extends boolean = false>(o: Opts<R> = {}) {
    return col<number | string, R>(`DateTime64(3, 'UTC')`, timeCheck, '1970-01-01 00:00:00.000', { codec: 'DoubleDelta, ZSTD(1)', ...o });
  },
  /** An optional point in time that is NULL when absent. */
  nullableTime(o: Opts<false> = {}) {
    return col<number | string | null, false>(`Nullable(DateTime64(3, 'UTC'))`, (v) => (v === null ? null : timeCheck(v)), null, o);
  },
  uint8<R extends boolean = false>(o: Opts<R> = {}) {
    return col<number, R>('UInt8', uintCheck(255), 0, o);
  },
  uint16<R extends boolean = false>(o: Opts<R> = {}) {
    return col<number, R>('UInt16', uintCheck(65535), 0, o);
  },
  uint32<R extends boolean = false>(o: Opts<R> = {}) {
    return col<number, R>('UInt32', uintCheck(4294967295), 0, { codec: 'T64, ZSTD(1)', ...o });
  },
  /** Nanosecond durations and byte counts; JavaScript integers are exact up to 2^53. */
  uint64<R extends boolean = false>(o: Opts<R> = {}) {
    return col<number, R>('UInt64', uintCheck(Number.MAX_SAFE_INTEGER), 0, { codec: 'T64, ZSTD(1)', ...o });
  },
  int64<R extends boolean = false>(o: Opts<R> = {}) {
    return col<number, R>('Int64', (v) => (typeof v === 'number' && Number.isSafeInteger(v) ? v : new Invalid(`expected an integer, got ${typeOf(v)}`)), 0, o);
  },
  float<R extends boolean = false>(o: Opts<R> = {}) {
    return col<number, R>('Float64', floatCheck, 0, { codec: 'Gorilla, ZSTD(1)', ...o });
  },
  /** Non-negative measurement such as milliseconds. */
  millis<R extends boolean = false>(o: Opts<R> = {}) {
    return col<number, R>('Float64', nonNegFloatCheck, 0, { codec: 'Gorilla, ZSTD(1)', ...o });
  },
  nullableMillis(o: Opts<false> = {}) {
    return col<number | null, false>('Nullable(Float64)', (v) => (v === null ? null : nonNegFloatCheck(v)), null, o);
  },
  /** Money: Decimal(18, 9) in ClickHouse, a decimal string in the record. Never a float. */
  money<R extends boolean = false>(o: Opts<R> = {}) {
    return col<string, R>('Decimal(18, 9)', decimalCheck, '0', o);
  },
  bool<R extends boolean = false>(o: Opts<R> = {}) {
    return col<boolean, R>('Bool', boolCheck, false, o);
  },
  oneOf<const V extends readonly string[], R extends boolean = false>(values: V, o: Opts<R> & { fallback?: V[number] } = {}) {
    return col<V[number], R>('LowCardinality(String)', enumCheck(values), o.fallback ?? values[0] ?? '', o);
  },
  labels(o: Opts<false> = {}) {
    return col<Record<string, string>, false>('Map(LowCardinality(String), String)', mapCheck, {}, { codec: 'ZSTD(1)', ...o });
  },
};

export type ColumnInput<C> = C extends Column<infer T, boolean> ? T : never;
