// The collector's HTTP endpoint: health, readiness, metrics, and the routes features add (/api/*,
// receivers). Every request body has a size limit.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, type Registry } from 'prom-client';
import { errorMessage, LlmeterError } from '../errors.ts';
import { once, type Component } from '../lifecycle/component.ts';
import type { Logger } from '../log.ts';
import { refuse, type Exposure, type GuardConfig } from './guard.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

/** A refusal answered with its HTTP status (its code) and message. */
export class HttpError extends LlmeterError {
  declare readonly code: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message, status);
    this.headers = headers;
  }

  get status(): number {
    return this.code;
  }
}

/** Reads a request body, refusing (413) past `limit` bytes without buffering the excess. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      return reject(new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new HttpError(413, `request body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

interface Route {
  method: string;
  path: string;
  prefix: boolean;
  handler: Handler;
  exposure: Exposure;
  bodyTypes?: readonly string[];
}

export interface RouteOptions {
  /** `api` (default): this origin only; `probe`: anyone; `cors`: the route answers for origins itself. */
  exposure?: Exposure;
  /** Media types the route takes a body in; any other is refused (415) before the handler runs. */
  bodyTypes?: readonly string[];
}

export interface HttpServerOptions {
  listen: string;
  registry: Registry;
  log: Logger;
  /** Readiness: false while starting and once shutdown began. */
  ready?: () => boolean;
  /** Which hosts and browser origins may use the endpoint (guard.ts); none besides this machine by default. */
  guard?: GuardConfig;
}

export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  let host = listen.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(listen.slice(i + 1)) };
}

const NO_NAMES: GuardConfig = { allowed_hosts: [], allowed_origins: [] };

export class HttpServer implements Component {
  readonly name = 'http';
  private readonly routes: Route[] = [];
  private readonly server: Server;
  private readonly opts: HttpServerOptions;
  private readyFlag = false;
  private readonly refused: Counter<'reason'>;

  constructor(opts: HttpServerOptions) {
    this.opts = opts;
    this.refused = new Counter({
      name: 'llmeter_http_refused_total',
      help: "Requests refused before any route ran: host (not this endpoint's name), origin (a browser on another origin or site), content_type (a body type any page can send).",
      labelNames: ['reason'],
      registers: [opts.registry],
    });
    this.server = createServer({ keepAliveTimeout: 5_000, requestTimeout: 60_000, headersTimeout: 15_000 }, (req, res) => void this.dispatch(req, res));
    this.route('GET', '/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }), { exposure: 'probe' });
    this.route(
      'GET',
      '/readyz',
      (_req, res) => {
        const ok = this.readyFlag && (this.opts.ready?.() ?? true);
        sendJson(res, ok ? 200 : 503, { status: ok ? 'ready' : 'not ready' });
      },
      { exposure: 'probe' },
    );
    this.route('GET', '/metrics', async (_req, res) => {
      const body = await this.opts.registry.metrics();
      res.writeHead(200, { 'content-type': this.opts.registry.contentType });
      res.end(body);
    });
  }

  /** Adds a route; a path ending in `*` matches every path under it. */
  route(method: string, path: string, handler: Handler, opts: RouteOptions = {}): void {
    const prefix = path.endsWith('*');
    this.routes.push({ method, path: prefix ? path.slice(0, -1) : path, prefix, handler, exposure: opts.exposure ?? 'api', bodyTypes: opts.bodyTypes });
  }

  setReady(ready: boolean): void {
    this.readyFlag = ready;
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return sendJson(res, 400, { error: 'malformed request URL' });
    }
    const matching = this.routes.filter((r) => (r.prefix ? url.pathname.startsWith(r.path) : url.pathname === r.path));
    const route = matching.find((r) => r.method === req.method || (r.method === 'GET' && req.method === 'HEAD'));
    // Checked before anything else, unknown paths included: a refused request learns nothing.
    const refusal = refuse(req, route?.exposure ?? (matching[0]?.exposure === 'probe' ? 'probe' : 'api'), this.opts.guard ?? NO_NAMES, route?.bodyTypes);
    if (refusal) {
      this.refused.inc({ reason: refusal.reason });
      req.resume();
      return sendJson(res, refusal.status, { error: refusal.message }, { connection: 'close' });
    }
    if (!route) {
      if (matching.length > 0)
        return sendJson(
          res,
          405,
          { error: `method ${req.method} not allowed on ${url.pathname}` },
          { allow: [...new Set(matching.map((r) => r.method))].join(', ') },
        );
      return sendJson(res, 404, { error: `no route for ${url.pathname}` });
    }
    try {
      await route.handler(req, res, url);
    } catch (err) {
      if (err instanceof HttpError) {
        if (!res.headersSent) sendJson(res, err.status, { error: err.message }, err.headers);
        else res.destroy();
        return;
      }
      this.opts.log.error('request failed', { path: url.pathname, error: errorMessage(err) });
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    }
  }

  async start(): Promise<void> {
    const { host, port } = parseListen(this.opts.listen);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  address(): string {
    const a = this.server.address() as AddressInfo;
    return `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  async forceFlush(): Promise<void> {}

  shutdown = once(async () => {
    this.readyFlag = false;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  });
}
