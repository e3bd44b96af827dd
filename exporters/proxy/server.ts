// The metering proxy: an HTTP server that clients use instead of Ollama or vLLM. Each request is
// authenticated to a tenant, admitted against the tenant's limits, routed to an upstream, forwarded
// byte for byte over a keep-alive pool, and recorded as one llm_request when it is over.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Dispatcher } from 'undici';
import { parseListen } from '../../collector/http/server.ts';
import { once, type Component } from '../../collector/lifecycle/component.ts';
import type { Logger } from '../../collector/log.ts';
import type { Origin, RecordSink } from '../../collector/pipeline/pipeline.ts';
import type { ProxyConfig } from './config.ts';
import { apiStyle } from './errors.ts';
import { Exchange, type Outcome } from './exchange.ts';
import { TenantLimiter } from './limits.ts';
import { Activation } from './activation.ts';
import { ProxyMetrics } from './metrics.ts';
import { BodyTooLargeError, injectUsage, inspectBody, needsUsageInjection, readRequestBody } from './request.ts';
import { LabelCap, ProxyState } from './state.ts';
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
/** Request headers that describe the hop to the proxy, not the request. */
const DROP_REQUEST = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'content-length', 'expect', 'accept-encoding']);
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
  private readonly submits = new Set<Promise<unknown>>();
  private idleWaiters: (() => void)[] = [];
  /** Scale-from-zero hold (activation.ts); undefined while proxy.activation is off. */
  readonly activation: Activation | undefined;

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
    await Promise.all([...this.submits]);
  }

  async forceFlush(): Promise<void> {
    await Promise.all([...this.submits]);
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
    await Promise.all(this.router.upstreams.map((u) => u.destroy().catch(() => {})));
    await Promise.all([...this.submits]);
  });

  // --- the request path -------------------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
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
      onDone: (o, e) => this.done(o, e),
    });
    this.active.add(ex);
    res.setHeader('x-llmeter-request-id', ex.requestId);

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
    ex.releases.push(admitted.release);
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
      (err: Error) => {
        if (err instanceof BodyTooLargeError) {
          res.setHeader('connection', 'close');
          ex.fail(413, 'too_large', err.message, 'request_too_large');
          req.resume();
          return;
        }
        ex.fail(0, 'client_abort', `request body: ${err.message}`);
      },
    );
  }

  private async forward(ex: Exchange, body: Buffer | IncomingMessage | null, model: string, injected: boolean, stripKey: boolean): Promise<void> {
    let t = performance.now();
    const up = this.router.route(ex.pathname, model, (u) => this.state.isDraining(u.name));
    if (!up) {
      ex.overheadMs += performance.now() - t;
      return ex.fail(404, 'no_route', model ? `model '${model}' not found` : `no upstream serves ${ex.pathname}`, 'model_not_found');
    }
    ex.upstream = up;
    const modelLabel = this.models.label(model);
    this.state.arrived(up.name, modelLabel, ex.arrivedAt);
    // --- scale from zero (activation.ts): hold while the upstream's pool wakes -----------------
    if (this.activation?.applies(up)) {
      ex.overheadMs += performance.now() - t;
      const held = await this.activation.hold(up, modelLabel, ex.abort.signal);
      ex.queueMs = held.heldMs;
      t = performance.now();
      if (!held.ok) {
        if (held.reason === 'aborted') return ex.fail(0, 'client_abort', 'client closed the connection while the upstream was starting');
        return ex.fail(503, held.reason === 'full' ? 'queue_full' : 'upstream_down', held.message, 'upstream_starting', { 'retry-after': String(held.retryAfterS) });
      }
    }
    // --- end of scale from zero ---------------------------------------------------------------
    if (!up.gate.tryAcquire()) {
      const q0 = performance.now();
      ex.overheadMs += q0 - t;
      this.state.queueDelta(up.name, modelLabel, 1);
      try {
        await up.gate.wait(ex.abort.signal);
      } catch (err) {
        ex.queueMs += performance.now() - q0;
        this.metrics.queueWait.observe({ upstream: up.name }, ex.queueMs / 1000);
        if (ex.clientAborted) return ex.fail(0, 'client_abort', 'client closed the connection while queued');
        const full = err instanceof QueueFullError || err instanceof QueueTimeoutError;
        return ex.fail(503, 'queue_full', `server busy, please try again. ${(err as Error).message} for upstream ${up.name}`, full ? 'queue_full' : null);
      } finally {
        this.state.queueDelta(up.name, modelLabel, -1);
      }
      ex.queueMs += performance.now() - q0;
      this.metrics.queueWait.observe({ upstream: up.name }, ex.queueMs / 1000);
      t = performance.now();
    }
    ex.releases.push(() => up.gate.release());
    this.state.inflightDelta(up.name, modelLabel, 1);
    ex.releases.push(() => this.state.inflightDelta(up.name, modelLabel, -1));
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

  private done(o: Outcome, ex: Exchange): void {
    this.active.delete(ex);
    if (this.active.size === 0 && this.idleWaiters.length > 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
    const r = o.record;
    const upstream = o.upstream?.name ?? '';
    const model = this.models.label(r.model ?? '');
    const tenant = this.tenantLabels.label(r.tenant ?? '');
    const m = this.metrics;
    m.requests.inc({ upstream, model, tenant, status: String(r.status ?? 0), error_kind: r.error_kind ?? '' });
    m.overhead.observe({ upstream }, (r.proxy_overhead_ms ?? 0) / 1000);
    if (o.upstream) {
      m.duration.observe({ upstream, model }, (r.duration_ms ?? 0) / 1000);
      if (r.ttft_ms !== null && r.ttft_ms !== undefined) m.ttft.observe({ upstream, model }, r.ttft_ms / 1000);
      if (o.usage.found) {
        if (o.usage.inputTokens) m.tokens.inc({ upstream, model, tenant, kind: 'input' }, o.usage.inputTokens);
        if (o.usage.outputTokens) m.tokens.inc({ upstream, model, tenant, kind: 'output' }, o.usage.outputTokens);
        if (o.usage.cachedTokens) m.tokens.inc({ upstream, model, tenant, kind: 'cached' }, o.usage.cachedTokens);
      }
      if (o.usage.loadNs > 1e9) m.coldStarts.inc({ upstream, model });
    }
    if (o.stripped) m.usageStripped.inc(o.stripped);
    const p = this.sink.submit('llm_request', [r], ORIGIN, { onFull: 'drop' }).then(
      (res) => {
        if (res.dropped) m.recordsDropped.inc({ reason: 'queue_full' }, res.dropped);
        if (res.rejected) m.recordsDropped.inc({ reason: 'rejected' }, res.rejected);
      },
      (err: Error) => {
        m.recordsDropped.inc({ reason: 'error' });
        this.log.warn('llm_request record not submitted', { error: err.message });
      },
    );
    this.submits.add(p);
    void p.finally(() => this.submits.delete(p));
  }
}

function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return len !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}
