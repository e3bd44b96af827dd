// The self-tracing feature (`telemetry:`). The composition root builds it first, so that it starts
// before, and stops after, everything that makes spans.
import { defineFeature } from '../../core/feature.ts';
import { telemetryConfigSchema } from './config.ts';
import { Telemetry } from './sdk.ts';

export { telemetryConfigSchema } from './config.ts';
export { tracer, inSpan, untraced } from './tracer.ts';
export { tracedInserter, tracedSink } from './traced.ts';

export const telemetryFeature = defineFeature({
  name: 'telemetry',
  section: 'telemetry',
  schema: telemetryConfigSchema,
  needs: [],
  create: (core, config, _needs: Record<string, never>) => ({
    components: config.enabled ? [new Telemetry({ config, log: core.log.child('telemetry') })] : [],
    provides: undefined,
  }),
});
