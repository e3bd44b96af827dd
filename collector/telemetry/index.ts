// Builds the self-tracing component from the `telemetry:` section. It should come first among the
// features so that it starts before, and stops after, everything that makes spans.
import type { Component } from '../lifecycle/component.ts';
import type { RuntimeContext } from '../runtime.ts';
import type { TelemetryConfig } from './config.ts';
import { Telemetry } from './sdk.ts';

export { telemetryConfigSchema } from './config.ts';
export { tracer, inSpan, untraced } from './tracer.ts';
export { tracedInserter, tracedSink } from './traced.ts';

export function telemetryComponentsFor(cfg: TelemetryConfig) {
  return (ctx: RuntimeContext): Component[] => (cfg.enabled ? [new Telemetry({ config: cfg, log: ctx.log.child('telemetry') })] : []);
}

export function telemetryComponents(ctx: RuntimeContext): Component[] {
  return telemetryComponentsFor(ctx.config.telemetry)(ctx);
}
