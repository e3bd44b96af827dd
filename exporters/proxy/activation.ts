// Scale from zero without dropping the first request. Before a request is forwarded, the proxy asks
// whether its upstream is ready. While the upstream answers (or has requests in flight) this costs
// a map lookup. When it does not — its pool is at zero, or still loading — the request is held: it
// counts as queued in ProxyState (so the KEDA external scaler pushes "active" at once through
// StreamIsActive), the upstream is probed until it answers, and the request goes on. Holds are
// bounded per upstream; past the timeout the client gets 503 with Retry-After.
import { Counter, type Registry } from 'prom-client';
import type { ActivationConfig } from './config.ts';
import type { ProxyState } from './state.ts';
import type { Upstream } from './upstreams.ts';

export type HoldResult =
  { ok: true; heldMs: number } | { ok: false; reason: 'timeout' | 'full' | 'aborted'; heldMs: number; retryAfterS: number; message: string };

/** The path each kind of server answers cheaply when it is up. */
export function probePath(up: Pick<Upstream, 'kind' | 'basePath'>): string {
  const p = up.kind === 'ollama' ? '/api/version' : up.kind === 'vllm' ? '/health' : '/v1/models';
  return up.basePath + p;
}

interface UpstreamWake {
  readyUntil: number;
  held: number;
  heldByModel: Map<string, number>;
  waiters: Set<() => void>;
  probing: boolean;
  timer: NodeJS.Timeout | undefined;
}

export interface ActivationOptions {
  config: ActivationConfig;
  state: ProxyState;
  /** Where the holds are counted (llmeter_proxy_activation_holds_total). */
  registry?: Registry;
  /** Probe override (tests); default: GET probePath over the upstream's own pool. */
  probe?: (up: Upstream) => Promise<boolean>;
  now?: () => number;
}

export class Activation {
  private readonly cfg: ActivationConfig;
  private readonly state: ProxyState;
  private readonly probeFn: (up: Upstream) => Promise<boolean>;
  private readonly now: () => number;
  private readonly wakes = new Map<string, UpstreamWake>();
  private readonly only: Set<string> | undefined;
  /** Holds that ended in an answer, a timeout, or a full hold (for /metrics). */
  readonly counts = { woken: 0, timeout: 0, full: 0, aborted: 0 };
  private closed = false;
  private readonly holds: Counter<'upstream' | 'outcome'> | undefined;

  constructor(o: ActivationOptions) {
    this.holds = o.registry
      ? new Counter({
          name: 'llmeter_proxy_activation_holds_total',
          help: 'Requests held while their upstream woke from zero, by outcome (woken, timeout, full, aborted).',
          labelNames: ['upstream', 'outcome'],
          registers: [o.registry],
        })
      : undefined;
    this.cfg = o.config;
    this.state = o.state;
    this.now = o.now ?? Date.now;
    this.probeFn = o.probe ?? ((up) => this.httpProbe(up));
    this.only = o.config.upstreams.length ? new Set(o.config.upstreams) : undefined;
  }

  applies(up: Upstream): boolean {
    return this.cfg.enabled && (this.only === undefined || this.only.has(up.name));
  }

  /** Requests held now, for an upstream (and model) or in all. */
  held(upstream?: string, model?: string): number {
    let n = 0;
    for (const [name, w] of this.wakes) {
      if (upstream !== undefined && name !== upstream) continue;
      n += model === undefined ? w.held : (w.heldByModel.get(model) ?? 0);
    }
    return n;
  }

  /** Marks an upstream ready (a request through it just succeeded). */
  markReady(name: string): void {
    const w = this.wakes.get(name);
    if (w) w.readyUntil = this.now() + this.cfg.ready_ttl_ms;
  }

