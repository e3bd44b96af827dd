// What KEDA scales on, per tier (a pool of proxy upstreams) and model: requests in flight, waiting
// (including those held while the pool wakes from zero), request rate, seconds since the last
// request, nodes draining after an interruption notice, and whether the pool should be up at all.
// Load changes arrive from the proxy's live state as they happen; time-driven changes (idle
// timeouts, the end of a drain, the rate window) on each evaluation tick.
import { Gauge, type Registry } from 'prom-client';
import type { ProxyState } from '../../exporters/proxy/state.ts';
import type { AutoscaleConfig, TierConfig } from './config.ts';

export const SIGNALS = ['load', 'inflight', 'queued', 'held', 'request_rate', 'idle_seconds', 'draining', 'active'] as const;
export type Signal = (typeof SIGNALS)[number];

export function isSignal(s: string): s is Signal {
  return (SIGNALS as readonly string[]).includes(s);
}

/** A tier, or one model within it (model ''). */
export interface SignalQuery {
  tier: string;
  model: string;
}

/** Requests held in the proxy while a pool wakes (a subset of `queued`). */
export interface HeldSource {
  held(upstream?: string, model?: string): number;
}

export interface UpstreamInfo {
  name: string;
  node: string;
}

export interface SignalsOptions {
  config: AutoscaleConfig;
  state: ProxyState;
  upstreams: readonly UpstreamInfo[];
  registry: Registry;
  /** Resolved lazily: the proxy builds its activation hold after this may be built. */
  held?: () => HeldSource | undefined;
  now?: () => number;
}

type TierListener = (tier: string) => void;

const REQUESTS_METRIC = 'llmeter_proxy_requests_total';

function bare(model: string): string {
  return model.endsWith(':latest') ? model.slice(0, -7) : model;
}

export class Signals {
  private readonly cfg: AutoscaleConfig;
  private readonly state: ProxyState;
  private readonly registry: Registry;
  private readonly now: () => number;
  private readonly heldSource: () => HeldSource | undefined;
  private readonly tiers = new Map<string, TierConfig>();
  /** upstream name → tier name */
  private readonly tierOf = new Map<string, string>();
  private readonly nodeOf = new Map<string, string>();
  /** node → epoch ms its drain ends */
  private readonly draining = new Map<string, number>();
  private readonly listeners = new Set<TierListener>();
  private readonly startedAt: number;
  /** Samples of the requests counter per upstream\0model, oldest first, for the rate window. */
  private samples: { at: number; totals: Map<string, number> }[] = [];
  private readonly unsubscribe: () => void;
  readonly gauges: Gauge<'tier' | 'model'>[] = [];

  constructor(o: SignalsOptions) {
    this.cfg = o.config;
    this.state = o.state;
    this.registry = o.registry;
    this.now = o.now ?? Date.now;
    this.heldSource = o.held ?? (() => undefined);
    this.startedAt = this.now();
    for (const u of o.upstreams) this.nodeOf.set(u.name, u.node);
    for (const t of o.config.tiers) {
      if (this.tiers.has(t.name)) throw new Error(`autoscale: tier '${t.name}' is configured twice`);
      this.tiers.set(t.name, t);
      for (const u of t.upstreams) {
        if (!this.nodeOf.has(u)) throw new Error(`autoscale: tier '${t.name}' names upstream '${u}', which proxy.upstreams does not have`);
        const other = this.tierOf.get(u);
        if (other) throw new Error(`autoscale: upstream '${u}' is in tiers '${other}' and '${t.name}'`);
        this.tierOf.set(u, t.name);
      }
    }
    this.unsubscribe = this.state.onChange((upstream) => {
      const tier = this.tierOf.get(upstream);
      if (tier !== undefined) this.emit(tier);
    });
    this.registerGauges(o.registry);
  }

  tierNames(): string[] {
    return [...this.tiers.keys()];
  }

  hasTier(name: string): boolean {
    return this.tiers.has(name);
  }

  tier(name: string): TierConfig | undefined {
    return this.tiers.get(name);
  }

  /** Called with a tier's name whenever one of its signals may have changed. */
  onChange(listener: TierListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.unsubscribe();
    this.listeners.clear();
  }

  /** Models seen in a tier (as the proxy labels them). */
  models(tier: string): string[] {
    const out = new Set<string>();
    for (const c of this.state.snapshot()) if (this.tierOf.get(c.upstream) === tier && c.model !== '') out.add(c.model);
    return [...out].sort();
  }

  // --- interruption notices ---------------------------------------------------------------------

  /** Marks a node draining until `untilMs` (upstreams on it count as draining in their tier). */
  drain(node: string, untilMs: number): string[] {
    const affected = [...this.nodeOf].filter(([, n]) => n === node).map(([u]) => u);
    if (affected.length === 0) return [];
    this.draining.set(node, Math.max(untilMs, this.draining.get(node) ?? 0));
    // The proxy passes over draining upstreams for new requests wherever another one serves the model.
    for (const u of affected) this.state.drainUntil(u, untilMs);
    const tiers = new Set(affected.map((u) => this.tierOf.get(u)).filter((t): t is string => t !== undefined));
    for (const t of tiers) this.emit(t);
    return affected;
  }

