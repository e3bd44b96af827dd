// The model servers behind the proxy: one keep-alive connection pool each, an optional bound on
// requests in flight with a bounded waiting line, and the routing of a request to one of them.
import { nodeOfUrl } from '../../collector/core/node-name.ts';
import path from 'node:path';
import { Pool } from 'undici';
import { LlmeterError } from '../../collector/core/errors.ts';
import { readKeyFile } from '../../collector/core/security/keys.ts';
import type { UpstreamConfig } from './config.ts';

/** The upstream's waiting line is full: answered 503 at once. */
export class QueueFullError extends LlmeterError {
  constructor(message: string) {
    super(message, 'queue_full');
  }
}

/** No slot of the upstream came free in time: answered 503. */
export class QueueTimeoutError extends LlmeterError {
  constructor(message: string) {
    super(message, 'queue_timeout');
  }
}

/** Requests in flight to one upstream, with a FIFO of bounded length for those that must wait. */
export class ConcurrencyGate {
  private readonly max: number;
  private readonly maxQueue: number;
  private readonly timeoutMs: number;
  private active = 0;
  private readonly waiting: { grant: () => void; fail: (e: Error) => void }[] = [];

  constructor(max: number, maxQueue: number, timeoutMs: number) {
    this.max = max;
    this.maxQueue = maxQueue;
    this.timeoutMs = timeoutMs;
  }

  tryAcquire(): boolean {
    if (this.max > 0 && (this.active >= this.max || this.waiting.length > 0)) return false;
    this.active++;
    return true;
  }

  /** Waits for a slot; rejects with QueueFullError at once or QueueTimeoutError later. */
  wait(signal: AbortSignal): Promise<void> {
    if (this.waiting.length >= this.maxQueue) return Promise.reject(new QueueFullError(`${this.waiting.length} requests already waiting`));
    return new Promise<void>((resolve, reject) => {
      const entry = {
        grant: () => {
          cleanup();
          this.active++;
          resolve();
        },
        fail: (e: Error) => {
          cleanup();
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.remove(entry);
        entry.fail(new QueueTimeoutError(`no upstream slot within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      timer.unref();
      const onAbort = () => {
        this.remove(entry);
        entry.fail(new Error('client went away while queued'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const cleanup = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      this.waiting.push(entry);
    });
  }

  release(): void {
    this.active--;
    const next = this.waiting.shift();
    if (next) next.grant();
  }

  private remove(entry: { grant: () => void }): void {
    const i = this.waiting.indexOf(entry as (typeof this.waiting)[number]);
    if (i !== -1) this.waiting.splice(i, 1);
  }
}

export class Upstream {
  readonly name: string;
  readonly kind: UpstreamConfig['kind'];
  readonly node: string;
  /** The response header naming the node that answered (lower case), when a pool sits behind this upstream. */
  readonly nodeHeader: string | undefined;
  readonly origin: string;
  /** Path prefix of the base URL (for upstreams mounted under a path), without a trailing slash. */
  readonly basePath: string;
  readonly pool: Pool;
  readonly gate: ConcurrencyGate;
  /** `Bearer <key>` the upstream expects, or undefined to send none. */
  readonly authorization: string | undefined;
  readonly cfg: UpstreamConfig;
  private readonly patterns: RegExp[];

  constructor(cfg: UpstreamConfig, timeouts: { headersMs: number; bodyMs: number }, cwd: string) {
    this.cfg = cfg;
    this.name = cfg.name;
    this.kind = cfg.kind;
    const url = new URL(cfg.url);
    this.node = cfg.node || nodeOfUrl(url);
    this.nodeHeader = cfg.node_header?.toLowerCase();
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.pool = new Pool(this.origin, {
      connections: cfg.connections,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      headersTimeout: timeouts.headersMs,
      bodyTimeout: timeouts.bodyMs,
      pipelining: 1,
    });
    this.gate = new ConcurrencyGate(cfg.max_concurrent, cfg.max_queue, cfg.queue_timeout_ms);
    this.authorization = cfg.api_key_file ? `Bearer ${readKeyFile(path.resolve(cwd, cfg.api_key_file))}` : undefined;
    this.patterns = cfg.models.map(globToRegExp);
  }

  claims(model: string): boolean {
    if (this.patterns.length === 0 || !model) return false;
    const bare = model.endsWith(':latest') ? model.slice(0, -7) : model;
    return this.patterns.some((p) => p.test(model) || p.test(bare));
  }

  servesPath(pathname: string): boolean {
    return this.cfg.paths.some((p) => pathname.startsWith(p));
  }

  get catchAll(): boolean {
    return this.patterns.length === 0;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}

function globToRegExp(glob: string): RegExp {
  const re = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${re}$`);
}

/**
 * Picks the upstream for a request: the first whose `models` claim the model named in the body;
 * else the first whose `paths` match; else the first that claims no models (a catch-all).
 */
export class Router {
  readonly upstreams: readonly Upstream[];
  private readonly catchAll: Upstream | undefined;

  constructor(upstreams: readonly Upstream[]) {
    this.upstreams = upstreams;
    this.catchAll = upstreams.find((u) => u.catchAll);
  }

  /**
   * The upstream for a request: by model, then by path, then the catch-all. Among the upstreams that
   * claim the model, one that is `avoid`ed (a draining node) is passed over while another can serve.
   */
  route(pathname: string, model: string, avoid?: (u: Upstream) => boolean): Upstream | undefined {
    if (this.upstreams.length === 1) return this.upstreams[0];
    if (model) {
      let first: Upstream | undefined;
      for (const u of this.upstreams) {
        if (!u.claims(model)) continue;
        if (!avoid || !avoid(u)) return u;
        first ??= u;
      }
      if (first) return first;
    }
    for (const u of this.upstreams) if (u.servesPath(pathname)) return u;
    return this.catchAll;
  }
}
