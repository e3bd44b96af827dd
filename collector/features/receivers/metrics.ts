// The receivers' own metrics, on the registry they are given.
import { Counter, Histogram, type Registry } from 'prom-client';

export class FaroMetrics {
  readonly requests: Counter<'app' | 'outcome'>;
  readonly rows: Counter<'app' | 'kind'>;
  readonly rejected: Counter<'app'>;
  readonly bytes: Counter<'app'>;
  readonly duration: Histogram<'outcome'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'llmeter_faro_requests_total',
      help: 'Faro requests by app and outcome (accepted, duplicate, preflight, unauthorized, forbidden_origin, too_large, rate_limited, malformed, unavailable); duplicate: a retried payload answered 202 without storing it again.',
      labelNames: ['app', 'outcome'],
      registers,
    });
    this.rows = new Counter({
      name: 'llmeter_faro_events_total',
      help: 'frontend_event rows taken from Faro payloads, by kind.',
      labelNames: ['app', 'kind'],
      registers,
    });
    this.rejected = new Counter({
      name: 'llmeter_faro_events_rejected_total',
      help: 'Faro rows the collector refused (dead-lettered) or dropped.',
      labelNames: ['app'],
      registers,
    });
    this.bytes = new Counter({ name: 'llmeter_faro_received_bytes_total', help: 'Payload bytes accepted (as decoded).', labelNames: ['app'], registers });
    this.duration = new Histogram({
      name: 'llmeter_faro_request_duration_seconds',
      help: 'Time to answer a Faro request.',
      labelNames: ['outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
  }
}

export class OtlpMetrics {
  readonly requests: Counter<'encoding' | 'outcome'>;
  readonly spans: Counter<'outcome'>;
  readonly duration: Histogram<'encoding'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'llmeter_otlp_requests_total',
      help: 'OTLP/HTTP trace export requests by encoding (json, protobuf) and outcome (accepted, unauthorized, too_large, malformed, unsupported).',
      labelNames: ['encoding', 'outcome'],
      registers,
    });
    this.spans = new Counter({
      name: 'llmeter_otlp_spans_total',
      help: 'Spans received: genai (became llm_request records), ignored (not GenAI), rejected (refused by the collector).',
      labelNames: ['outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'llmeter_otlp_request_duration_seconds',
      help: 'Time to answer an OTLP export request.',
      labelNames: ['encoding'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
  }
}
