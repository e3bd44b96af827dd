// Builds the metering proxy from the configuration: the proxy server and, for Ollama upstreams,
// the /api/ps residency poller (none while the proxy is disabled). The live load view (ProxyState)
// is shared with later features of the same collector through `proxyStateFor(ctx)`.
import type { Component } from '../../collector/lifecycle/component.ts';
import type { RuntimeContext } from '../../collector/runtime.ts';
import { PsPoller } from './ps-poller.ts';
import { ProxyServer } from './server.ts';
import type { ProxyState } from './state.ts';

export { ProxyServer } from './server.ts';
export { ProxyState, type LoadSnapshot, type Residency, type ResidentModel } from './state.ts';

const states = new WeakMap<RuntimeContext, ProxyState>();

/** The live load of the proxy running in this collector, if one was built. */
export function proxyStateFor(ctx: RuntimeContext): ProxyState | undefined {
  return states.get(ctx);
}

export interface ProxyParts {
  server: ProxyServer;
  poller: PsPoller;
  state: ProxyState;
}

export function buildProxy(ctx: RuntimeContext): ProxyParts {
  const cfg = ctx.config.proxy;
  const log = ctx.log.child('proxy');
  const server = new ProxyServer({ config: cfg, sink: ctx.sink, registry: ctx.registry, log, budgetRefusal: (t) => ctx.budgets.refusal(t) });
  const poller = new PsPoller({
    upstreams: server.router.upstreams,
    intervalMs: cfg.ps_poll_ms,
    sink: ctx.sink,
    state: server.state,
    metrics: server.metrics,
    log,
  });
  states.set(ctx, server.state);
  return { server, poller, state: server.state };
}

export function proxyComponents(ctx: RuntimeContext): Component[] {
  if (!ctx.config.proxy.enabled) return [];
  const { server, poller } = buildProxy(ctx);
  // Shutdown runs in reverse: the poller stops before the proxy closes its upstream pools.
  return [server, poller];
}
