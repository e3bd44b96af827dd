// Builds this feature's running components from the configuration (none while it is disabled): the
// price sync scheduler and the interruption watchers.
import type { Component } from '../../collector/lifecycle/component.ts';
import type { RuntimeContext } from '../../collector/runtime.ts';
import { spotComponents } from '../spot/index.ts';
import { livePricesFor } from './live.ts';
import { PricesMetrics } from './metrics.ts';
import { PriceSyncScheduler, type ScheduledSource } from './scheduler.ts';
import { buildSource, lookbackOf, SOURCE_NAMES, sourceSchedule } from './sources/index.ts';

const metricsByRegistry = new WeakMap<RuntimeContext['registry'], PricesMetrics>();

export function pricesMetrics(registry: RuntimeContext['registry']): PricesMetrics {
  let m = metricsByRegistry.get(registry);
  if (!m) metricsByRegistry.set(registry, (m = new PricesMetrics(registry)));
  return m;
}

export function pricesComponents(ctx: RuntimeContext): Component[] {
  const cfg = ctx.config.prices;
  if (!cfg.enabled) return [];
  const entries: ScheduledSource[] = [];
  const live = livePricesFor(ctx.registry);
  for (const name of SOURCE_NAMES) {
    const s = sourceSchedule(cfg, name);
    if (!s.enabled) continue;
    const source = buildSource(cfg, name);
    entries.push({ source, intervalMs: s.intervalMs, lookbackMs: lookbackOf(cfg, name) });
    // The book is configuration, written once at start-up: it does not go stale.
    live.expect(source.name, name === 'book' ? Number.POSITIVE_INFINITY : s.intervalMs);
  }
  const out: Component[] = [];
  if (entries.length) {
    const log = ctx.log.child('prices');
    out.push(
      new PriceSyncScheduler(
        entries,
        { sink: ctx.sink, store: ctx.store, metrics: pricesMetrics(ctx.registry), retry: cfg.retry, log, live },
        cfg.first_sync_delay_ms,
      ),
    );
  }
  out.push(...spotComponents(ctx));
  return out;
}