  /**
   * Resolves when the request may be forwarded: at once while the upstream is known ready, else
   * once a probe succeeds. Never rejects.
   */
  async hold(up: Upstream, model: string, signal: AbortSignal): Promise<HoldResult> {
    if (!this.applies(up)) return { ok: true, heldMs: 0 };
    const w = this.wake(up.name);
    const t0 = this.now();
    if (w.readyUntil > t0 || this.state.inflight(up.name) > 0) return { ok: true, heldMs: 0 };
    if (w.held >= this.cfg.max_held) {
      this.counts.full++;
      this.holds?.inc({ upstream: up.name, outcome: 'full' });
      return {
        ok: false,
        reason: 'full',
        heldMs: 0,
        retryAfterS: this.cfg.retry_after_s,
        message: `upstream ${up.name} is starting and ${w.held} requests are already waiting for it`,
      };
    }
    w.held++;
    w.heldByModel.set(model, (w.heldByModel.get(model) ?? 0) + 1);
    // Counting the held request as queued is what tells the autoscaler, at once, to wake the pool
    // (before the first probe, whose answer may take a while when nothing listens).
    this.state.queueDelta(up.name, model, 1);
    try {
      const outcome = await new Promise<'ready' | 'timeout' | 'aborted'>((resolve) => {
        const ready = () => finish('ready');
        const timer = setTimeout(() => finish('timeout'), Math.max(0, this.cfg.timeout_ms - (this.now() - t0)));
        timer.unref();
        const onAbort = () => finish('aborted');
        signal.addEventListener('abort', onAbort, { once: true });
        w.waiters.add(ready);
        // Probe at once (most of the time the upstream is simply up), then on the interval.
        if (!w.probing && !w.timer) this.probeLoop(up, w);
        function finish(r: 'ready' | 'timeout' | 'aborted') {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          w.waiters.delete(ready);
          resolve(r);
        }
        if (signal.aborted) finish('aborted');
      });
      const heldMs = this.now() - t0;
      if (outcome === 'ready') {
        this.counts.woken++;
        this.holds?.inc({ upstream: up.name, outcome: 'woken' });
        return { ok: true, heldMs };
      }
      this.counts[outcome]++;
      this.holds?.inc({ upstream: up.name, outcome });
      const message =
        outcome === 'timeout'
          ? `upstream ${up.name} did not become ready within ${this.cfg.timeout_ms} ms (its pool may be scaling up from zero); retry later`
          : 'client went away while the upstream was starting';
      return { ok: false, reason: outcome, heldMs, retryAfterS: this.cfg.retry_after_s, message };
    } finally {
      w.held--;
      const m = (w.heldByModel.get(model) ?? 1) - 1;
      if (m === 0) w.heldByModel.delete(model);
      else w.heldByModel.set(model, m);
      this.state.queueDelta(up.name, model, -1);
      if (w.held === 0 && w.timer) {
        clearTimeout(w.timer);
        w.timer = undefined;
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const w of this.wakes.values()) {
      if (w.timer) clearTimeout(w.timer);
      w.timer = undefined;
    }
  }

  private wake(name: string): UpstreamWake {
    let w = this.wakes.get(name);
    if (!w) {
      w = { readyUntil: 0, held: 0, heldByModel: new Map(), waiters: new Set(), probing: false, timer: undefined };
      this.wakes.set(name, w);
    }
    return w;
  }

  private probeLoop(up: Upstream, w: UpstreamWake): void {
    void this.probeOnce(up, w).then((ok) => {
      if (ok || w.held === 0 || this.closed || w.timer) return;
      w.timer = setTimeout(() => {
        w.timer = undefined;
        if (w.held > 0 && !w.probing) this.probeLoop(up, w);
      }, this.cfg.probe_interval_ms);
      w.timer.unref();
    });
  }

  private async probeOnce(up: Upstream, w: UpstreamWake): Promise<boolean> {
    w.probing = true;
    let ok: boolean;
    try {
      ok = await this.probeFn(up);
    } catch {
      // A probe that fails is the answer "not up yet"; the held requests wait for the next one.
      ok = false;
    } finally {
      w.probing = false;
    }
    if (ok) {
      w.readyUntil = this.now() + this.cfg.ready_ttl_ms;
      for (const f of [...w.waiters]) f();
    }
    return ok;
  }

  private async httpProbe(up: Upstream): Promise<boolean> {
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), this.cfg.probe_timeout_ms);
    t.unref();
    try {
      const res = await up.pool.request({
        method: 'GET',
        path: probePath(up),
        headers: up.authorization ? { authorization: up.authorization } : {},
        signal: ac.signal,
      });
      await res.body.dump();
      return res.statusCode < 500;
    } catch {
      // Refused, reset or timed out: the pool is not up yet.
      return false;
    } finally {
      clearTimeout(t);
    }
  }
}
