// What KEDA scales on, per tier (a pool of proxy upstreams) and model: requests in flight, waiting
// (including those held while the pool wakes from zero), request rate, output tokens per second,
// seconds since the last request, nodes draining after an interruption notice, and whether the pool
// should be up at all — from the proxy's live state; vLLM KV-cache usage and GPU utilisation from the
// scrapers' latest pages; spot and on-demand prices from the price syncs. Load changes arrive from
// the proxy as they happen; time-driven changes (idle timeouts, the end of a drain, the rate window)
// on each evaluation tick; scraped values and prices are read when a signal is asked for. Idle time
// counts from the last moment a request was waiting or in flight (a request's end, not its arrival),
// and after a restart from the newest request the store holds (history.ts), never from start-up.
import { Gauge, type Registry } from 'prom-client';
import type { LivePrices } from '../../../exporters/prices/live.ts';
import type { ProxyState } from '../../../exporters/proxy/state.ts';
import type { LiveReading, LiveScrape, LiveTarget } from '../../../exporters/scrape/live.ts';
import type { AutoscaleConfig, TierConfig } from './config.ts';
import { MetricUnavailable } from './errors.ts';
import type { Activity } from './history.ts';
import { priceMetric, type PriceMetric } from './pricing.ts';
import { freshMean } from './scraped.ts';

export const SCALER_METRICS = [
  'load',
  'inflight',
  'queued',
  'held',
  'request_rate',
  'tokens_per_second',
  'idle_seconds',
  'draining',
  'interruptions_pending',
  'active',
  'kv_cache_usage',
  'gpu_utilization',
  'spot_price',
  'on_demand_price',
  'spot_discount',
] as const;
export type ScalerMetric = (typeof SCALER_METRICS)[number];

export function isScalerMetric(s: string): s is ScalerMetric {
  return (SCALER_METRICS as readonly string[]).includes(s);
}

/** Node-level quantities: one value per tier, no per-model view. */
export const TIER_ONLY: ReadonlySet<ScalerMetric> = new Set(['gpu_utilization', 'spot_price', 'on_demand_price', 'spot_discount', 'interruptions_pending']);
/** ScalerMetrics that need the tier's `pricing`. */
export const PRICE_METRICS: ReadonlySet<ScalerMetric> = new Set(['spot_price', 'on_demand_price', 'spot_discount']);

function isPriceMetric(s: ScalerMetric): s is PriceMetric {
  return PRICE_METRICS.has(s);
}

/** A tier, or one model within it (model ''). */
export interface MetricQuery {
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
  /** host:port of the upstream URL: a vLLM scrape target on the same one is this upstream's server. */
  origin?: string;
}

/** A notice that announces a node will go away (counted by interruptions_pending until then). */
export interface PendingNotice {
  node: string;
  /** When the node goes (epoch ms). */
  until: number;
}

export interface ScalerMetricsOptions {
  config: AutoscaleConfig;
  state: ProxyState;
  upstreams: readonly UpstreamInfo[];
  registry: Registry;
  /** Resolved lazily: the proxy builds its activation hold after this may be built. */
  held?: () => HeldSource | undefined;
  /** Latest scraped vLLM and DCGM readings (kv_cache_usage, gpu_utilization). */
  scraped?: LiveScrape;
  /** Current prices from the price syncs (spot_price, on_demand_price, spot_discount). */
  prices?: LivePrices;
  now?: () => number;
}

type TierListener = (tier: string) => void;

const REQUESTS_METRIC = 'llmeter_proxy_requests_total';
const TOKENS_METRIC = 'llmeter_proxy_tokens_total';

interface Sample {
  at: number;
  /** Counter totals per upstream\0model. */
  requests: Map<string, number>;
  outputTokens: Map<string, number>;
}

function bare(model: string): string {
  return model.endsWith(':latest') ? model.slice(0, -7) : model;
}

export class ScalerMetrics {
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
  /** node → epoch ms its pending interruption takes effect */
  private readonly pending = new Map<string, number>();
  /** origin (host:port) and node → tiers with an upstream there, for matching vLLM targets */
  private readonly originTiers = new Map<string, Set<string>>();
  private readonly nodeTiers = new Map<string, Set<string>>();
  private readonly scraped: LiveScrape | undefined;
  private readonly prices: LivePrices | undefined;
  private readonly listeners = new Set<TierListener>();
  private readonly startedAt: number;
  /**
   * upstream\0model → epoch ms of the last change in its requests waiting or in flight (a request
   * held, forwarded or ended), or of the end of its newest stored request (remember()).
   */
  private readonly lastActive = new Map<string, number>();
  /** Samples of the proxy's counters, oldest first, for the rate window. */
  private samples: Sample[] = [];
  private readonly unsubscribe: () => void;
  readonly gauges: Gauge<'tier' | 'model'>[] = [];

