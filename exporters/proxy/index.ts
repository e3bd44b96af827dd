// The metering proxy (`proxy:`): the proxy server and, for Ollama upstreams, the /api/ps residency
// poller (none while the proxy is disabled). It offers its live load (ProxyState), its scale-from-zero
// hold and its upstreams to the features that read them (autoscaling).
import { defineFeature } from '../../collector/core/feature.ts';
import type { Activation } from './activation.ts';
import { proxyConfigSchema } from './config.ts';
import { PsPoller } from './ps-poller.ts';
import { ProxyServer } from './server.ts';
import type { ProxyState } from './state.ts';

export { ProxyServer } from './server.ts';
export { ProxyState, type LoadSnapshot, type Residency, type ResidentModel } from './state.ts';
export { proxyConfigSchema, type ProxyConfig } from './config.ts';

export interface ProxyNeeds {
  /** Why a tenant's requests are refused (a spent budget with a hard stop), or undefined. */
  budgetRefusal: (tenant: string) => string | undefined;
}

/** The running proxy, for the features that read its load; undefined while it is disabled. */
export interface ProxyProvides {
  state: ProxyState;
  activation: Activation | undefined;
  upstreams: readonly { name: string; node: string; url: string }[];
}

export const proxyFeature = defineFeature({
  name: 'proxy',
  section: 'proxy',
  schema: proxyConfigSchema,
  needs: ['cost'],
  create: (core, config, needs: ProxyNeeds) => {
    if (!config.enabled) return { components: [], provides: undefined as ProxyProvides | undefined };
    const log = core.log.child('proxy');
    const server = new ProxyServer({ config, sink: core.sink, registry: core.registry, log, budgetRefusal: needs.budgetRefusal });
    const poller = new PsPoller({
      upstreams: server.router.upstreams,
      intervalMs: config.ps_poll_ms,
      sink: core.sink,
      state: server.state,
      metrics: server.metrics,
      log,
    });
    const provides: ProxyProvides = { state: server.state, activation: server.activation, upstreams: config.upstreams };
    // Shutdown runs in reverse: the poller stops before the proxy closes its upstream pools.
    return { components: [server, poller], provides };
  },
});
