// A Faro payload becomes frontend_event rows: one per log, exception, event and span, and one per
// value of a measurement (a web-vitals measurement carries e.g. {lcp, delta}: `web-vitals.lcp` and
// `web-vitals.delta`). The meta (session, page, app version, browser) is the same for every row of
// the payload and goes into columns of its own; `attributes` holds only the item's own. Times that
// do not parse are passed on as they came, so the collector's edge dead-letters the row with the
// reason instead of it vanishing here.
import type { FrontendEventRecord } from '../../../core/schema/tables.ts';
import { attrString, spansFromJson } from '../otlp/spans.ts';
import { isObject, type FaroMeta, type FaroPayload, type FaroTraceContext } from './payload.ts';

const MAX_MESSAGE = 4096;
const MAX_LABEL = 256;
const MAX_ATTRS = 64;
const MAX_ATTR_VALUE = 1024;

export type FrontendKind = 'log' | 'exception' | 'measurement' | 'event' | 'trace';

export interface Mapped {
  records: FrontendEventRecord[];
  /** Rows per kind, for the metrics. */
  kinds: Record<FrontendKind, number>;
}

/** What every row of one payload shares: its app and tenant, session, page, key and meta. */
type Common = Pick<
  FrontendEventRecord,
  | 'app'
  | 'tenant'
  | 'session_id'
  | 'page_url'
  | 'idempotency_key'
  | 'app_version'
  | 'app_environment'
  | 'app_release'
  | 'sdk_version'
  | 'browser_name'
  | 'browser_version'
  | 'browser_os'
  | 'browser_mobile'
  | 'view_name'
  | 'page_id'
  | 'user_id'
  | 'user_hash'
>;

// Shared by every row with no attributes of its own: rows are not changed after mapping.
const NO_ATTRS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * `idempotencyKey` is the payload's Idempotency-Key ('' without one). Every row carries it and its
 * position in the payload (`event_seq`), so a retried payload maps to rows with the same identity.
 */
export function faroRecords(p: FaroPayload, app: string, tenant: string, now: number = Date.now(), idempotencyKey = ''): Mapped {
  const c = common(p.meta, app, tenant, idempotencyKey);
  const records: FrontendEventRecord[] = [];
  const kinds: Record<FrontendKind, number> = { log: 0, exception: 0, measurement: 0, event: 0, trace: 0 };
  const push = (r: FrontendEventRecord & { kind: FrontendKind }) => {
    r.event_seq = records.length;
    records.push(r);
    kinds[r.kind]++;
  };

  for (const l of p.logs ?? []) {
    push(
      row(c, 'log', time(l.timestamp, now), {
        name: str(l.level) || 'log',
        message: str(l.message),
        trace_id: traceId(l.trace),
        attributes: attrs(undefined, l.context),
      }),
    );
  }
  for (const e of p.exceptions ?? []) {
    const frames = isObject(e.stacktrace) && Array.isArray(e.stacktrace.frames) ? e.stacktrace.frames.filter(isObject) : [];
    let extra: Record<string, string> | undefined;
    if (frames.length) {
      // Faro sends the innermost frame first.
      const top = frames[0]!;
      extra = {
        'stack.frames': String(frames.length),
        'stack.top': `${str(top.function) || '?'} (${str(top.filename)}:${str(top.lineno)}:${str(top.colno)})`,
      };
    }
    if (e.fingerprint !== undefined) (extra ??= {}).fingerprint = str(e.fingerprint);
    push(
      row(c, 'exception', time(e.timestamp, now), {
        name: str(e.type) || 'Error',
        message: str(e.value),
        trace_id: traceId(e.trace),
        attributes: attrs(extra, e.context),
      }),
    );
  }
  for (const m of p.measurements ?? []) {
    const values = m.values;
    if (!isObject(values)) continue;
    const type = str(m.type) || 'measurement';
    const ts = time(m.timestamp, now);
    const a = attrs({ 'measurement.type': type }, m.context);
    const trace = traceId(m.trace);
    for (const k in values) {
      // A non-number value goes on as it is so the edge dead-letters it with the reason.
      push(row(c, 'measurement', ts, { name: `${type}.${k}`, value: values[k] as number, trace_id: trace, attributes: a }));
    }
  }
  for (const e of p.events ?? []) {
    push(
      row(c, 'event', time(e.timestamp, now), {
        name: str(e.name) || 'event',
        trace_id: traceId(e.trace),
        attributes: attrs(e.domain !== undefined ? { 'event.domain': str(e.domain) } : undefined, e.attributes),
      }),
    );
  }
  if (p.traces) {
    for (const s of spansFromJson(p.traces)) {
      const spanAttrs: Record<string, string> = { 'span.id': s.spanId, 'span.kind': String(s.kind) };
      if (s.parentSpanId) spanAttrs['span.parent_id'] = s.parentSpanId;
      if (s.statusCode === 2) spanAttrs['span.status'] = 'error';
      for (const k in s.attributes) spanAttrs[k] = attrString(s.attributes[k]!);
      push(
        row(c, 'trace', s.startMs || now, {
          name: s.name,
          value: Math.max(0, s.endMs - s.startMs),
          message: s.statusMessage,
          trace_id: s.traceId,
          attributes: attrs(undefined, spanAttrs),
        }),
      );
    }
  }
  return { records, kinds };
}

