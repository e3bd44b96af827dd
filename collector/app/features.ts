// The features this build of llmeter composes, and how they are wired: each factory is called with
// the core's services, its own section of the configuration and, explicitly, what it takes from the
// features built before it. The order is the start order (shutdown runs in reverse): telemetry first,
// so that it starts before and stops after everything that makes spans.
import { readKeyFile, parseDigest, sha256 } from '../core/security/keys.ts';
import type { Built, CoreServices, TenantKeys } from '../core/feature.ts';
import type { Component } from '../core/lifecycle/component.ts';
import { alertingFeature } from '../features/alerting/index.ts';
import { autoscaleFeature } from '../features/autoscale/index.ts';
import { costFeature, type CostProvides } from '../features/cost/index.ts';
import { receiversFeature } from '../features/receivers/index.ts';
import { telemetryFeature } from '../features/telemetry/index.ts';
import { pricesFeature, type PricesProvides } from '../../exporters/prices/index.ts';
import { proxyFeature, type ProxyConfig, type ProxyProvides } from '../../exporters/proxy/index.ts';
import { scrapeFeature, type ScrapeProvides } from '../../exporters/scrape/index.ts';
import { isThisHost, nodeOfUrl } from '../core/node-name.ts';
import type { Config } from './config-schema.ts';

/** The descriptors, for the configuration schema and the documentation. */
export const FEATURES = [
  telemetryFeature,
  costFeature,
  proxyFeature,
  scrapeFeature,
  pricesFeature,
  autoscaleFeature,
  receiversFeature,
  alertingFeature,
] as const;

/** What the features offered, for the components built beside them (commands, tests). */
export interface Provided {
  cost: CostProvides;
  proxy: ProxyProvides | undefined;
  scrape: ScrapeProvides;
  prices: PricesProvides;
}

/** The tenants and their key digests, from the proxy's tenant list (where tenants are configured). */
export function tenantKeysOf(proxy: ProxyConfig): TenantKeys[] {
  return proxy.tenants.map((t) => ({ tenant: t.name, digests: [...t.keys.map((d) => parseDigest(d)), ...t.key_files.map((f) => sha256(readKeyFile(f)))] }));
}

/** Whether the proxy runs and meters a model server on this host (an upstream whose node is this host). */
export function proxyOnThisHost(proxy: ProxyConfig): boolean {
  return proxy.enabled && proxy.upstreams.some((u) => !u.node_header && isThisHost(u.node || nodeOfUrl(new URL(u.url))));
}

/** Builds every feature of the configuration; returns their components in start order and what they offer. */
export async function buildFeatures(core: CoreServices, config: Config): Promise<{ components: Component[]; provided: Provided }> {
  const components: Component[] = [];
  const take = <P>(b: Built<P>): P => {
    components.push(...b.components);
    return b.provides;
  };
  const tenantKeys = tenantKeysOf(config.proxy);
  take(await telemetryFeature.create(core, config.telemetry, {}));
  const cost = take(await costFeature.create(core, config.cost, { tenantKeys }));
  const proxy = take(await proxyFeature.create(core, config.proxy, { budgetRefusal: cost.budgetRefusal }));
  const scrape = take(await scrapeFeature.create(core, config.scrape, { intakeOnThisHost: proxyOnThisHost(config.proxy) }));
  const prices = take(await pricesFeature.create(core, config.prices, {}));
  take(await autoscaleFeature.create(core, config.autoscale, { proxy, scraped: scrape.live, prices: prices.live, notices: prices.notices }));
  take(await receiversFeature.create(core, config.receivers, { tenantKeys }));
  take(await alertingFeature.create(core, config.alerting, { maxModels: config.proxy.max_model_labels }));
  return { components, provided: { cost, proxy, scrape, prices } };
}
