// The receivers (`receivers:`): each one enabled mounts its routes on the collector's HTTP endpoint
// and is a component, so shutdown stops its intake before the pipeline drains. The OTLP receiver
// takes the tenants' keys (the proxy's) as tenant-scoped keys.
import { defineFeature, type CoreServices, type TenantKeys } from '../../core/feature.ts';
import type { Component } from '../../core/lifecycle/component.ts';
import { receiversConfigSchema, type ReceiversConfig } from './config.ts';
import { FaroReceiver } from './faro/receiver.ts';
import { FaroMetrics, OtlpMetrics } from './metrics.ts';
import { OtlpReceiver } from './otlp/receiver.ts';

export { receiversConfigSchema } from './config.ts';
export type { ReceiversConfig } from './config.ts';

export interface ReceiversNeeds {
  tenantKeys: readonly TenantKeys[];
}

export function buildReceivers(core: CoreServices, config: ReceiversConfig, needs: ReceiversNeeds): Component[] {
  const out: Component[] = [];
  if (config.faro.enabled) {
    const r = new FaroReceiver({
      config: config.faro,
      sink: core.sink,
      metrics: new FaroMetrics(core.registry),
      log: core.log.child('faro'),
      store: core.store,
    });
    r.mount(core.http);
    out.push(r);
  }
  if (config.otlp.enabled) {
    const r = new OtlpReceiver({
      config: config.otlp,
      sink: core.sink,
      metrics: new OtlpMetrics(core.registry),
      log: core.log.child('otlp'),
      tenantKeys: needs.tenantKeys,
    });
    r.mount(core.http);
    out.push(r);
  }
  return out;
}

export const receiversFeature = defineFeature({
  name: 'receivers',
  section: 'receivers',
  schema: receiversConfigSchema,
  needs: ['tenantKeys'],
  create: (core, config, needs: ReceiversNeeds) => ({ components: buildReceivers(core, config, needs), provides: undefined }),
});

/** The receivers of an explicit configuration, as an extra factory (tests). */
export function receiversFor(config: ReceiversConfig, needs: ReceiversNeeds = { tenantKeys: [] }) {
  return (core: CoreServices): Component[] => buildReceivers(core, config, needs);
}
