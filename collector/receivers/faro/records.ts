// A Faro payload becomes frontend_event rows: one per log, exception, event and span, and one per
// value of a measurement (a web-vitals measurement carries e.g. {lcp, delta}: `web-vitals.lcp` and
// `web-vitals.delta`). The meta (session, page, app version, browser) is the same for every row of
// the payload. Times that do not parse are passed on as they came, so the collector's edge
// dead-letters the row with the reason instead of it vanishing here.
import type { FrontendEventRecord } from '../../schema/tables.ts';
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

interface Common {
  app: string;
  tenant: string;
  session_id: string;
  page_url: string;
  idempotency_key: string;
  meta: Record<string, string>;
  /** Entries in `meta`. */
  metaCount: number;
}

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
    push(row(c, 'log', time(l.timestamp, now), {
      name: str(l.level) || 'log',
      message: str(l.message),
      trace_id: traceId(l.trace),
      attributes: attrs(c, undefined, l.context),
    }));
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
    push(row(c, 'exception', time(e.timestamp, now), {
      name: str(e.type) || 'Error',
      message: str(e.value),
      trace_id: traceId(e.trace),
      attributes: attrs(c, extra, e.context),
    }));
  }
  for (const m of p.measurements ?? []) {
    const values = m.values;
    if (!isObject(values)) continue;
    const type = str(m.type) || 'measurement';
    const ts = time(m.timestamp, now);
    const a = attrs(c, { 'measurement.type': type }, m.context);
    const trace = traceId(m.trace);
    for (const k in values) {
      // A non-number value goes on as it is so the edge dead-letters it with the reason.
      push(row(c, 'measurement', ts, { name: `${type}.${k}`, value: values[k] as number, trace_id: trace, attributes: a }));
    }
  }
  for (const e of p.events ?? []) {
    push(row(c, 'event', time(e.timestamp, now), {
      name: str(e.name) || 'event',
      trace_id: traceId(e.trace),
      attributes: attrs(c, e.domain !== undefined ? { 'event.domain': str(e.domain) } : undefined, e.attributes),
    }));
  }
  if (p.traces) {
    for (const s of spansFromJson(p.traces)) {
      const spanAttrs: Record<string, string> = { 'span.id': s.spanId, 'span.kind': String(s.kind) };
      if (s.parentSpanId) spanAttrs['span.parent_id'] = s.parentSpanId;
      if (s.statusCode === 2) spanAttrs['span.status'] = 'error';
      for (const k in s.attributes) spanAttrs[k] = attrString(s.attributes[k]!);
      push(row(c, 'trace', s.startMs || now, {
        name: s.name,
        value: Math.max(0, s.endMs - s.startMs),
        message: s.statusMessage,
        trace_id: s.traceId,
        attributes: attrs(c, undefined, spanAttrs),
      }));
    }
  }
  return { records, kinds };
}

function common(meta: FaroMeta | undefined, app: string, tenant: string, idempotencyKey: string): Common {
  const m: Record<string, string> = {};
  let n = 0;
  const set = (k: string, v: unknown) => {
    const s = str(v);
    if (s) {
      m[k] = s;
      n++;
    }
  };
  // Optional chaining copes with fields of the wrong type: a property of a string is undefined.
  if (meta) {
    set('app.version', meta.app?.version);
    set('app.environment', meta.app?.environment);
    set('app.release', meta.app?.release);
    set('sdk.version', meta.sdk?.version);
    set('browser.name', meta.browser?.name);
    set('browser.version', meta.browser?.version);
    set('browser.os', meta.browser?.os);
    set('browser.mobile', meta.browser?.mobile);
    set('view.name', meta.view?.name);
    set('page.id', meta.page?.id);
    // Only the opaque ids: no e-mail or user names reach the table.
    set('user.id', meta.user?.id);
    set('user.hash', meta.user?.hash);
  }
  return {
    app,
    tenant,
    session_id: clip(str(meta?.session?.id), 128),
    page_url: clip(str(meta?.page?.url), 2048),
    idempotency_key: idempotencyKey,
    meta: m,
    metaCount: n,
  };
}

function row(c: Common, kind: FrontendKind, ts: number | string, f: { name: string; value?: number; message?: string; trace_id: string; attributes: Record<string, string> }): FrontendEventRecord & { kind: FrontendKind } {
  return {
    ts,
    app: c.app,
    tenant: c.tenant,
    session_id: c.session_id,
    kind,
    name: clip(f.name, MAX_LABEL),
    value: f.value ?? 0,
    message: clip(f.message ?? '', MAX_MESSAGE),
    page_url: c.page_url,
    trace_id: f.trace_id,
    attributes: f.attributes,
    idempotency_key: c.idempotency_key,
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

/** Meta, the item's own extras, and its context object, as a bounded map of strings. */
function attrs(c: Common, extra: Record<string, string> | undefined, ctx: unknown): Record<string, string> {
  // Rows are not changed after mapping, so rows with nothing of their own share the meta object.
  if (!extra && !isObject(ctx)) return c.meta;
  const out: Record<string, string> = { ...c.meta };
  let n = c.metaCount;
  if (extra) {
    for (const k in extra) {
      if (!(k in out)) n++;
      out[k] = extra[k]!;
    }
  }
  if (!isObject(ctx)) return out;
  for (const k in ctx) {
    if (n >= MAX_ATTRS) break;
    if (!(k in out)) n++;
    const v = ctx[k];
    out[clip(k, MAX_LABEL)] = clip(typeof v === 'string' ? v : JSON.stringify(v) ?? '', MAX_ATTR_VALUE);
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
