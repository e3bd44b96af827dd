// Configuration of the collector's own tracing (the `telemetry:` section). Off by default: with it
// off no SDK starts and every span the code asks for is the API's no-op.
import { z } from 'zod';

export const telemetryConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Trace the collector itself and export the spans over OTLP/HTTP.'),
    service_name: z.string().min(1).default('llmeter').describe('service.name of the exported spans.'),
    resource_attributes: z.record(z.string(), z.string()).default({}).describe('Extra resource attributes, e.g. deployment.environment.'),
    sample_ratio: z.number().min(0).max(1).default(1).describe('Share of root traces kept (parent-based: children follow their parent).'),
    otlp: z
      .strictObject({
        endpoint: z.url().default('http://127.0.0.1:4318/v1/traces').describe('OTLP/HTTP traces URL (the full path, /v1/traces included).'),
        protocol: z.enum(['http/protobuf', 'http/json']).default('http/protobuf').describe('Body encoding of the export requests.'),
        headers: z.record(z.string(), z.string()).default({}).describe('Headers sent with every export (e.g. an API key).'),
        headers_file: z.string().optional().describe('File of `name: value` lines added to the headers (keeps secrets out of the config).'),
        timeout_ms: z.number().int().positive().default(10_000).describe('Per-export timeout.'),
      })
      .prefault({}),
    batch: z
      .strictObject({
        max_queue_size: z.number().int().positive().default(2048).describe('Spans held for export; past it new spans are dropped (and counted by the SDK).'),
        max_export_batch_size: z.number().int().positive().default(512).describe('Spans per export request.'),
        schedule_delay_ms: z.number().int().positive().default(5_000).describe('Longest wait before a partial batch is exported.'),
      })
      .prefault({}),
  })
  .prefault({});

export type TelemetryConfig = z.infer<typeof telemetryConfigSchema>;