  /** Whether the upstream runs on a node with a pending interruption. */
  isDraining(upstream: string, at = this.now()): boolean {
    const node = this.nodeOf.get(upstream);
    if (node === undefined) return false;
    const until = this.draining.get(node);
    return until !== undefined && until > at;
  }

  // --- values -----------------------------------------------------------------------------------

  private upstreamsOf(tier: string): string[] {
    return this.tiers.get(tier)?.upstreams ?? [];
  }

  value(q: SignalQuery, signal: Signal): number {
    const ups = this.upstreamsOf(q.tier);
    const now = this.now();
    const want = q.model === '' ? undefined : bare(q.model);
    const cells = this.state.snapshot().filter((c) => ups.includes(c.upstream) && (want === undefined || bare(c.model) === want));
    switch (signal) {
      case 'inflight':
        return cells.reduce((n, c) => n + c.inflight, 0);
      case 'queued':
        return cells.reduce((n, c) => n + c.queued, 0);
      case 'load':
        return cells.reduce((n, c) => n + c.inflight + c.queued, 0);
      case 'held': {
        const h = this.heldSource();
        if (!h) return 0;
        if (want === undefined) return ups.reduce((n, u) => n + h.held(u), 0);
        return cells.reduce((n, c) => n + h.held(c.upstream, c.model), 0);
      }
      case 'request_rate':
        return this.rate(ups, want);
      case 'idle_seconds': {
        const last = cells.reduce((m, c) => Math.max(m, c.lastRequestAt), this.startedAt);
        return Math.max(0, (now - last) / 1000);
      }
      case 'draining':
        return ups.filter((u) => this.isDraining(u, now)).length;
      case 'active':
        return this.active(q) ? 1 : 0;
    }
  }

  /** Whether the tier (or model) needs its pool up: anything in flight or waiting, or a request within the idle period. */
  active(q: SignalQuery): boolean {
    const t = this.tiers.get(q.tier);
    if (!t) return false;
    if (this.value(q, 'load') > 0) return true;
    return this.value(q, 'idle_seconds') < t.idle_seconds;
  }

  private rate(ups: string[], model: string | undefined): number {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at <= first.at) return 0;
    const sum = (m: Map<string, number>) => {
      let n = 0;
      for (const [k, v] of m) {
        const i = k.indexOf('\u0000');
        if (ups.includes(k.slice(0, i)) && (model === undefined || bare(k.slice(i + 1)) === model)) n += v;
      }
      return n;
    };
    return Math.max(0, sum(last.totals) - sum(first.totals)) / ((last.at - first.at) / 1000);
  }

  /** Samples counters, ends drains, and tells listeners about every tier (time moves for all). */
  async tick(): Promise<void> {
    const now = this.now();
    const totals = new Map<string, number>();
    const metric = this.registry.getSingleMetric(REQUESTS_METRIC);
    if (metric) {
      const data = await metric.get();
      for (const v of data.values) {
        const up = String(v.labels.upstream ?? '');
        if (!this.tierOf.has(up)) continue;
        const k = up + '\u0000' + String(v.labels.model ?? '');
        totals.set(k, (totals.get(k) ?? 0) + v.value);
      }
    }
    this.samples.push({ at: now, totals });
    const horizon = now - this.cfg.rate_window_s * 1000;
    while (this.samples.length > 2 && this.samples[1]!.at <= horizon) this.samples.shift();
    for (const [node, until] of this.draining) if (until <= now) this.draining.delete(node);
    for (const t of this.tiers.keys()) this.emit(t);
  }

  private emit(tier: string): void {
    for (const l of this.listeners) l(tier);
  }

  private registerGauges(registry: Registry): void {
    const help: Record<Signal, string> = {
      load: 'Requests in flight plus waiting in the proxy (KEDA target: load per replica).',
      inflight: 'Requests in flight to the tier\'s upstreams.',
      queued: 'Requests waiting in the proxy for the tier (including those held while it wakes from zero).',
      held: 'Requests held while the tier\'s pool wakes from zero.',
      request_rate: 'Completed requests per second over the rate window.',
      idle_seconds: 'Seconds since the last request for the tier (or model).',
      draining: 'Upstreams of the tier on nodes with a pending interruption notice.',
      active: '1 while the tier should be up (load, or a request within its idle period), else 0.',
    };
    for (const s of SIGNALS) {
      const g: Gauge<'tier' | 'model'> = new Gauge({
        name: `llmeter_autoscale_${s}`,
        help: `${help[s]} model="*" is the whole tier: one series per tier for a ScaledObject query.`,
        labelNames: ['tier', 'model'],
        registers: [registry],
        collect: () => {
          g.reset();
          for (const tier of this.tiers.keys()) {
            g.set({ tier, model: '*' }, this.value({ tier, model: '' }, s));
            for (const model of this.models(tier)) g.set({ tier, model }, this.value({ tier, model }, s));
          }
        },
      });
      this.gauges.push(g);
    }
  }
}
