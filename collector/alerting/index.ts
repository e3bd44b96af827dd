// The alerting feature: alert-facing gauges computed from the store, on the collector's /metrics.
// The rules that read them are in alerts/; see docs/alerting.md.
import type { Component } from '../lifecycle/component.ts';
import type { ComponentFactory, RuntimeContext } from '../runtime.ts';
import { AlertGaugeRefresher } from './component.ts';
import { alertingConfigSchema, type AlertingConfig } from './config.ts';
import { AlertGauges } from './gauges.ts';
import { STORE_GAUGES } from './metric-names.ts';

export { alertingConfigSchema, type AlertingConfig } from './config.ts';
export { AlertGaugeRefresher } from './component.ts';

/** Builds the alerting components for an explicit configuration (tests, embedding). */
export function alertingFeature(config: Partial<AlertingConfig> = {}, now?: () => number): ComponentFactory {
  return (ctx) => buildAlerting(ctx, alertingConfigSchema.parse(config), now, ctx.config.proxy.max_model_labels);
}

export function alertingComponents(ctx: RuntimeContext): Component[] {
  return buildAlerting(ctx, ctx.config.alerting, undefined, ctx.config.proxy.max_model_labels);
}

/** What the alerting components need from the runtime. */
export type AlertingDeps = Pick<RuntimeContext, 'registry' | 'store' | 'log'>;

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
