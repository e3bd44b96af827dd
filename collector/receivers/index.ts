// Builds the receivers from the `receivers:` section: each one enabled mounts its routes on the
// collector's HTTP endpoint and is a component, so shutdown stops its intake before the pipeline
// drains.
import type { Component } from '../lifecycle/component.ts';
import type { RuntimeContext } from '../runtime.ts';
import type { ReceiversConfig } from './config.ts';
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
      const r = new OtlpReceiver({ config: cfg.otlp, sink: ctx.sink, metrics: new OtlpMetrics(ctx.registry), log: ctx.log.child('otlp') });
      r.mount(ctx.http);
      out.push(r);
    }
    return out;
  };
}

export function receiverComponents(ctx: RuntimeContext): Component[] {
  return receiverComponentsFor(ctx.config.receivers)(ctx);
}
