// The alerting feature: alert-facing gauges computed from the store, on the collector's /metrics.
// The rules that read them are in alerts/; see docs/alerting.md.
import { defineFeature, type CoreServices } from '../../core/feature.ts';
import type { Component } from '../../core/lifecycle/component.ts';
import { AlertGaugeRefresher } from './component.ts';
import { alertingConfigSchema, type AlertingConfig } from './config.ts';
import { AlertGauges } from './gauges.ts';
import { STORE_GAUGES } from './metric-names.ts';

export { alertingConfigSchema, type AlertingConfig } from './config.ts';
export { AlertGaugeRefresher } from './component.ts';

export interface AlertingNeeds {
  /** Most models with series of their own: the proxy's own bound on model labels. */
  maxModels: number;
}

export const alertingFeature = defineFeature({
  name: 'alerting',
  section: 'alerting',
  schema: alertingConfigSchema,
  needs: ['maxModels'],
  create: (core, config, needs: AlertingNeeds) => ({ components: buildAlerting(core, config, undefined, needs.maxModels), provides: undefined }),
});

/** The alerting components of an explicit configuration, as an extra factory (tests, embedding). */
export function alertingFor(config: Partial<AlertingConfig> = {}, now?: () => number, maxModels = 200) {
  return (core: CoreServices): Component[] => buildAlerting(core, alertingConfigSchema.parse(config), now, maxModels);
}

/** What the alerting components need from the core. */
export type AlertingDeps = Pick<CoreServices, 'registry' | 'store' | 'log'>;

export function buildAlerting(ctx: AlertingDeps, config: AlertingConfig, now: (() => number) | undefined, maxModels: number): Component[] {
  if (!config.enabled) return [];
  // One set of gauges per registry: a second factory (a test's, beside the configured one) would
  // otherwise fail on duplicate metric names.
  if (ctx.registry.getSingleMetric(STORE_GAUGES.gpuTemperature)) {
    ctx.log.warn('alerting gauges already registered on this registry; not starting a second refresher');
    return [];
  }
  const gauges = new AlertGauges(ctx.registry, config.max_series);
  return [new AlertGaugeRefresher({ store: ctx.store, gauges, config, maxModels, log: ctx.log.child('alerting'), now })];
}
