// The metering proxy: an HTTP server that clients use instead of Ollama or vLLM. Each request is
// authenticated to a tenant, admitted against the tenant's limits, routed to an upstream, forwarded
// byte for byte over a keep-alive pool, and recorded as one llm_request when it is over.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Dispatcher } from 'undici';
import { errorMessage } from '../../collector/core/errors.ts';
import { parseListen } from '../../collector/core/http/server.ts';
import { once, type Component } from '../../collector/core/lifecycle/component.ts';
import type { Logger } from '../../collector/core/log.ts';
import type { Origin, RecordSink, SubmitResult } from '../../collector/core/pipeline/pipeline.ts';
import type { EnqueueOptions } from '../../collector/core/pipeline/table-writer.ts';
import type { ProxyConfig } from './config.ts';
import { isColdStart } from './cold-start.ts';
import { apiStyle, sendError } from './errors.ts';
import { isLoopbackAddress, refuse, type GuardConfig } from '../../collector/core/http/guard.ts';
import { Exchange, type ExchangeResult } from './exchange.ts';
import { TenantLimiter } from './limits.ts';
import { Activation } from './activation.ts';
import { ProxyMetrics, type RequestFigures } from './metrics.ts';
import { BodyTooLargeError, injectUsage, inspectBody, needsUsageInjection, readRequestBody } from './request.ts';
import { ollamaModelName } from './model-name.ts';
import { LabelCap, ProxyState, type Cell } from './state.ts';
import { TenantResolver } from './tenants.ts';
import { QueueFullError, QueueTimeoutError, Router, Upstream } from './upstreams.ts';

export interface ProxyServerOptions {
  config: ProxyConfig;
  sink: RecordSink;
  registry: Registry;
  log: Logger;
  /** Shared with whatever reads the live load (autoscaling); one is made when absent. */
  state?: ProxyState;
  /** Directory relative key files are read from. */
  cwd?: string;
  /** Budget verdicts: a reason to refuse a tenant whose hard-stop budget is spent. */
  budgetRefusal?: (tenant: string) => string | undefined;
}

const ORIGIN: Origin = { source: 'proxy' };
const SUBMIT_OPTIONS: EnqueueOptions = { onFull: 'drop' };
/** Request headers that describe the hop to the proxy, not the request. */
const DROP_REQUEST = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'content-length',
  'expect',
  'accept-encoding',
]);
const STREAMED_BODY = '/api/blobs/';

export class ProxyServer implements Component {
  readonly name = 'proxy';
  readonly state: ProxyState;
  readonly metrics: ProxyMetrics;
  readonly router: Router;
  private readonly cfg: ProxyConfig;
  private readonly sink: RecordSink;
  private readonly log: Logger;
  private readonly server: Server;
  private readonly tenants: TenantResolver;
  private readonly limiter = new TenantLimiter();
  private readonly budgetRefusal: (tenant: string) => string | undefined;
  private readonly models: LabelCap;
  private readonly tenantLabels: LabelCap;
  private readonly active = new Set<Exchange>();
  /** Reused for every request's metrics: ProxyMetrics.finished reads it and keeps nothing. */
  private readonly figures: RequestFigures = { overheadS: 0, durationS: null, ttftS: null, inputTokens: 0, outputTokens: 0, cachedTokens: 0, coldStart: false };
  private idleWaiters: (() => void)[] = [];
  /** Records handed to the pipeline whose submit has not settled, and who waits for none. */
  private submitting = 0;
  private submitWaiters: (() => void)[] = [];
  private readonly isDraining = (u: Upstream): boolean => this.state.isDraining(u.name);
  private readonly inflightDone = (c: Cell): void => this.state.cellInflightDelta(c, -1);
  private readonly onDone = (o: ExchangeResult, ex: Exchange): void => this.done(o, ex);
  private readonly onSubmitted = (res: SubmitResult): void => {
    if (res.dropped) this.metrics.recordsDropped.inc({ reason: 'queue_full' }, res.dropped);
    if (res.rejected) this.metrics.recordsDropped.inc({ reason: 'rejected' }, res.rejected);
    this.submitSettled();
  };
  private readonly onSubmitFailed = (err: Error): void => {
    this.metrics.recordsDropped.inc({ reason: 'error' });
    this.log.warn('llm_request record not submitted', { error: err.message });
    this.submitSettled();
  };
  /** Scale-from-zero hold (activation.ts); undefined while proxy.activation is off. */
  readonly activation: Activation | undefined;