function common(meta: FaroMeta | undefined, app: string, tenant: string, idempotencyKey: string): Common {
  // Optional chaining copes with fields of the wrong type: a property of a string is undefined.
  // Clipped to the columns' limits, so an oversized value is shortened rather than the row refused.
  return {
    app,
    tenant,
    session_id: clip(str(meta?.session?.id), 128),
    page_url: clip(str(meta?.page?.url), 2048),
    idempotency_key: idempotencyKey,
    app_version: clip(str(meta?.app?.version), MAX_LABEL),
    app_environment: clip(str(meta?.app?.environment), MAX_LABEL),
    app_release: clip(str(meta?.app?.release), MAX_LABEL),
    sdk_version: clip(str(meta?.sdk?.version), MAX_LABEL),
    browser_name: clip(str(meta?.browser?.name), MAX_LABEL),
    browser_version: clip(str(meta?.browser?.version), MAX_LABEL),
    browser_os: clip(str(meta?.browser?.os), MAX_LABEL),
    browser_mobile: clip(str(meta?.browser?.mobile), MAX_LABEL),
    view_name: clip(str(meta?.view?.name), MAX_LABEL),
    page_id: clip(str(meta?.page?.id), MAX_LABEL),
    // Only the opaque ids: no e-mail or user names reach the table.
    user_id: clip(str(meta?.user?.id), MAX_LABEL),
    user_hash: clip(str(meta?.user?.hash), MAX_LABEL),
  };
}

function row(
  c: Common,
  kind: FrontendKind,
  ts: number | string,
  f: { name: string; value?: number; message?: string; trace_id: string; attributes: Record<string, string> },
): FrontendEventRecord & { kind: FrontendKind } {
  return {
    ...c,
    ts,
    kind,
    name: clip(f.name, MAX_LABEL),
    value: f.value ?? 0,
    message: clip(f.message ?? '', MAX_MESSAGE),
    trace_id: f.trace_id,
    attributes: f.attributes,
    event_seq: 0,
  };
}

function time(v: unknown, now: number): number | string {
  if (v === undefined || v === null || v === '') return now;
  if (typeof v === 'number') return v;
  const ms = Date.parse(String(v));
  return Number.isFinite(ms) ? ms : String(v);
}

function traceId(t: FaroTraceContext | undefined): string {
  return isObject(t) ? clip(str(t.trace_id), 64) : '';
}

/** The item's own extras and its context object, as a bounded map of strings. */
function attrs(extra: Record<string, string> | undefined, ctx: unknown): Record<string, string> {
  if (!isObject(ctx)) return extra ?? NO_ATTRS;
  // The extras are built per item by the caller, so they can be filled in place.
  const out: Record<string, string> = extra ?? {};
  let n = extra ? Object.keys(extra).length : 0;
  for (const k in ctx) {
    if (n >= MAX_ATTRS) break;
    if (!(k in out)) n++;
    const v = ctx[k];
    out[clip(k, MAX_LABEL)] = clip(typeof v === 'string' ? v : (JSON.stringify(v) ?? ''), MAX_ATTR_VALUE);
  }
  return out;
}

function str(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
}

function clip(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) : s;
}
