// The collector's own tracing: @opentelemetry/sdk-node set up from the parsed configuration alone.
// Everything the SDK would otherwise take from OTEL_* variables (exporters for metrics and logs,
// resource detectors, samplers) is given explicitly, and no auto-instrumentation is registered, so
// the exporter's own HTTP requests are never traced (no spans about sending spans).
import { readFileSync } from 'node:fs';
import { context, propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as OTLPJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { errorMessage } from '../../core/errors.ts';
import { once, type Component } from '../../core/lifecycle/component.ts';
import type { Logger } from '../../core/log.ts';
import type { TelemetryConfig } from './config.ts';

export function traceExporter(cfg: TelemetryConfig['otlp']): SpanExporter {
  const headers = { ...cfg.headers, ...(cfg.headers_file ? readHeadersFile(cfg.headers_file) : {}) };
  const opts = { url: cfg.endpoint, headers, timeoutMillis: cfg.timeout_ms };
  return cfg.protocol === 'http/json' ? new OTLPJsonTraceExporter(opts) : new OTLPProtoTraceExporter(opts);
}

function readHeadersFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

export interface TelemetryOptions {
  config: TelemetryConfig;
  log: Logger;
  /** Where spans go; by default the OTLP exporter from the configuration. */
  exporter?: SpanExporter;
  version?: string;
}

/** Starts the SDK on start() and flushes and stops it on shutdown(). */
export class Telemetry implements Component {
  readonly name = 'telemetry';
  private readonly opts: TelemetryOptions;
  private sdk: NodeSDK | undefined;
  private processor: BatchSpanProcessor | undefined;

  constructor(opts: TelemetryOptions) {
    this.opts = opts;
  }

  /** Whether an SDK is running (false while disabled). */
  get running(): boolean {
    return this.sdk !== undefined;
  }

  async start(): Promise<void> {
    const cfg = this.opts.config;
    if (!cfg.enabled || this.sdk) return;
    const b = cfg.batch;
    this.processor = new BatchSpanProcessor(this.opts.exporter ?? traceExporter(cfg.otlp), {
      maxQueueSize: b.max_queue_size,
      maxExportBatchSize: Math.min(b.max_export_batch_size, b.max_queue_size),
      scheduledDelayMillis: b.schedule_delay_ms,
      exportTimeoutMillis: cfg.otlp.timeout_ms,
    });
    this.sdk = new NodeSDK({
      serviceName: cfg.service_name,
      resource: resourceFromAttributes({ 'service.version': this.opts.version ?? '0.0.0', ...cfg.resource_attributes }),
      autoDetectResources: false,
      spanProcessors: [this.processor],
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(cfg.sample_ratio) }),
      textMapPropagator: new W3CTraceContextPropagator(),
      instrumentations: [],
      metricReaders: [],
      logRecordProcessors: [],
    });
    this.sdk.start();
    this.opts.log.info('self-tracing started', { endpoint: cfg.otlp.endpoint, protocol: cfg.otlp.protocol });
  }

  async forceFlush(): Promise<void> {
    await this.processor?.forceFlush();
  }

  shutdown = once(async () => {
    if (!this.sdk) return;
    try {
      await this.sdk.shutdown();
    } catch (err) {
      this.opts.log.warn('self-tracing shutdown failed', { error: errorMessage(err) });
    }
    // Unregister the globals so the API is back to no-op spans, as if the SDK had never started.
    trace.disable();
    context.disable();
    propagation.disable();
    this.sdk = undefined;
  });
}
