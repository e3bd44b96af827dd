// OTLP/HTTP traces receiver (`POST /v1/traces`, JSON or protobuf, optionally gzip): the GenAI spans
// among what an instrumented application exports become llm_request records; the other spans are
// counted and left out. The answer follows OTLP/HTTP: 200 with an ExportTraceServiceResponse in the
// request's encoding, carrying a partial success when some spans were refused.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage } from '../../../core/errors.ts';
import type { Logger } from '../../../core/log.ts';
import { HttpError, sendJson, type HttpServer } from '../../../core/http/server.ts';
import { once, type Component } from '../../../core/lifecycle/component.ts';
import type { RecordSink } from '../../../core/pipeline/pipeline.ts';
import type { LlmRequestRecord } from '../../../core/schema/tables.ts';
import { bearerToken, KeyRing, parseDigest, readKeyFile } from '../../../core/security/keys.ts';
import { untraced } from '../../telemetry/tracer.ts';
import { header, readDecodedBody } from '../body.ts';
import type { OtlpConfig } from '../config.ts';
import type { OtlpMetrics } from '../metrics.ts';
import { isGenAiSpan, llmRequestFromSpan, tenantOf } from './genai.ts';
import { protobufResponse, spansFromProtobuf } from './protobuf.ts';
import { spansFromJson, type Span } from './spans.ts';

type Encoding = 'json' | 'protobuf';

/** Whose request it is: a tenant's key charges its tenant; a gateway key may name any. */
export type OtlpPrincipal = { tenant: string } | { gateway: true };

export interface OtlpReceiverOptions {
  config: OtlpConfig;
  /** Keys of tenants configured elsewhere (the proxy's), accepted as tenant keys. */
  tenantKeys?: readonly { tenant: string; digests: readonly Buffer[] }[];
  sink: RecordSink;
  metrics: OtlpMetrics;
  log: Logger;
}

export class OtlpReceiver implements Component {
  readonly name = 'otlp-receiver';
  private readonly cfg: OtlpConfig;
  private readonly sink: RecordSink;
  private readonly metrics: OtlpMetrics;
  private readonly log: Logger;
  private readonly keys = new KeyRing<OtlpPrincipal>();
  private closed = false;

  constructor(o: OtlpReceiverOptions) {
    this.cfg = o.config;
    this.sink = o.sink;
    this.metrics = o.metrics;
    this.log = o.log;
    for (const spec of o.config.api_keys) this.keys.add(parseDigest(spec), { gateway: true });
    if (o.config.api_key_file) this.keys.addKey(readKeyFile(o.config.api_key_file), { gateway: true });
    for (const t of o.config.tenants) {
      for (const d of t.keys) this.keys.add(parseDigest(d), { tenant: t.tenant });
      for (const f of t.key_files) this.keys.addKey(readKeyFile(f), { tenant: t.tenant });
    }
    for (const t of o.tenantKeys ?? []) for (const d of t.digests) this.keys.add(d, { tenant: t.tenant });
  }

