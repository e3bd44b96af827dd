// Builds the receivers from the `receivers:` section: each one enabled mounts its routes on the
// collector's HTTP endpoint and is a component, so shutdown stops its intake before the pipeline
// drains.
import type { Component } from '../lifecycle/component.ts';
import type { RuntimeContext } from '../runtime.ts';
import type { ReceiversConfig } from './config.ts';
import type { Config } from '../config/schema.ts';
import { parseDigest, readKeyFile, sha256 } from '../security/keys.ts';
import { FaroReceiver } from './faro/receiver.ts';
import { FaroMetrics, OtlpMetrics } from './metrics.ts';
import { OtlpReceiver } from './otlp/receiver.ts';

export { receiversConfigSchema } from './config.ts';
export type { ReceiversConfig } from './config.ts';

export function receiverComponentsFor(cfg: ReceiversConfig) {
  return (ctx: RuntimeContext): Component[] => {
    const out: Component[] = [];
    if (cfg.faro.enabled) {
      const r = new FaroReceiver({ config: cfg.faro, sink: ctx.sink, metrics: new FaroMetrics(ctx.registry), log: ctx.log.child('faro'), store: ctx.store });
      r.mount(ctx.http);
      out.push(r);
    }
    if (cfg.otlp.enabled) {
      const r = new OtlpReceiver({
        config: cfg.otlp,
        sink: ctx.sink,
        metrics: new OtlpMetrics(ctx.registry),
        log: ctx.log.child('otlp'),
        tenantKeys: proxyTenantKeys(ctx.config),
      });
      r.mount(ctx.http);
      out.push(r);
    }
    return out;
  };
}

/** The proxy's tenant keys: a tenant's applications send their spans with the key they use for the proxy. */
function proxyTenantKeys(config: Config): { tenant: string; digests: Buffer[] }[] {
  return config.proxy.tenants.map((t) => ({
    tenant: t.name,
    digests: [...t.keys.map((d) => parseDigest(d)), ...t.key_files.map((f) => sha256(readKeyFile(f)))],
  }));
}

export function receiverComponents(ctx: RuntimeContext): Component[] {
  return receiverComponentsFor(ctx.config.receivers)(ctx);
}