  private readonly guard: GuardConfig;

  constructor(o: ProxyServerOptions) {
    this.cfg = o.config;
    this.sink = o.sink;
    this.log = o.log;
    this.budgetRefusal = o.budgetRefusal ?? (() => undefined);
    const cwd = o.cwd ?? process.cwd();
    if (o.config.upstreams.length === 0) throw new Error('proxy: no upstreams configured (proxy.upstreams, or --upstream)');
    this.state = o.state ?? new ProxyState();
    this.metrics = new ProxyMetrics(o.registry, this.state);
    this.activation = o.config.activation.enabled ? new Activation({ config: o.config.activation, state: this.state, registry: o.registry }) : undefined;
    this.tenants = new TenantResolver(o.config, cwd);
    this.router = new Router(o.config.upstreams.map((u) => new Upstream(u, { headersMs: o.config.headers_timeout_ms, bodyMs: o.config.body_timeout_ms }, cwd)));
    this.models = new LabelCap(o.config.max_model_labels);
    this.tenantLabels = new LabelCap(1000);
    // Like the model servers themselves: on loopback only this machine's names are served (a page
    // that rebinds its host name to 127.0.0.1 is refused); on a network address any name is.
    const loopback = isLoopbackAddress(parseListen(o.config.listen).host);
    this.guard = { allowed_hosts: loopback ? o.config.allowed_hosts : ['*'], allowed_origins: o.config.allowed_origins };
    this.server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 120_000, headersTimeout: 60_000 }, (req, res) => this.handle(req, res));
  }

  async start(): Promise<void> {
    const { host, port } = parseListen(this.cfg.listen);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.log.info('proxy listening', { listen: this.address(), upstreams: this.router.upstreams.map((u) => `${u.name}=${u.origin}${u.basePath}`) });
  }

  /** host:port the proxy listens on. */
  address(): string {
    const a = this.server.address() as AddressInfo;
    return `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  /** Resolves when no request is in flight and every record was handed to the pipeline. */
  async idle(): Promise<void> {
    if (this.active.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.submitsSettled();
  }

  async forceFlush(): Promise<void> {
    await this.submitsSettled();
  }

  private submitsSettled(): Promise<void> {
    if (this.submitting === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.submitWaiters.push(resolve));
  }

  private submitSettled(): void {
    if (--this.submitting > 0 || this.submitWaiters.length === 0) return;
    const w = this.submitWaiters;
    this.submitWaiters = [];
    for (const f of w) f();
  }

  shutdown = once(async () => {
    this.activation?.close();
    this.server.close();
    this.server.closeIdleConnections();
    if (this.active.size > 0) {
      const drained = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.cfg.drain_timeout_ms);
        timer.unref();
      });
      await Promise.race([drained, late]);
      clearTimeout(timer);
      for (const ex of this.active) ex.res.destroy();
    }
    this.server.closeAllConnections();
    // Best effort at shutdown: an upstream pool that fails to close holds nothing the proxy still needs.
    await Promise.all(this.router.upstreams.map((u) => u.destroy().catch(() => {})));
    await this.submitsSettled();
  });

  // --- the request path -------------------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const refusal = refuse(req, 'api', this.guard);
    if (refusal) {
      req.resume();
      this.metrics.refused.inc({ reason: refusal.reason });
      return sendError(res, apiStyle(req.url ?? '/'), refusal.status, refusal.message, 'forbidden', { connection: 'close' });
    }
    const t0 = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    const ex = new Exchange({
      req,
      res,
      pathname,
      style: apiStyle(pathname),
      requestId: randomUUID(),
      arrivedAt: Date.now(),
      t0,
      onDone: this.onDone,
    });
    this.active.add(ex);

    const who = this.tenants.resolve(req.headers);
    if (!who.ok) {
      req.resume();
      ex.overheadMs += performance.now() - t0;
      return ex.fail(401, 'auth', `unauthorized: ${who.reason}`, 'invalid_api_key');
    }
    ex.tenant = who.tenant.name;
    const overBudget = this.budgetRefusal(who.tenant.name);
    if (overBudget) {
      req.resume();
      ex.overheadMs += performance.now() - t0;
      // Budgets reset with the next day or month; an hour is an honest hint for the client.
      return ex.fail(429, 'budget_exhausted', overBudget, 'budget_exhausted', { 'retry-after': '3600' });
    }
    const admitted = this.limiter.admit(who.tenant);
    if (!admitted.ok) {
      req.resume();
      ex.overheadMs += performance.now() - t0;
      return ex.fail(429, 'rate_limited', admitted.reason, 'rate_limit_exceeded', { 'retry-after': String(admitted.retryAfterS) });
    }
    ex.releaseTenant = admitted.release;
    const stripKey = who.viaKey || this.tenants.trustedHeader !== '';
    ex.overheadMs += performance.now() - t0;

    if (!hasBody(req) || pathname.startsWith(STREAMED_BODY)) {
      // Bodies of model uploads are passed on as a stream; everything else is small enough to read.
      void this.forward(ex, hasBody(req) ? req : null, '', false, stripKey);
      return;
    }
    readRequestBody(req, this.cfg.max_body_bytes).then(
      (body) => {
        const t = performance.now();
        const info = inspectBody(body);
        ex.model = info.model;
        let out = body;
        let injected = false;
        if (this.cfg.inject_stream_usage && needsUsageInjection(pathname, info)) {
          out = injectUsage(body, info);
          injected = true;
        }
        ex.overheadMs += performance.now() - t;
        void this.forward(ex, out, info.model, injected, stripKey);
      },
      (err: unknown) => {
        if (err instanceof BodyTooLargeError) {
          res.setHeader('connection', 'close');
          ex.fail(413, 'too_large', err.message, 'request_too_large');
          req.resume();
          return;
        }
        ex.fail(0, 'client_abort', `request body: ${errorMessage(err)}`);
      },
    );
  }

  private async forward(ex: Exchange, body: Buffer | IncomingMessage | null, model: string, injected: boolean, stripKey: boolean): Promise<void> {
    let t = performance.now();
    const up = this.router.route(ex.pathname, model, this.isDraining);
    if (!up) {
      ex.overheadMs += performance.now() - t;
      return ex.fail(404, 'no_route', model ? `model '${model}' not found` : `no upstream serves ${ex.pathname}`, 'model_not_found');
    }
    ex.upstream = up;
    if (up.kind === 'ollama' && model) {
      model = ollamaModelName(model);
      ex.model = model;
    }
    const modelLabel = this.models.label(model);
    this.state.arrived(up.name, modelLabel, ex.arrivedAt);
    // --- scale from zero (activation.ts): hold while the upstream's pool wakes -----------------
    if (this.activation?.applies(up)) {
      ex.overheadMs += performance.now() - t;
      const held = await this.activation.hold(up, modelLabel, ex.signal);
      ex.queueMs = held.heldMs;
      t = performance.now();
      if (!held.ok) {
        if (held.reason === 'aborted') return ex.fail(0, 'client_abort', 'client closed the connection while the upstream was starting');
        return ex.fail(503, held.reason === 'full' ? 'queue_full' : 'upstream_down', held.message, 'upstream_starting', {
          'retry-after': String(held.retryAfterS),
        });
      }
    }
    // --- end of scale from zero ---------------------------------------------------------------
    if (!up.gate.tryAcquire()) {
      const q0 = performance.now();
      ex.overheadMs += q0 - t;
      this.state.queueDelta(up.name, modelLabel, 1);
      try {
        await up.gate.wait(ex.signal);
      } catch (err) {
        ex.queueMs += performance.now() - q0;
        this.metrics.queueWait.observe({ upstream: up.name }, ex.queueMs / 1000);
        if (ex.clientAborted) return ex.fail(0, 'client_abort', 'client closed the connection while queued');
        const full = err instanceof QueueFullError || err instanceof QueueTimeoutError;
        return ex.fail(503, 'queue_full', `server busy, please try again. ${errorMessage(err)} for upstream ${up.name}`, full ? 'queue_full' : null);
      } finally {
        this.state.queueDelta(up.name, modelLabel, -1);
      }
      ex.queueMs += performance.now() - q0;
      this.metrics.queueWait.observe({ upstream: up.name }, ex.queueMs / 1000);
      t = performance.now();
    }
    ex.slotOf = up;
    const cell = this.state.cell(up.name, modelLabel);
    this.state.cellInflightDelta(cell, 1);
    ex.inflight = cell;
    ex.inflightDone = this.inflightDone;
    if (injected) ex.setStripUsage();

    const headers: Record<string, string | string[]> = {};
    const src = ex.req.headers;
    const trusted = this.tenants.trustedHeader;
    for (const k in src) {
      const v = src[k];
      if (v === undefined || DROP_REQUEST.has(k) || k === trusted) continue;
      if ((k === 'authorization' || k === 'x-api-key') && (stripKey || up.authorization)) continue;
      headers[k] = v;
    }
    if (up.authorization) headers.authorization = up.authorization;
    // Identity on the wire: the final frame must be readable, and loopback gains nothing from gzip.
    headers['accept-encoding'] = 'identity';
    if (Buffer.isBuffer(body)) headers['content-length'] = String(body.length);
    else if (body && src['content-length'] !== undefined) headers['content-length'] = String(src['content-length']);
    const opts: Dispatcher.DispatchOptions = {
      method: (ex.req.method ?? 'GET') as Dispatcher.HttpMethod,
      path: up.basePath + (ex.req.url ?? '/'),
      headers,
      body,
    };
    ex.overheadMs += performance.now() - t;
    if (ex.clientAborted) return ex.fail(0, 'client_abort', 'client closed the connection before the request was forwarded');
    up.pool.dispatch(opts, ex);
  }

  private done(o: ExchangeResult, ex: Exchange): void {
    this.active.delete(ex);
    if (this.active.size === 0 && this.idleWaiters.length > 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
    const r = o.record;
    const up = o.upstream;
    // The counter counts what the record stores: the server's usage, or for a stream cut short the
    // frames forwarded (an estimate the record marks by its error kind).
    const counted = up !== undefined;
    this.figures.overheadS = (r.proxy_overhead_ms ?? 0) / 1000;
    this.figures.durationS = up ? (r.duration_ms ?? 0) / 1000 : null;
    this.figures.ttftS = up && r.ttft_ms !== null && r.ttft_ms !== undefined ? r.ttft_ms / 1000 : null;
    this.figures.inputTokens = counted ? (r.input_tokens ?? 0) : 0;
    this.figures.outputTokens = counted ? (r.output_tokens ?? 0) : 0;
    this.figures.cachedTokens = counted ? (r.cached_tokens ?? 0) : 0;
    this.figures.coldStart = up !== undefined && isColdStart(o.usage.loadNs);
    this.metrics.finished(
      up?.name ?? '',
      this.models.label(r.model ?? ''),
      this.tenantLabels.label(r.tenant ?? ''),
      r.status ?? 0,
      r.error_kind ?? '',
      this.figures,
    );
    if (o.stripped) this.metrics.usageStripped.inc(o.stripped);
    // A request nobody could be charged for is counted in the metrics (tenant ""), not stored: an
    // unauthenticated client could otherwise write rows without end.
    if (r.error_kind === 'auth') return;
    this.submitting++;
    this.sink.submit('llm_request', [r], ORIGIN, SUBMIT_OPTIONS).then(this.onSubmitted, this.onSubmitFailed);
  }
}

function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return len !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}
