// Builds the autoscaling side of a collector: signals computed from the proxy's live load, capacity
// notices, the scrapers' latest vLLM and DCGM pages and the price syncs' current prices, served as
// gauges on /metrics for KEDA's Prometheus scaler and, when enabled, over KEDA's external scaler gRPC
// contract. Needs the proxy of the same collector.
import { defineFeature, type CoreServices } from '../../core/feature.ts';
import type { BackgroundFailures } from '../../core/lifecycle/background.ts';
import { once, type Component } from '../../core/lifecycle/component.ts';
import type { Logger } from '../../core/log.ts';
import type { NoticeHub } from '../../../exporters/prices/interruptions/hub.ts';
import type { CapacityNotice } from '../../../exporters/prices/interruptions/notice.ts';
import type { LivePrices } from '../../../exporters/prices/live.ts';
import type { ProxyProvides } from '../../../exporters/proxy/index.ts';
import { originOf, type LiveScrape } from '../../../exporters/scrape/live.ts';
import { autoscaleConfigSchema, type AutoscaleConfig } from './config.ts';
import { storedActivity, type Activity } from './history.ts';
import { ExternalScalerServer } from './scaler.ts';
import { ScalerMetrics } from './scaler-metrics.ts';

export { autoscaleConfigSchema, type AutoscaleConfig } from './config.ts';
export { ExternalScalerServer } from './scaler.ts';
export { ScalerMetrics } from './scaler-metrics.ts';
export { MetricUnavailable } from './errors.ts';

/** Notices after which a node's upstreams should take no new work. */
const DRAINING_KINDS: ReadonlySet<CapacityNotice['kind']> = new Set([
  'spot_interruption',
  'preemption',
  'rebalance_recommendation',
  'scheduled_event',
  'node_down',
]);
/** Notices that announce a node going away later: the draining ones but node_down (it already has). */
const PENDING_KINDS: ReadonlySet<CapacityNotice['kind']> = new Set([...DRAINING_KINDS].filter((k) => k !== 'node_down'));

/**
 * Recomputes time-driven signals on an interval and follows capacity notices. At start it reads when
 * the tiers' upstreams last worked (`history`: the store's newest requests), before the first tick
 * and before the scaler serves anything, so a restart does not count as activity.
 */
export class ScalerMetricsTicker implements Component {
  readonly name = 'autoscale-signals';
  readonly signals: ScalerMetrics;
  private readonly everyMs: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly stops: (() => void)[] = [];

  private readonly failures: BackgroundFailures | undefined;
  private readonly history: (() => Promise<Activity[]>) | undefined;

  constructor(
    signals: ScalerMetrics,
    everyMs: number,
    subscribe: ((s: ScalerMetrics) => () => void)[] = [],
    failures?: BackgroundFailures,
    history?: () => Promise<Activity[]>,
  ) {
    this.signals = signals;
    this.everyMs = everyMs;
    this.failures = failures;
    this.history = history;
    for (const f of subscribe) this.stops.push(f(signals));
  }

  async start(): Promise<void> {
    if (this.history) {
      try {
        this.signals.remember(await this.history());
      } catch (err) {
        // The scaler still runs: tiers with no request since start-up then count as idle (inactive),
        // which at worst lets KEDA scale a pool down that the next request wakes again.
        this.failures?.report('autoscale-signals', err, 'the end of the last stored requests could not be read; tiers count as idle until their next request');
      }
    }
    await this.signals.tick();
    // A failing tick leaves KEDA reading stale signals: it is logged and counted, never swallowed.
    const failed = this.failures?.handler('autoscale-signals', 'autoscaling signals not recomputed') ?? (() => undefined);
    this.timer = setInterval(() => void this.signals.tick().catch(failed), this.everyMs);
    this.timer.unref();
  }

  async forceFlush(): Promise<void> {
    await this.signals.tick();
  }

  shutdown = once(async () => {
    clearInterval(this.timer);
    for (const s of this.stops) s();
    this.signals.close();
  });
}

/**
 * Drains the node of every notice that means it will go away, and counts it as pending until the
 * notice's action time (or drain_hold_ms after a notice without one).
 */
export function drainOnNotice(cfg: AutoscaleConfig, notices: NoticeHub, log: Logger): (s: ScalerMetrics) => () => void {
  return (signals) =>
    notices.onNotice((n) => {
      if (!DRAINING_KINDS.has(n.kind)) return;
      const timed = n.actionAt !== null && n.actionAt > n.ts;
      if (PENDING_KINDS.has(n.kind)) signals.notice({ node: n.node, until: timed ? n.actionAt! : n.ts + cfg.drain_hold_ms });
      const until = timed ? n.actionAt! + 60_000 : n.ts + cfg.drain_hold_ms;
      const ups = signals.drain(n.node, until);
      if (ups.length) log.warn('node draining after capacity notice', { node: n.node, kind: n.kind, upstreams: ups, until: new Date(until).toISOString() });
    });
}

export interface AutoscaleNeeds {
  /** The proxy of this collector (its live load, its hold, its upstreams); required when autoscaling is on. */
  proxy: ProxyProvides | undefined;
  /** The scrapers' newest vLLM and DCGM pages. */
  scraped: LiveScrape;
  /** The price syncs' current prices. */
  prices: LivePrices;
  /** Capacity notices: a node about to go away is drained. */
  notices: NoticeHub;
}

export function buildAutoscale(core: CoreServices, config: AutoscaleConfig, needs: AutoscaleNeeds): Component[] {
  if (!config.enabled) return [];
  const proxy = needs.proxy;
  if (!proxy) throw new Error('autoscale: needs the metering proxy (proxy.enabled: true) in the same collector');
  const log = core.log.child('autoscale');
  const upstreams = proxy.upstreams.map((u) => ({ name: u.name, node: u.node || new URL(u.url).hostname, origin: originOf(u.url) }));
  const signals = new ScalerMetrics({
    config,
    state: proxy.state,
    upstreams,
    registry: core.registry,
    held: () => proxy.activation,
    scraped: needs.scraped,
    prices: needs.prices,
  });
  // A day past the longest idle period: an older request leaves its tier inactive anyway, and the
  // scan at start-up stays small on a large store.
  const lookbackS = Math.max(0, ...config.tiers.map((t) => t.idle_seconds)) + 86_400;
  const inTiers = new Set(config.tiers.flatMap((t) => t.upstreams));
  const history = () => storedActivity(core.store, { upstreams: upstreams.filter((u) => inTiers.has(u.name)), lookbackS, now: Date.now() });
  const out: Component[] = [new ScalerMetricsTicker(signals, config.evaluate_ms, [drainOnNotice(config, needs.notices, log)], core.failures, history)];
  if (config.scaler.enabled)
    out.push(new ExternalScalerServer({ listen: config.scaler.listen, signals, registry: core.registry, log, maxStreams: config.scaler.max_streams }));
  return out;
}

export const autoscaleFeature = defineFeature({
  name: 'autoscale',
  section: 'autoscale',
  schema: autoscaleConfigSchema,
  needs: ['proxy', 'scrape', 'prices'],
  create: (core, config, needs: AutoscaleNeeds) => ({ components: buildAutoscale(core, config, needs), provides: undefined }),
});