  mount(http: HttpServer): void {
    // Tracing is suppressed for the whole intake: when the collector exports its own spans here,
    // receiving them must not make new ones.
    http.route('POST', this.cfg.path, (req, res) => untraced(() => this.handle(req, res)));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const contentType = (header(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    const encoding: Encoding | undefined =
      contentType === 'application/json' ? 'json' : contentType === 'application/x-protobuf' || contentType === 'application/protobuf' ? 'protobuf' : undefined;
    let outcome = 'accepted';
    try {
      if (this.closed) throw new HttpError(503, 'shutting down', { 'retry-after': '5' });
      if (!encoding) {
        outcome = 'unsupported';
        throw new HttpError(415, 'expected content-type application/json or application/x-protobuf');
      }
      const principal: OtlpPrincipal | undefined =
        this.keys.size === 0 ? { gateway: true } : this.keys.lookup(header(req, 'x-api-key') ?? bearerToken(req.headers.authorization));
      if (!principal) {
        outcome = 'unauthorized';
        throw new HttpError(401, 'a valid API key is required (x-api-key or Authorization: Bearer)');
      }
      const body = await readDecodedBody(req, this.cfg.max_body_bytes);
      let spans: Span[];
      try {
        spans = encoding === 'json' ? spansFromJson(JSON.parse(body.toString('utf8'))) : spansFromProtobuf(body);
      } catch (err) {
        throw new HttpError(400, `not an OTLP ExportTraceServiceRequest (${encoding}): ${errorMessage(err)}`);
      }
      const { rejected, message } = await this.store(spans, header(req, this.cfg.tenant_header), principal);
      this.respond(res, encoding, rejected, message);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      if (outcome === 'accepted') outcome = err.status === 413 ? 'too_large' : err.status >= 500 ? 'unavailable' : 'malformed';
      if (!req.readableEnded) req.resume();
      sendJson(res, err.status, { error: err.message }, err.headers);
    } finally {
      this.metrics.requests.inc({ encoding: encoding ?? 'other', outcome });
      this.metrics.duration.observe({ encoding: encoding ?? 'other' }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  private async store(spans: Span[], tenantHeader: string | undefined, principal: OtlpPrincipal): Promise<{ rejected: number; message: string }> {
    const keyTenant = 'tenant' in principal ? principal.tenant : undefined;
    const tenantSource = { attribute: this.cfg.tenant_attribute, header: tenantHeader, fallback: keyTenant ?? this.cfg.default_tenant };
    const records: LlmRequestRecord[] = [];
    let foreign = 0;
    for (const s of spans) {
      if (!isGenAiSpan(s)) continue;
      const tenant = tenantOf(s, tenantSource);
      // A tenant's key writes its own tenant's spans only.
      if (keyTenant !== undefined && tenant !== keyTenant) {
        foreign++;
        continue;
      }
      const rec = llmRequestFromSpan(s, tenant);
      // A span that names no tenant goes to the collector without one, which dead-letters it with
      // the reason; it is never charged to somebody by guess.
      records.push(tenant ? rec : ({ ...rec, tenant: undefined } as unknown as LlmRequestRecord));
    }
    const ignored = spans.length - records.length - foreign;
    if (ignored > 0) this.metrics.spans.inc({ outcome: 'ignored' }, ignored);
    const refusedForeign =
      foreign > 0 ? `${foreign}× tenant: this key belongs to tenant ${JSON.stringify(keyTenant)}; spans naming another tenant are refused` : '';
    if (foreign > 0) {
      this.metrics.spans.inc({ outcome: 'rejected' }, foreign);
      this.log.warn("GenAI spans naming another tenant than their key's refused", { tenant: keyTenant, spans: foreign });
    }
    if (records.length === 0) return { rejected: foreign, message: refusedForeign };
    const r = await this.sink.submit('llm_request', records, { source: 'otlp' }, { onFull: 'drop' });
    if (r.accepted > 0) this.metrics.spans.inc({ outcome: 'genai' }, r.accepted);
    if (r.rejected + r.dropped > 0) this.metrics.spans.inc({ outcome: 'rejected' }, r.rejected + r.dropped);
    if (r.dropped > 0) throw new HttpError(503, 'the collector is saturated; retry later', { 'retry-after': '2' });
    if (r.rejected > 0) this.log.warn('GenAI spans refused', { rejected: r.rejected, reasons: r.reasons.slice(0, 3) });
    // Answered once the spans are stored (or, through Kafka, in the broker or the spool): an export
    // the exporter counts as sent is not lost to a crash.
    await r.durable;
    if (r.lost?.()) throw new HttpError(503, 'the spans were not all kept (the collector is shutting down); export them again', { 'retry-after': '5' });
    const message = [refusedForeign, ...r.reasons.map((x) => `${x.count}× ${x.reason}`)].filter(Boolean).join('; ').slice(0, 1024);
    return { rejected: r.rejected + foreign, message };
  }

  private respond(res: ServerResponse, encoding: Encoding, rejected: number, message: string): void {
    if (encoding === 'json') {
      sendJson(res, 200, rejected > 0 ? { partialSuccess: { rejectedSpans: String(rejected), errorMessage: message } } : { partialSuccess: {} });
      return;
    }
    const body = protobufResponse(rejected, message);
    res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': body.byteLength });
    res.end(body);
  }

  async start(): Promise<void> {}
  async forceFlush(): Promise<void> {}

  shutdown = once(async () => {
    this.closed = true;
  });
}
