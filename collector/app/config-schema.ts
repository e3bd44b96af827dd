// The one configuration schema, validated at start-up: the core's sections and each feature's, put
// together by the composition root. Objects are strict so a misspelt key is an error that names it,
// not a silently ignored setting.
import { z } from 'zod';
import { coreSections, logLevelSchema } from '../core/config/schema.ts';
import { loadConfigWith, type LoadedConfig, type LoadOptions } from '../core/config/load.ts';
import { transportConfigSchema } from '../features/kafka/config.ts';
import { alertingFeature } from '../features/alerting/index.ts';
import { autoscaleFeature } from '../features/autoscale/index.ts';
import { costFeature } from '../features/cost/index.ts';
import { receiversFeature } from '../features/receivers/index.ts';
import { telemetryFeature } from '../features/telemetry/index.ts';
import { pricesFeature } from '../../exporters/prices/index.ts';
import { proxyFeature } from '../../exporters/proxy/index.ts';
import { scrapeFeature } from '../../exporters/scrape/index.ts';
import { dashboardsConfigSchema } from '../../dashboards/lib/options.ts';

export const configSchema = z
  .strictObject({
    ...coreSections,
    transport: transportConfigSchema,
    proxy: proxyFeature.schema,
    scrape: scrapeFeature.schema,
    prices: pricesFeature.schema,
    cost: costFeature.schema,
    receivers: receiversFeature.schema,
    telemetry: telemetryFeature.schema,
    alerting: alertingFeature.schema,
    autoscale: autoscaleFeature.schema,
    dashboards: dashboardsConfigSchema,
    log_level: logLevelSchema,
  })
  .prefault({});

export type Config = z.infer<typeof configSchema>;
export type { StoreConfig, PipelineConfig, HttpConfig } from '../core/config/schema.ts';

/** Loads llmeter.yaml (or --config), the environment and the CLI's overrides, validated. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig<Config> {
  return loadConfigWith(configSchema, opts);
}
