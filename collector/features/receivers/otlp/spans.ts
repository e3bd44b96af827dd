// One span as the receivers use it, whichever wire it came on: ids as lowercase hex, times as epoch
// milliseconds, attributes as plain values. OTLP/JSON (the Faro SDK's traces, OTLP/HTTP JSON
// exporters) is read here; protobuf decodes to the same shape in protobuf.ts.
import { isObject } from '../faro/payload.ts';

export type AttrValue = string | number | boolean | null | AttrValue[] | { [k: string]: AttrValue };
export type Attributes = Record<string, AttrValue>;

export interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startMs: number;
  endMs: number;
  attributes: Attributes;
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number;
  statusMessage: string;
  resource: Attributes;
  scope: string;
}

/** Spans of an ExportTraceServiceRequest in OTLP/JSON; throws on a shape that is not one. */
export function spansFromJson(req: unknown): Span[] {
  if (!isObject(req)) throw new Error('expected an OTLP/JSON object');
  const rss = req.resourceSpans ?? [];
  if (!Array.isArray(rss)) throw new Error('resourceSpans must be an array');
  const out: Span[] = [];
  for (const rs of rss) {
    if (!isObject(rs)) throw new Error('every resourceSpans item must be an object');
    const resource = isObject(rs.resource) ? jsonAttributes(rs.resource.attributes) : {};
    const scopes = rs.scopeSpans ?? rs.instrumentationLibrarySpans ?? [];
    if (!Array.isArray(scopes)) throw new Error('scopeSpans must be an array');
    for (const ss of scopes) {
      if (!isObject(ss)) throw new Error('every scopeSpans item must be an object');
      const scopeObj = ss.scope ?? ss.instrumentationLibrary;
      const scope = isObject(scopeObj) && typeof scopeObj.name === 'string' ? scopeObj.name : '';
      const spans = ss.spans ?? [];
      if (!Array.isArray(spans)) throw new Error('spans must be an array');
      for (const s of spans) {
        if (!isObject(s)) throw new Error('every span must be an object');
        const status = isObject(s.status) ? s.status : {};
        out.push({
          traceId: idHex(s.traceId),
          spanId: idHex(s.spanId),
          parentSpanId: idHex(s.parentSpanId),
          name: typeof s.name === 'string' ? s.name : '',
          kind: enumNumber(s.kind, SPAN_KINDS),
          startMs: nanosToMs(s.startTimeUnixNano),
          endMs: nanosToMs(s.endTimeUnixNano),
          attributes: jsonAttributes(s.attributes),
          statusCode: enumNumber(status.code, STATUS_CODES),
          statusMessage: typeof status.message === 'string' ? status.message : '',
          resource,
          scope,
        });
      }
    }
  }
  return out;
}

const SPAN_KINDS = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
const STATUS_CODES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

function enumNumber(v: unknown, names: readonly string[]): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Math.max(0, names.indexOf(v));
  return 0;
}

/** OTLP/JSON carries ids as hex; proto3's JSON mapping (some older senders) as base64. */
export function idHex(v: unknown): string {
  if (typeof v !== 'string' || v === '') return '';
  if (/^[0-9a-fA-F]+$/.test(v) && (v.length === 32 || v.length === 16)) return v.toLowerCase();
  const b = Buffer.from(v, 'base64');
  return b.length === 16 || b.length === 8 ? b.toString('hex') : v.slice(0, 64);
}

/** Nanoseconds (a decimal string, a number, or a protobuf long) to epoch milliseconds. */
export function nanosToMs(v: unknown): number {
  if (typeof v === 'string' && /^\d+$/.test(v)) {
    // Split rather than Number(v): nanoseconds since 1970 exceed 2^53.
    return v.length <= 6 ? 0 : Number(v.slice(0, -6)) + Number(v.slice(-6)) / 1e6;
  }
  if (typeof v === 'number') return v / 1e6;
  if (typeof v === 'bigint') return Number(v / 1_000_000n) + Number(v % 1_000_000n) / 1e6;
  if (isObject(v) && typeof v.low === 'number' && typeof v.high === 'number') {
    // A protobuf fixed64 as a Long: assembled exactly, since a double holds it only to 256 ns.
    return nanosToMs((BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0));
  }
  return 0;
}

export function jsonAttributes(list: unknown): Attributes {
  const out: Attributes = {};
  if (!Array.isArray(list)) return out;
  for (const kv of list) {
    if (isObject(kv) && typeof kv.key === 'string') out[kv.key] = jsonValue(kv.value);
  }
  return out;
}

function jsonValue(v: unknown): AttrValue {
  if (!isObject(v)) return null;
  if (typeof v.stringValue === 'string') return v.stringValue;
  if (typeof v.boolValue === 'boolean') return v.boolValue;
  if (v.intValue !== undefined) {
    const n = typeof v.intValue === 'string' ? Number(v.intValue) : v.intValue;
    return typeof n === 'number' && Number.isFinite(n) ? n : null;
  }
  if (v.doubleValue !== undefined) {
    const n = typeof v.doubleValue === 'string' ? Number(v.doubleValue) : v.doubleValue;
    return typeof n === 'number' ? n : null;
  }
  if (isObject(v.arrayValue)) return Array.isArray(v.arrayValue.values) ? v.arrayValue.values.map(jsonValue) : [];
  if (isObject(v.kvlistValue)) return jsonAttributes(v.kvlistValue.values);
  if (typeof v.bytesValue === 'string') return v.bytesValue;
  return null;
}

/** An attribute as a string for a labels column (arrays and maps as JSON). */
export function attrString(v: AttrValue | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}
