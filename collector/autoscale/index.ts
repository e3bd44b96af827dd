// Builds the autoscaling side of a collector: signals computed from the proxy's live load, capacity
// notices, the scrapers' latest vLLM and DCGM pages and the price syncs' current prices, served as
// gauges on /metrics for KEDA's Prometheus scaler and, when enabled, over KEDA's external scaler gRPC
// contract. Needs the proxy of the same collector.
import { once, type Component } from '../lifecycle/component.ts';
import type { ComponentFactory, RuntimeContext } from '../runtime.ts';
import { livePricesFor } from '../../exporters/prices/live.ts';
import { activationFor } from '../../exporters/proxy/activation.ts';
import { proxyStateFor } from '../../exporters/proxy/index.ts';
import { liveScrapeFor, originOf } from '../../exporters/scrape/live.ts';
import { noticeHub } from '../../exporters/spot/index.ts';
import type { CapacityNotice } from '../../exporters/spot/notice.ts';
import type { AutoscaleConfig } from './config.ts';
import { ExternalScalerServer } from './scaler.ts';
import { Signals } from './signals.ts';

export { autoscaleConfigSchema, type AutoscaleConfig } from './config.ts';
export { ExternalScalerServer } from './scaler.ts';
export { Signals } from './signals.ts';
export { SignalUnavailable } from './errors.ts';

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

/** Recomputes time-driven signals on an interval and follows capacity notices. */
export class AutoscaleSignals implements Component {
  readonly name = 'autoscale-signals';
  readonly signals: Signals;
  private readonly everyMs: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly stops: (() => void)[] = [];

  constructor(signals: Signals, everyMs: number, subscribe: ((s: Signals) => () => void)[] = []) {
    this.signals = signals;
    this.everyMs = everyMs;
    for (const f of subscribe) this.stops.push(f(signals));
  }

  async start(): Promise<void> {
    await this.signals.tick();
    this.timer = setInterval(() => void this.signals.tick().catch(() => {}), this.everyMs);
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
export function drainOnNotice(cfg: AutoscaleConfig, ctx: Pick<RuntimeContext, 'config' | 'sink' | 'registry' | 'log'>): (s: Signals) => () => void {
  return (signals) =>
    noticeHub(ctx).onNotice((n) => {
      if (!DRAINING_KINDS.has(n.kind)) return;
      const timed = n.actionAt !== null && n.actionAt > n.ts;
      if (PENDING_KINDS.has(n.kind)) signals.notice({ node: n.node, until: timed ? n.actionAt! : n.ts + cfg.drain_hold_ms });
      const until = timed ? n.actionAt! + 60_000 : n.ts + cfg.drain_hold_ms;
      const ups = signals.drain(n.node, until);
      if (ups.length) ctx.log.warn('node draining after capacity notice', { node: n.node, kind: n.kind, upstreams: ups, until: new Date(until).toISOString() });
    });
}

/** The factory for a given autoscale configuration (tests; and the runtime, through autoscaleComponents). */
export function autoscaleFeature(cfg: AutoscaleConfig): ComponentFactory {
  return (ctx) => {
    if (!cfg.enabled) return [];
    const state = proxyStateFor(ctx);
    if (!state) throw new Error('autoscale: needs the metering proxy (proxy.enabled: true) in the same collector');
    const log = ctx.log.child('autoscale');
    const upstreams = ctx.config.proxy.upstreams.map((u) => ({ name: u.name, node: u.node || new URL(u.url).hostname, origin: originOf(u.url) }));
    const signals = new Signals({
      config: cfg,
      state,
      upstreams,
      registry: ctx.registry,
      held: () => activationFor(state),
      // Shared with the scrapers and price syncs of this collector, whichever is built first.
      scraped: liveScrapeFor(ctx.registry),
      prices: livePricesFor(ctx.registry),
    });
    const out: Component[] = [new AutoscaleSignals(signals, cfg.evaluate_ms, [drainOnNotice(cfg, ctx)])];
    if (cfg.scaler.enabled)
      out.push(new ExternalScalerServer({ listen: cfg.scaler.listen, signals, registry: ctx.registry, log, maxStreams: cfg.scaler.max_streams }));
    return out;
  };
}

/** Components of the `autoscale:` section (after the proxy in the runtime's feature list). */
export function autoscaleComponents(ctx: RuntimeContext): Component[] | Promise<Component[]> {
  return autoscaleFeature(ctx.config.autoscale)(ctx);
}
