// The prices feature (`prices:`): the price sync scheduler and, under `prices.interruptions`, the
// interruption watchers (none while disabled). It offers the current prices and the notice hub to
// the autoscaling side.
import { defineFeature } from '../../collector/core/feature.ts';
import type { Component } from '../../collector/core/lifecycle/component.ts';
import { pricesConfigSchema } from './config.ts';
import { buildInterruptions, newNoticeHub } from './interruptions/index.ts';
import type { NoticeHub } from './interruptions/hub.ts';
import { LivePrices } from './live.ts';
import { PricesMetrics } from './metrics.ts';
import { WatcherMetrics } from './interruptions/poller.ts';
import { PriceSyncScheduler, type ScheduledSource } from './scheduler.ts';
import { buildSource, lookbackOf, SOURCE_NAMES, sourceSchedule } from './sources/index.ts';

export { pricesConfigSchema, type PricesConfig } from './config.ts';

export interface PricesProvides {
  /** The newest price of each instance the syncs fetched. */
  live: LivePrices;
  /** Where capacity notices are published (a spot interruption, a preemption, …). */
  notices: NoticeHub;
  /** The syncs' and the watchers' metrics on the collector's registry (a command's own syncs count there too). */
  metrics: PricesMetrics;
  watcherMetrics: WatcherMetrics;
}

export const pricesFeature = defineFeature({
  name: 'prices',
  section: 'prices',
  schema: pricesConfigSchema,
  needs: [],
  create: (core, config, _needs: Record<string, never>) => {
    const provides: PricesProvides = {
      live: new LivePrices(),
      notices: newNoticeHub(core, config.interruptions),
      metrics: new PricesMetrics(core.registry),
      watcherMetrics: new WatcherMetrics(core.registry),
    };
    if (!config.enabled) return { components: [], provides };
    const entries: ScheduledSource[] = [];
    for (const name of SOURCE_NAMES) {
      const s = sourceSchedule(config, name);
      if (!s.enabled) continue;
      const source = buildSource(config, name);
      entries.push({ source, intervalMs: s.intervalMs, lookbackMs: lookbackOf(config, name) });
      // The book is configuration, written once at start-up: it does not go stale.
      provides.live.expect(source.name, name === 'book' ? Number.POSITIVE_INFINITY : s.intervalMs);
    }
    const components: Component[] = [];
    if (entries.length) {
      const deps = {
        sink: core.sink,
        store: core.store,
        metrics: provides.metrics,
        retry: config.retry,
        log: core.log.child('prices'),
        live: provides.live,
      };
      components.push(new PriceSyncScheduler(entries, deps, config.first_sync_delay_ms, { failures: core.failures }));
    }
    components.push(...buildInterruptions(core, config.interruptions, provides.notices, provides.watcherMetrics));
    return { components, provides };
  },
});
