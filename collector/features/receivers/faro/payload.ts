// The body the Faro web SDK posts (`TransportBody` in @grafana/faro-core; the same shape Grafana
// Alloy's faro.receiver decodes): meta plus optional arrays of logs, exceptions, measurements and
// events, and traces as OTLP/JSON `{resourceSpans: [...]}`. Everything is optional on the wire, so
// the types say `unknown` where a browser could send anything and the mapper checks as it reads.
import { errorMessage } from '../../../core/errors.ts';

export interface FaroTraceContext {
  trace_id?: unknown;
  span_id?: unknown;
}

export interface FaroMeta {
  sdk?: { name?: unknown; version?: unknown };
  app?: { name?: unknown; version?: unknown; environment?: unknown; release?: unknown; namespace?: unknown };
  user?: { id?: unknown; hash?: unknown };
  session?: { id?: unknown; attributes?: unknown };
  page?: { id?: unknown; url?: unknown; attributes?: unknown };
  browser?: { name?: unknown; version?: unknown; os?: unknown; mobile?: unknown };
  view?: { name?: unknown };
}

export interface FaroLog {
  message?: unknown;
  level?: unknown;
  context?: unknown;
  timestamp?: unknown;
  trace?: FaroTraceContext;
}

export interface FaroException {
  type?: unknown;
  value?: unknown;
  timestamp?: unknown;
  stacktrace?: { frames?: unknown };
  context?: unknown;
  fingerprint?: unknown;
  trace?: FaroTraceContext;
}

export interface FaroMeasurement {
  type?: unknown;
  values?: unknown;
  timestamp?: unknown;
  context?: unknown;
  trace?: FaroTraceContext;
}

export interface FaroEvent {
  name?: unknown;
  domain?: unknown;
  attributes?: unknown;
  timestamp?: unknown;
  trace?: FaroTraceContext;
}

export interface FaroPayload {
  meta?: FaroMeta;
  logs?: FaroLog[];
  exceptions?: FaroException[];
  measurements?: FaroMeasurement[];
  events?: FaroEvent[];
  traces?: { resourceSpans?: unknown };
}

const ARRAY_KEYS = ['logs', 'exceptions', 'measurements', 'events'] as const;

/** Parses and shape-checks a payload; throws an Error naming the first problem. */
export function parseFaroPayload(body: Buffer | string): FaroPayload {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (err) {
    throw new Error(`payload is not JSON: ${errorMessage(err)}`, { cause: err });
  }
  if (!isObject(parsed)) throw new Error('payload must be a JSON object');
  if (parsed.meta !== undefined && !isObject(parsed.meta)) throw new Error('meta must be an object');
  for (const key of ARRAY_KEYS) {
    const v = parsed[key];
    if (v === undefined || v === null) continue;
    if (!Array.isArray(v)) throw new Error(`${key} must be an array`);
    if (!v.every(isObject)) throw new Error(`every item of ${key} must be an object`);
  }
  if (parsed.traces !== undefined && parsed.traces !== null) {
    if (!isObject(parsed.traces)) throw new Error('traces must be an OTLP/JSON object');
    const rs = parsed.traces.resourceSpans;
    if (rs !== undefined && !Array.isArray(rs)) throw new Error('traces.resourceSpans must be an array');
  }
  return parsed as FaroPayload;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
