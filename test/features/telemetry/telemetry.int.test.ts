// Self-tracing: off by default and then free (no SDK, no-op spans); on, it exports the ingest and
// insert spans over OTLP/HTTP, and exporting to the collector's own OTLP receiver makes no loop.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync } from 'node:fs';
import { trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../collector/core/log.ts';
import { receiversFor, receiversConfigSchema } from '../../../collector/features/receivers/index.ts';
import { spansFromJson, type Span } from '../../../collector/features/receivers/otlp/spans.ts';
import { spansFromProtobuf } from '../../../collector/features/receivers/otlp/protobuf.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { telemetryConfigSchema, telemetryFeature, tracedInserter, tracedSink, tracer } from '../../../collector/features/telemetry/index.ts';
import type { CoreServices } from '../../../collector/core/feature.ts';
import { NativeBlocks } from '../../../collector/core/store/native-blocks.ts';
import { Telemetry } from '../../../collector/features/telemetry/sdk.ts';
import { testConfig } from '../../helpers/store.ts';
import { servedMetricValue } from '../../helpers/metrics.ts';

const receivers = receiversConfigSchema.parse({
  faro: { enabled: true, apps: [{ name: 'web', tenant: 'acme' }] },
  otlp: { enabled: true },
});
const config = testConfig();
let collector: Collector;
let base: string;

/** A bare OTLP/HTTP endpoint that keeps what it is sent. */
let sink: Server;
let sinkUrl: string;
const received: Span[] = [];

beforeAll(async () => {
  // The receivers get the traced sink, as the runtime hands it to every feature.
  collector = await startCollector(config, silentLogger, { features: [(ctx) => receiversFor(receivers)({ ...ctx, sink: tracedSink(ctx.sink) })] });
  base = `http://${collector.address}`;
  sink = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push(...(req.headers['content-type']?.includes('json') ? spansFromJson(JSON.parse(body.toString())) : spansFromProtobuf(body)));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/v1/traces`;
});

afterAll(async () => {
  await collector?.shutdown();
  await new Promise((r) => sink?.close(r));
  rmSync(config.store.data_dir, { recursive: true, force: true });
});

const faroPost = () =>
  fetch(`${base}/faro/collect`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ meta: { app: { name: 'web' } }, logs: [{ message: 'hi', level: 'info' }] }),
  });

describe('self-tracing', () => {
  it('is off by default: no component, no SDK, spans are non-recording', async () => {
    const cfg = telemetryConfigSchema.parse({});
    expect(cfg.enabled).toBe(false);
    expect(telemetryFeature.create({} as CoreServices, cfg, {})).toEqual({ components: [], provides: undefined });
    const t = new Telemetry({ config: cfg, log: silentLogger });
    await t.start();
    expect(t.running).toBe(false);
    const span = tracer().startSpan('nothing');
    expect(span.isRecording()).toBe(false);
    expect(span.spanContext().traceId).toBe('00000000000000000000000000000000');
    span.end();
    expect((await faroPost()).status).toBe(202);
  });

  it('exports ingest and insert spans over OTLP/HTTP when enabled', async () => {
    const t = new Telemetry({ config: telemetryConfigSchema.parse({ enabled: true, otlp: { endpoint: sinkUrl, protocol: 'http/json' } }), log: silentLogger });
    await t.start();
    try {
      expect(t.running).toBe(true);
      expect((await faroPost()).status).toBe(202);
      await tracedSink(collector.pipeline).submit('frontend_event', [{ ts: Date.now(), app: 'x', tenant: 'acme', kind: 'log' }], { source: 'test' });
      // OTLP intake is not traced, even when it stores GenAI spans.
      const genai = {
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'tenant.id', value: { stringValue: 'acme' } }] },
            scopeSpans: [
              {
                spans: [
                  {
                    traceId: '0af7651916cd43dd8448eb211c80319c',
                    spanId: 'b7ad6b7169203331',
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
      };
      expect((await fetch(`${base}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(genai) })).status).toBe(
        200,
      );
      await tracedInserter({ insert: async () => {} }).insert(
        'frontend_events',
        new NativeBlocks([{ buf: Buffer.alloc(0), rows: 2, parts: [], dicts: [] }]),
        'tok',
      );
      await t.forceFlush();
    } finally {
      await t.shutdown();
    }
    const byName = new Map(received.map((s) => [s.name, s]));
    expect(byName.get('llmeter.faro.ingest')?.attributes).toMatchObject({ 'llmeter.app': 'web', 'llmeter.records': 1 });
    const ingests = received.filter((s) => s.name === 'llmeter.ingest').map((s) => s.attributes['llmeter.source']);
    expect(ingests.sort()).toEqual(['faro', 'test']);
    expect(received.find((s) => s.attributes['llmeter.source'] === 'test')?.attributes).toMatchObject({
      'llmeter.signal': 'frontend_event',
      'llmeter.accepted': 1,
    });
    // The Faro ingest span is the parent of the pipeline's.
    const faroSpan = byName.get('llmeter.faro.ingest')!;
    expect(received.find((s) => s.attributes['llmeter.source'] === 'faro')?.parentSpanId).toBe(faroSpan.spanId);
    expect(byName.get('llmeter.insert')?.attributes).toMatchObject({ 'db.collection.name': 'frontend_events', 'llmeter.rows': 2 });
    expect(byName.get('llmeter.faro.ingest')?.resource['service.name']).toBe('llmeter');
    // No spans about the export requests themselves.
    expect(received.every((s) => s.name.startsWith('llmeter.'))).toBe(true);
    // After shutdown the API is back to no-op spans.
    expect(trace.getTracer('x').startSpan('after').isRecording()).toBe(false);
  });

  it('exports to its own OTLP receiver without tracing that intake (no loop, no double reporting)', async () => {
    const ignoredBefore = (await servedMetricValue(`${base}/metrics`, 'llmeter_otlp_spans_total', { outcome: 'ignored' })) ?? 0;
    const t = new Telemetry({
      config: telemetryConfigSchema.parse({ enabled: true, otlp: { endpoint: `${base}/v1/traces`, protocol: 'http/protobuf' } }),
      log: silentLogger,
    });
    await t.start();
    try {
      expect((await faroPost()).status).toBe(202);
      await t.forceFlush();
      // The receiver got the Faro request's two spans; receiving them made none, so further flushes send nothing.
      expect((await servedMetricValue(`${base}/metrics`, 'llmeter_otlp_spans_total', { outcome: 'ignored' })) ?? 0).toBe(ignoredBefore + 2);
      await t.forceFlush();
      await new Promise((r) => setTimeout(r, 100));
      await t.forceFlush();
      expect((await servedMetricValue(`${base}/metrics`, 'llmeter_otlp_spans_total', { outcome: 'ignored' })) ?? 0).toBe(ignoredBefore + 2);
      expect((await servedMetricValue(`${base}/metrics`, 'llmeter_otlp_requests_total', { encoding: 'protobuf', outcome: 'accepted' })) ?? 0).toBe(1);
    } finally {
      await t.shutdown();
    }
  });
});