  constructor(o: ScalerMetricsOptions) {
    this.cfg = o.config;
    this.state = o.state;
    this.registry = o.registry;
    this.now = o.now ?? Date.now;
    this.heldSource = o.held ?? (() => undefined);
    this.scraped = o.scraped;
    this.prices = o.prices;
    this.startedAt = this.now();
    const originOf = new Map<string, string>();
    for (const u of o.upstreams) {
      this.nodeOf.set(u.name, u.node);
      if (u.origin) originOf.set(u.name, u.origin);
    }
    const add = (m: Map<string, Set<string>>, k: string, tier: string) => {
      let set = m.get(k);
      if (!set) m.set(k, (set = new Set()));
      set.add(tier);
    };
    for (const t of o.config.tiers) {
      if (this.tiers.has(t.name)) throw new Error(`autoscale: tier '${t.name}' is configured twice`);
      this.tiers.set(t.name, t);
      for (const u of t.upstreams) {
        if (!this.nodeOf.has(u)) throw new Error(`autoscale: tier '${t.name}' names upstream '${u}', which proxy.upstreams does not have`);
        const other = this.tierOf.get(u);
        if (other) throw new Error(`autoscale: upstream '${u}' is in tiers '${other}' and '${t.name}'`);
        this.tierOf.set(u, t.name);
        add(this.nodeTiers, this.nodeOf.get(u)!, t.name);
        const origin = originOf.get(u);
        if (origin) add(this.originTiers, origin, t.name);
      }
    }
    this.unsubscribe = this.state.onChange((upstream, model) => {
      const tier = this.tierOf.get(upstream);
      if (tier === undefined) return;
      // Every change is work the pool did just now: a request ending counts as much as one arriving.
      this.lastActive.set(upstream + '\u0000' + model, this.now());
      this.emit(tier);
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

  /** Takes the ends of requests served before this collector started (the store's), keeping whatever is newer. */
  remember(activity: readonly Activity[]): void {
    const tiers = new Set<string>();
    for (const a of activity) {
      const tier = this.tierOf.get(a.upstream);
      if (tier === undefined) continue;
      const k = a.upstream + '\u0000' + a.model;
      if (a.at > (this.lastActive.get(k) ?? 0)) this.lastActive.set(k, a.at);
      tiers.add(tier);
    }
    for (const t of tiers) this.emit(t);
  }

  /** Epoch ms of the last work for the upstreams (and model); undefined when none is known. */
  private lastWork(ups: readonly string[], want: string | undefined): number | undefined {
    let last: number | undefined;
    for (const [k, at] of this.lastActive) {
      const i = k.indexOf('\u0000');
      if (!ups.includes(k.slice(0, i)) || (want !== undefined && bare(k.slice(i + 1)) !== want)) continue;
      if (last === undefined || at > last) last = at;
    }
    return last;
  }

  /** Models seen in a tier (as the proxy labels them). */
  models(tier: string): string[] {
    const out = new Set<string>();
    for (const c of this.state.snapshot()) if (this.tierOf.get(c.upstream) === tier && c.model !== '') out.add(c.model);
    return [...out].sort();
  }

  /** Models the tier's vLLM servers report (model_name), whether or not traffic named them yet. */
  servedModels(tier: string): string[] {
    const out = new Set<string>();
    if (!this.scraped) return [];
    for (const r of this.scraped.of('vllm')) {
      const t = this.scraped.target(r.target);
      if (t && r.model !== '' && this.servesTier(r, t, tier)) out.add(r.model);
    }
    return [...out].sort();
  }

  /**
   * Whether a vLLM reading comes from a server of the tier: its target has the host:port of one of
   * the tier's upstreams (vLLM serves its API and /metrics on one port); failing any such match in
   * any tier, its node is the node of one of the tier's upstreams.
   */
  private servesTier(r: LiveReading, t: LiveTarget, tier: string): boolean {
    const byOrigin = this.originTiers.get(t.origin);
    if (byOrigin) return byOrigin.has(tier);
    return this.nodeTiers.get(r.node)?.has(tier) ?? false;
  }

  private nodesOf(tier: string): Set<string> {
    const out = new Set<string>();
    for (const u of this.upstreamsOf(tier)) out.add(this.nodeOf.get(u)!);
    return out;
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

  /** Records a notice that the node will go away at `untilMs` (interruptions_pending counts it until then). */
  notice(n: PendingNotice): void {
    const tiers = this.nodeTiers.get(n.node);
    if (!tiers) return;
    this.pending.set(n.node, Math.max(n.until, this.pending.get(n.node) ?? 0));
    for (const t of tiers) this.emit(t);
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

  /**
   * The signal's current value for a tier (or a model within it). Throws MetricUnavailable when its
   * source is not configured or has no fresh data; node-level signals ignore the model.
   */
  value(q: MetricQuery, signal: ScalerMetric): number {
    const ups = this.upstreamsOf(q.tier);
    const now = this.now();
    const want = q.model === '' ? undefined : bare(q.model);
    if (isPriceMetric(signal)) return this.price(q.tier, signal, now);
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
        return this.rate(ups, want, (s) => s.requests);
      case 'tokens_per_second':
        return this.rate(ups, want, (s) => s.outputTokens);
      case 'idle_seconds':
        // With no request known at all (none stored, none since), the time since start-up: the
        // tier is then inactive all the same (active()).
        return Math.max(0, (now - (this.lastWork(ups, want) ?? this.startedAt)) / 1000);
      case 'draining':
        return ups.filter((u) => this.isDraining(u, now)).length;
      case 'interruptions_pending': {
        let n = 0;
        for (const node of this.nodesOf(q.tier)) if ((this.pending.get(node) ?? 0) > now) n++;
        return n;
      }
      case 'active':
        return this.active(q) ? 1 : 0;
      case 'kv_cache_usage': {
        if (!this.scraped) throw new MetricUnavailable(signal, q.tier, 'this collector runs no scrapers (scrape.enabled with vLLM targets)');
        return freshMean(this.scraped, 'vllm', {
          signal,
          tier: q.tier,
          keep: (r, t) => this.servesTier(r, t, q.tier) && (want === undefined || bare(r.model) === want),
          staleAfterMs: this.cfg.stale_after_ms,
          now,
          looking: `vllm:kv_cache_usage_perc of the tier's servers${want === undefined ? '' : ` for model '${q.model}'`} (targets on the host:port or node of upstreams ${ups.join(', ')})`,
        });
      }
      case 'gpu_utilization': {
        if (!this.scraped) throw new MetricUnavailable(signal, q.tier, 'this collector runs no scrapers (scrape.enabled with dcgm targets)');
        const nodes = this.nodesOf(q.tier);
        return freshMean(this.scraped, 'dcgm', {
          signal,
          tier: q.tier,
          keep: (r) => nodes.has(r.node),
          staleAfterMs: this.cfg.stale_after_ms,
          now,
          looking: `GPUs on the tier's nodes (${[...nodes].join(', ')})`,
        });
      }
      default: {
        // Every signal has its case: a new one without it fails to compile here.
        const missing: never = signal;
        throw new Error(`signal ${String(missing)} is not computed`);
      }
    }
  }

  private price(tier: string, signal: PriceMetric, now: number): number {
    const pricing = this.tiers.get(tier)?.pricing;
    if (!pricing) throw new MetricUnavailable(signal, tier, 'the tier has no `pricing` (instance type, region) configured');
    if (!this.prices) throw new MetricUnavailable(signal, tier, 'this collector runs no price syncs (prices.enabled)');
    return priceMetric(this.prices, { signal, tier, pricing, staleAfterMs: this.cfg.price_stale_after_ms, now });
  }

  /**
   * Whether the tier (or model) needs its pool up: anything in flight or waiting, or work that ended
   * within the idle period. A tier with no request known is not active: starting the collector
   * wakes no pool.
   */
  active(q: MetricQuery): boolean {
    const t = this.tiers.get(q.tier);
    if (!t) return false;
    if (this.value(q, 'load') > 0) return true;
    const last = this.lastWork(this.upstreamsOf(q.tier), q.model === '' ? undefined : bare(q.model));
    return last !== undefined && (this.now() - last) / 1000 < t.idle_seconds;
  }

  private rate(ups: string[], model: string | undefined, counter: (s: Sample) => Map<string, number>): number {
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
    return Math.max(0, sum(counter(last)) - sum(counter(first))) / ((last.at - first.at) / 1000);
  }

  /** Totals of one of the proxy's counters per upstream\0model, over the tiers' upstreams. */
  private async totals(name: string, keep: (labels: Record<string, string | number | undefined>) => boolean = () => true): Promise<Map<string, number>> {
    const totals = new Map<string, number>();
    const metric = this.registry.getSingleMetric(name);
    if (!metric) return totals;
    const data = await metric.get();
    for (const v of data.values) {
      const up = String(v.labels.upstream ?? '');
      if (!this.tierOf.has(up) || !keep(v.labels)) continue;
      const k = up + '\u0000' + String(v.labels.model ?? '');
      totals.set(k, (totals.get(k) ?? 0) + v.value);
    }
    return totals;
  }

  /** Samples counters, ends drains, and tells listeners about every tier (time moves for all). */
  async tick(): Promise<void> {
    const now = this.now();
    const requests = await this.totals(REQUESTS_METRIC);
    const outputTokens = await this.totals(TOKENS_METRIC, (l) => l.kind === 'output');
    this.samples.push({ at: now, requests, outputTokens });
    const horizon = now - this.cfg.rate_window_s * 1000;
    while (this.samples.length > 2 && this.samples[1]!.at <= horizon) this.samples.shift();
    for (const [node, until] of this.draining) if (until <= now) this.draining.delete(node);
    for (const [node, until] of this.pending) if (until <= now) this.pending.delete(node);
    for (const t of this.tiers.keys()) this.emit(t);
  }

  private emit(tier: string): void {
    for (const l of this.listeners) l(tier);
  }

  private registerGauges(registry: Registry): void {
    const help: Record<ScalerMetric, string> = {
      load: 'Requests in flight plus waiting in the proxy (KEDA target: load per replica).',
      inflight: "Requests in flight to the tier's upstreams.",
      queued: 'Requests waiting in the proxy for the tier (including those held while it wakes from zero).',
      held: "Requests held while the tier's pool wakes from zero.",
      request_rate: 'Completed requests per second over the rate window.',
      tokens_per_second: 'Output tokens per second the proxy metered over the rate window (counted when each request finishes).',
      idle_seconds: 'Seconds since the tier (or model) last had a request waiting or in flight (since start-up when no request is known).',
      draining: 'Upstreams of the tier on nodes with a pending interruption notice.',
      interruptions_pending: 'Nodes of the tier with an interruption, preemption, rebalance or maintenance notice whose time has not come.',
      active: '1 while the tier should be up (load, or a request that ended within its idle period), else 0.',
      kv_cache_usage: "Mean vLLM KV-cache usage (0..1) over the tier's fresh server readings; absent when none.",
      gpu_utilization: "Mean GPU (or MIG slice) utilisation (0..1) over the tier's nodes' fresh DCGM readings; absent when none.",
      spot_price: "Spot price of the tier's instance type (USD per hour); absent when unknown or stale.",
      on_demand_price: "On-demand price of the tier's instance type (USD per hour); absent when unknown or stale.",
      spot_discount: "1 - spot / on-demand price of the tier's instance type; absent when either is unknown or stale.",
    };
    const set = (g: Gauge<'tier' | 'model'>, s: ScalerMetric, tier: string, model: string) => {
      try {
        g.set({ tier, model: model || '*' }, this.value({ tier, model }, s));
      } catch (err) {
        // No series rather than a zero KEDA would scale on; the scaler says why.
        if (!(err instanceof MetricUnavailable)) throw err;
      }
    };
    for (const s of SCALER_METRICS) {
      const g: Gauge<'tier' | 'model'> = new Gauge({
        name: `llmeter_autoscale_${s}`,
        help: `${help[s]} model="*" is the whole tier: one series per tier for a ScaledObject query.`,
        labelNames: ['tier', 'model'],
        registers: [registry],
        collect: () => {
          g.reset();
          for (const tier of this.tiers.keys()) {
            if (PRICE_METRICS.has(s) && !this.tiers.get(tier)!.pricing) continue;
            set(g, s, tier, '');
            if (TIER_ONLY.has(s)) continue;
            const models = s === 'kv_cache_usage' ? new Set([...this.models(tier), ...this.servedModels(tier)]) : this.models(tier);
            for (const model of models) set(g, s, tier, model);
          }
        },
      });
      this.gauges.push(g);
    }
  }
}
