// OTLP/HTTP traces in: spans made by the real OpenTelemetry SDK and sent by its real exporters
// (http/json and http/protobuf) to the receiver on a running collector become exact llm_requests rows.
import { rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { SpanStatusCode, type Attributes } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../collector/core/log.ts';
import { receiversFor, receiversConfigSchema } from '../../../collector/features/receivers/index.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { tenantKeysOf } from '../../../collector/app/features.ts';
import { keyDigestHex } from '../../../collector/core/security/keys.ts';
import { count, testConfig } from '../../helpers/store.ts';
import type { LlmRequestRow } from '../../helpers/rows.ts';

const KEY = 'otlp-ingest-key';
/** The key the proxy knows tenant acme by; the receiver takes it as acme's. */
const ACME_KEY = 'acme-proxy-key';
/** A key of the receiver's own tenant list. */
const INITECH_KEY = 'initech-otlp-key';
const T0 = Date.parse('2026-02-01T10:00:00.000Z');

const receivers = receiversConfigSchema.parse({
  otlp: {
    enabled: true,
    api_keys: [`sha256:${keyDigestHex(KEY)}`],
    max_body_bytes: 256 * 1024,
    tenants: [{ tenant: 'initech', keys: [`sha256:${keyDigestHex(INITECH_KEY)}`] }],
  },
});
const config = testConfig({ proxy: { tenants: [{ name: 'acme', keys: [`sha256:${keyDigestHex(ACME_KEY)}`] }] } });
let collector: Collector;
let url: string;

beforeAll(async () => {
  collector = await startCollector(config, silentLogger, { features: [receiversFor(receivers, { tenantKeys: tenantKeysOf(config.proxy) })] });
  url = `http://${collector.address}/v1/traces`;
});

afterAll(async () => {
  await collector?.shutdown();
  rmSync(config.store.data_dir, { recursive: true, force: true });
});

interface SpanSpec {
  name: string;
  attributes: Attributes;
  startMs: number;
  durationMs: number;
  error?: string;
}

/** Makes the spans with a real SDK provider and exports them; returns `traceId-spanId` of each. */
async function exportSpans(exporter: SpanExporter, resource: Attributes, specs: SpanSpec[]): Promise<string[]> {
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes(resource), spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('test');
  const ids: string[] = [];
  for (const s of specs) {
    const span = tracer.startSpan(s.name, { attributes: s.attributes, startTime: s.startMs });
    if (s.error) span.setStatus({ code: SpanStatusCode.ERROR, message: s.error });
    span.end(s.startMs + s.durationMs);
    ids.push(`${span.spanContext().traceId}-${span.spanContext().spanId}`);
  }
  await provider.forceFlush();
  await provider.shutdown();
  return ids;
}

type Row = Pick<
  LlmRequestRow,
  | 'ts'
  | 'request_id'
  | 'tenant'
  | 'model'
  | 'endpoint'
  | 'api'
  | 'backend'
  | 'node'
  | 'status'
  | 'error'
  | 'error_kind'
  | 'stream'
  | 'input_tokens'
  | 'output_tokens'
  | 'cached_tokens'
  | 'ttft_ms'
  | 'duration_ms'
  | 'source'
>;

async function rowsFor(ids: string[]): Promise<Row[]> {
  await collector.pipeline.forceFlush();
  const list = ids.map((i) => `'${i}'`).join(',');
  return collector.store.queryRows<Row>(
    `SELECT toString(ts) AS ts, request_id, tenant, model, endpoint, api, backend, node, status, error, error_kind, stream, input_tokens, output_tokens, cached_tokens, ttft_ms, duration_ms, source
     FROM llmeter.llm_requests WHERE request_id IN (${list}) ORDER BY ts`,
  );
}

const BASE = { endpoint: '', api: 'otlp', node: '', status: 200, error: '', error_kind: '', stream: false, cached_tokens: 0, ttft_ms: null, source: 'otlp' };

describe('OTLP/HTTP traces receiver', () => {
  it('turns GenAI spans from the http/json exporter into llm_requests rows and ignores the rest', async () => {
    const exporter = new JsonExporter({ url, headers: { 'x-api-key': KEY } });
    const ids = await exportSpans(exporter, { 'service.name': 'chat-backend', 'tenant.id': 'acme' }, [
      {
        name: 'chat llama3.1:8b',
        startMs: T0,
        durationMs: 1500.5,
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': 'ollama',
          'gen_ai.request.model': 'llama3.1:8b',
          'gen_ai.response.model': 'llama3.1:8b-instruct-q4',
          'gen_ai.usage.input_tokens': 120,
          'gen_ai.usage.output_tokens': 48,
          'gen_ai.usage.cache_read.input_tokens': 100,
          'server.address': 'gpu-node-1',
          'gen_ai.request.stream': true,
        },
      },
      {
        // The older names OpenLLMetry still sends.
        name: 'openai.chat',
        startMs: T0 + 2000,
        durationMs: 800,
        attributes: {
          'gen_ai.system': 'openai',
          'gen_ai.request.model': 'gpt-4o-mini',
          'gen_ai.usage.prompt_tokens': 30,
          'gen_ai.usage.completion_tokens': 7,
          'llm.request.type': 'chat',
        },
      },
      { name: 'GET /health', startMs: T0 + 3000, durationMs: 2, attributes: { 'http.request.method': 'GET' } },
    ]);
    const rows = await rowsFor(ids);
    expect(rows).toEqual([
      {
        ...BASE,
        ts: '2026-02-01 10:00:00.000',
        request_id: ids[0],
        tenant: 'acme',
        model: 'llama3.1:8b',
        endpoint: 'chat',
        backend: 'ollama',
        node: 'gpu-node-1',
        stream: true,
        input_tokens: 120,
        output_tokens: 48,
        cached_tokens: 100,
        duration_ms: 1500.5,
      },
      {
        ...BASE,
        ts: '2026-02-01 10:00:02.000',
        request_id: ids[1],
        tenant: 'acme',
        model: 'gpt-4o-mini',
        endpoint: 'chat',
        backend: 'openai',
        input_tokens: 30,
        output_tokens: 7,
        duration_ms: 800,
      },
    ]);
    expect(await count(collector.store, `llmeter.llm_requests WHERE request_id = '${ids[2]}'`)).toBe(0);
  });

  it('turns GenAI spans from the http/protobuf exporter (gzip) into rows, the tenant from a header', async () => {
    const exporter = new ProtoExporter({
      url,
      headers: { authorization: `Bearer ${KEY}`, 'x-llmeter-tenant': 'globex' },
      compression: CompressionAlgorithm.GZIP,
    });
    const ids = await exportSpans(exporter, { 'service.name': 'rag-worker' }, [
      {
        name: 'chat qwen2.5:7b',
        startMs: T0 + 10_000,
        durationMs: 2250,
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.system': 'vllm',
          'gen_ai.response.model': 'qwen2.5:7b',
          'gen_ai.usage.input_tokens': 2048,
          'gen_ai.usage.output_tokens': 0,
          'error.type': 'timeout',
        },
        error: 'upstream timed out',
      },
    ]);
    expect(await rowsFor(ids)).toEqual([
      {
        ...BASE,
        ts: '2026-02-01 10:00:10.000',
        request_id: ids[0],
        tenant: 'globex',
        model: 'qwen2.5:7b',
        endpoint: 'chat',
        backend: 'vllm',
        status: 500,
        error: 'upstream timed out',
        error_kind: 'timeout',
        input_tokens: 2048,
        output_tokens: 0,
        duration_ms: 2250,
      },
    ]);
  });

  it('dead-letters GenAI spans that name no tenant and reports them as a partial success', async () => {
    const body = JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: '5b8efff798038103d269b633813fc60c',
                  spanId: 'eee19b7ec3c1b174',
                  name: 'chat',
                  startTimeUnixNano: '1769940000000000000',
                  endTimeUnixNano: '1769940001000000000',
                  attributes: [{ key: 'gen_ai.request.model', value: { stringValue: 'm' } }],
                },
              ],
            },
          ],
        },
      ],
    });
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': KEY }, body });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ partialSuccess: { rejectedSpans: '1', errorMessage: expect.stringContaining('tenant: required') } });
    await collector.pipeline.forceFlush();
    expect(
      await count(
        collector.store,
        `llmeter.dead_letters WHERE signal = 'llm_request' AND source = 'otlp' AND payload LIKE '%5b8efff798038103d269b633813fc60c%'`,
      ),
    ).toBe(1);
  });

  it('refuses requests without a key, of another content type, malformed or too large', async () => {
    const post = (body: string | Buffer, headers: Record<string, string>) => fetch(url, { method: 'POST', headers, body });
    expect((await post('{}', { 'content-type': 'application/json' })).status).toBe(401);
    expect((await post('{}', { 'content-type': 'text/plain', 'x-api-key': KEY })).status).toBe(415);
    expect((await post('{"resourceSpans": 3}', { 'content-type': 'application/json', 'x-api-key': KEY })).status).toBe(400);
    expect((await post(Buffer.from([0x0a, 0xff, 0xff, 0xff]), { 'content-type': 'application/x-protobuf', 'x-api-key': KEY })).status).toBe(400);
    expect((await post(Buffer.alloc(300 * 1024, 0x20), { 'content-type': 'application/json', 'x-api-key': KEY })).status).toBe(413);
    expect(
      (await post(gzipSync(Buffer.alloc(1024 * 1024, 0x20)), { 'content-type': 'application/json', 'content-encoding': 'gzip', 'x-api-key': KEY })).status,
    ).toBe(413);
  });

  it('stores a re-sent export once', async () => {
    const body = JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'tenant.id', value: { stringValue: 'resent' } }] },
          scopeSpans: [
            {
              spans: [1, 2, 3].map((i) => ({
                traceId: '0af7651916cd43dd8448eb211c80319c',
                spanId: `b7ad6b716920333${i}`,
                name: 'chat',
                startTimeUnixNano: `17699400${i}0000000000`,
                endTimeUnixNano: `17699400${i}1000000000`,
                attributes: [
                  { key: 'gen_ai.request.model', value: { stringValue: 'm' } },
                  { key: 'gen_ai.usage.output_tokens', value: { intValue: '5' } },
                ],
              })),
            },
          ],
        },
      ],
    });
    for (let i = 0; i < 2; i++) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': KEY }, body });
      expect(res.status).toBe(200);
    }
    // Answered after the spans were stored: no flush needed to find them.
    expect(await count(collector.store, `llmeter.llm_requests WHERE tenant = 'resent'`)).toBe(3);
    const hourly = await collector.store.queryRows<{ n: string }>(`SELECT sum(requests) AS n FROM llmeter.llm_requests_hourly WHERE tenant = 'resent'`);
    expect(Number(hourly[0]!.n)).toBe(3);
  });

  it("charges a tenant key's spans to its tenant and refuses spans naming another tenant", async () => {
    const span = (spanId: string, tenant?: string) => ({
      traceId: '1af7651916cd43dd8448eb211c80319c',
      spanId,
      name: 'chat',
      startTimeUnixNano: '1769941000000000000',
      endTimeUnixNano: '1769941001000000000',
      attributes: [{ key: 'gen_ai.request.model', value: { stringValue: 'm' } }, ...(tenant ? [{ key: 'tenant.id', value: { stringValue: tenant } }] : [])],
    });
    const post = (key: string, spans: object[], headers: Record<string, string> = {}) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key, ...headers },
        body: JSON.stringify({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ spans }] }] }),
      });
    // acme's proxy key: its own spans (named or not) are acme's; globex's are refused.
    const r = await post(ACME_KEY, [span('c000000000000001'), span('c000000000000002', 'acme'), span('c000000000000003', 'globex')]);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({
      partialSuccess: { rejectedSpans: '1', errorMessage: expect.stringContaining('this key belongs to tenant "acme"') },
    });
    // The tenant header cannot move them either.
    const h = await post(ACME_KEY, [span('c000000000000004')], { 'x-llmeter-tenant': 'globex' });
    expect(await h.json()).toMatchObject({ partialSuccess: { rejectedSpans: '1' } });
    const i = await post(INITECH_KEY, [span('c000000000000005')]);
    expect(i.status).toBe(200);
    const rows = await collector.store.queryRows<{ tenant: string; n: string }>(
      `SELECT tenant, count() AS n FROM llmeter.llm_requests WHERE request_id LIKE '1af7651916cd43dd8448eb211c80319c-%' GROUP BY tenant ORDER BY tenant`,
    );
    expect(rows).toEqual([
      { tenant: 'acme', n: '2' },
      { tenant: 'initech', n: '1' },
    ]);
  });

  it('counts spans and requests on the collector registry', async () => {
    const text = await (await fetch(`http://${collector.address}/metrics`)).text();
    expect(text).toMatch(/llmeter_otlp_spans_total\{outcome="genai"[^}]*\} 12/);
    expect(text).toMatch(/llmeter_otlp_spans_total\{outcome="ignored"[^}]*\} 1/);
    expect(text).toMatch(/llmeter_otlp_spans_total\{outcome="rejected"[^}]*\} 3/);
    expect(text).toMatch(/llmeter_otlp_requests_total\{encoding="protobuf",outcome="accepted"[^}]*\} 1/);
    expect(text).toMatch(/llmeter_otlp_requests_total\{encoding="json",outcome="unauthorized"[^}]*\} 1/);
  });
});
