// GenAI spans (OpenTelemetry semantic conventions for generative AI, and the older names OpenLLMetry
// and OpenLIT still send) become llm_request records, so applications that are already instrumented
// feed chargeback without going through the metering proxy. Other spans are not requests to a model
// and are left out.
import type { LlmRequestRecord } from '../../../core/schema/tables.ts';
import { attrString, type AttrValue, type Span } from './spans.ts';

/** Attributes whose presence marks a span as a call to a model. */
const GENAI_MARKERS = ['gen_ai.request.model', 'gen_ai.response.model', 'gen_ai.provider.name', 'gen_ai.system', 'gen_ai.operation.name'];

export function isGenAiSpan(span: Span): boolean {
  return GENAI_MARKERS.some((k) => span.attributes[k] !== undefined && span.attributes[k] !== null && span.attributes[k] !== '');
}

export interface TenantSource {
  /** Resource (then span) attribute naming the tenant. */
  attribute: string;
  /** Tenant from the request header, if it had one. */
  header: string | undefined;
  fallback: string;
}

export function tenantOf(span: Span, t: TenantSource): string {
  return attrString(span.resource[t.attribute]) || attrString(span.attributes[t.attribute]) || t.header || t.fallback;
}

/** The llm_request a GenAI span stands for. The span id is unique within its trace; both make the id. */
export function llmRequestFromSpan(span: Span, tenant: string): LlmRequestRecord {
  const a = span.attributes;
  const error = span.statusCode === 2;
  const httpStatus = firstNumber(a['http.response.status_code'], a['http.status_code']);
  const ttftS = firstNumber(a['gen_ai.response.time_to_first_chunk'], a['gen_ai.server.time_to_first_token']);
  const stream = a['gen_ai.request.stream'] ?? a['llm.is_streaming'];
  return {
    ts: span.startMs,
    request_id: `${span.traceId}-${span.spanId}`,
    tenant,
    model: clip(attrString(a['gen_ai.request.model']) || attrString(a['gen_ai.response.model']), 256),
    endpoint: clip(attrString(a['gen_ai.operation.name']) || attrString(a['llm.request.type']) || span.name, 256),
    api: 'otlp',
    backend: clip(attrString(a['gen_ai.provider.name']) || attrString(a['gen_ai.system']), 256),
    node: clip(attrString(a['server.address']), 256),
    status: httpStatus ?? (error ? 500 : 200),
    error: error ? clip(span.statusMessage || attrString(a['error.type']) || 'span status ERROR', 1024) : '',
    error_kind: error ? clip(attrString(a['error.type']) || 'span_error', 256) : '',
    stream: stream === true || stream === 'true',
    input_tokens: tokens(a['gen_ai.usage.input_tokens'], a['gen_ai.usage.prompt_tokens']),
    output_tokens: tokens(a['gen_ai.usage.output_tokens'], a['gen_ai.usage.completion_tokens']),
    cached_tokens: tokens(a['gen_ai.usage.cache_read.input_tokens'], a['gen_ai.usage.cache_read_input_tokens']),
    ttft_ms: ttftS === undefined ? null : ttftS * 1000,
    duration_ms: Math.max(0, span.endMs - span.startMs),
    source: 'otlp',
  };
}

function firstNumber(...vs: (AttrValue | undefined)[]): number | undefined {
  for (const v of vs) {
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n === 'number' && Number.isFinite(n)) return n;
  }
  return undefined;
}

/** Token counts: the first attribute present, as a whole non-negative number (0 when none). */
function tokens(...vs: (AttrValue | undefined)[]): number {
  const n = firstNumber(...vs);
  return n === undefined ? 0 : Math.max(0, Math.round(n));
}

function clip(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) : s;
}
