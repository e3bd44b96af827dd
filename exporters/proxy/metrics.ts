// The proxy's metrics on the collector's /metrics. In-flight, queued and residency gauges are read
// from ProxyState at scrape time, so the request path only touches counters and histograms.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { COLD_START_DEFINITION } from './cold-start.ts';
import type { ProxyState } from './state.ts';

type RequestLabels = Record<'upstream' | 'model' | 'tenant' | 'status' | 'error_kind', string>;
type TokenKind = 'input' | 'output' | 'cached';

/**
 * One series of finished requests. The request path adds plain numbers here; they reach the
 * prom-client counters when those are read (a scrape, the autoscaler), so a request costs one map
 * lookup rather than a label hash and validation per metric. The label objects are made once.
 */
interface RequestSeries {
  labels: RequestLabels;
  byUpstream: { upstream: string };
  byModel: { upstream: string; model: string };
  tokenLabels: Record<TokenKind, { upstream: string; model: string; tenant: string; kind: TokenKind }>;
  requests: number;
  input: number;
  output: number;
  cached: number;
}

/** What one finished request adds to the metrics. */
export interface RequestFigures {
  overheadS: number;
  /** Set when the request reached an upstream. */
  durationS: number | null;
  ttftS: number | null;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  coldStart: boolean;
}

export class ProxyMetrics {
  readonly requests: Counter<'upstream' | 'model' | 'tenant' | 'status' | 'error_kind'>;
  readonly tokens: Counter<'upstream' | 'model' | 'tenant' | 'kind'>;
  readonly overhead: Histogram<'upstream'>;
  readonly duration: Histogram<'upstream' | 'model'>;
  readonly ttft: Histogram<'upstream' | 'model'>;
  readonly queueWait: Histogram<'upstream'>;
  readonly coldStarts: Counter<'upstream' | 'model'>;
  readonly recordsDropped: Counter<'reason'>;
  readonly usageStripped: Counter;
  readonly refused: Counter<'reason'>;
  readonly pollErrors: Counter<'upstream'>;
  /** Keyed by upstream, model, tenant, status and error kind joined with NUL (label values hold none). */
  private readonly series = new Map<string, RequestSeries>();

  constructor(registry: Registry, state: ProxyState) {
    const registers = [registry];
    const flush = () => this.flush();
    this.requests = new Counter({
      name: 'llmeter_proxy_requests_total',
      help: 'Requests through the metering proxy, by upstream, model, tenant, status and error kind.',
      labelNames: ['upstream', 'model', 'tenant', 'status', 'error_kind'],
      registers,
      collect: flush,
    });
    this.tokens = new Counter({
      name: 'llmeter_proxy_tokens_total',
      help: 'Tokens reported by the upstream (kind: input, output, cached).',
      labelNames: ['upstream', 'model', 'tenant', 'kind'],
      registers,
      collect: flush,
    });
    this.overhead = new Histogram({
      name: 'llmeter_proxy_overhead_seconds',
      help: 'Time spent inside the proxy per request (admission, routing, forwarding, final-frame parsing).',
      labelNames: ['upstream'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05],
      registers,
    });
    this.duration = new Histogram({
      name: 'llmeter_proxy_request_duration_seconds',
      help: 'Whole request time as the client saw it.',
      labelNames: ['upstream', 'model'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.ttft = new Histogram({
      name: 'llmeter_proxy_ttft_seconds',
      help: 'Time to the first token of streamed responses.',
      labelNames: ['upstream', 'model'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.queueWait = new Histogram({
      name: 'llmeter_proxy_queue_wait_seconds',
      help: 'Time requests waited in the proxy for an upstream slot (upstreams[].max_concurrent).',
      labelNames: ['upstream'],
      buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60],
      registers,
    });
    this.coldStarts = new Counter({
      name: 'llmeter_proxy_cold_starts_total',
      help: `Requests that waited for a model load (${COLD_START_DEFINITION}).`,
      labelNames: ['upstream', 'model'],
      registers,
    });
    this.recordsDropped = new Counter({
      name: 'llmeter_proxy_records_dropped_total',
      help: 'llm_request records the pipeline did not take (queue full, refused, failed).',
      labelNames: ['reason'],
      registers,
    });
    this.refused = new Counter({
      name: 'llmeter_proxy_refused_total',
      help: 'Requests refused before anything else: host (a name this proxy does not serve on loopback), origin (a browser on another origin).',
      labelNames: ['reason'],
      registers,
    });
    this.usageStripped = new Counter({
      name: 'llmeter_proxy_usage_chunks_stripped_total',
      help: "Usage chunks the proxy asked for on a client's behalf and removed from its stream.",
      registers,
    });
    this.pollErrors = new Counter({
      name: 'llmeter_proxy_ps_poll_errors_total',
      help: "Failed polls of an Ollama upstream's /api/ps.",
      labelNames: ['upstream'],
      registers,
    });
    new Gauge({
      name: 'llmeter_proxy_inflight_requests',
      help: 'Requests forwarded to an upstream and not finished, by upstream and model.',
      labelNames: ['upstream', 'model'],
      registers,
      collect() {
        this.reset();
        for (const s of state.snapshot()) this.set({ upstream: s.upstream, model: s.model }, s.inflight);
      },
    });
    new Gauge({
      name: 'llmeter_proxy_queued_requests',
      help: 'Requests waiting in the proxy for an upstream slot, by upstream and model.',
      labelNames: ['upstream', 'model'],
      registers,
      collect() {
        this.reset();
        for (const s of state.snapshot()) this.set({ upstream: s.upstream, model: s.model }, s.queued);
      },
    });
    new Gauge({
      name: 'llmeter_proxy_last_request_timestamp_seconds',
      help: 'When the last request for this upstream and model arrived.',
      labelNames: ['upstream', 'model'],
      registers,
      collect() {
        this.reset();
        for (const s of state.snapshot()) this.set({ upstream: s.upstream, model: s.model }, s.lastRequestAt / 1000);
      },
    });
    new Gauge({
      name: 'llmeter_proxy_model_vram_bytes',
      help: 'VRAM held by a model resident in an Ollama upstream (last /api/ps poll).',
      labelNames: ['upstream', 'model'],
      registers,
      collect() {
        this.reset();
        for (const r of state.residency()) for (const m of r.models) this.set({ upstream: r.upstream, model: m.model }, m.sizeVramBytes);
      },
    });
    new Gauge({
      name: 'llmeter_proxy_upstream_up',
      help: 'Whether the last /api/ps poll of an Ollama upstream succeeded.',
      labelNames: ['upstream'],
      registers,
      collect() {
        this.reset();
        for (const r of state.residency()) this.set({ upstream: r.upstream }, r.reachable ? 1 : 0);
      },
    });
  }

  /** Counts a finished request; labels are already bounded (LabelCap) by the caller. */
  finished(upstream: string, model: string, tenant: string, status: number, errorKind: string, f: RequestFigures): void {
    const key = upstream + '\u0000' + model + '\u0000' + tenant + '\u0000' + status + '\u0000' + errorKind;
    let s = this.series.get(key);
    if (!s) {
      const tokenLabels = (kind: TokenKind) => ({ upstream, model, tenant, kind });
      s = {
        labels: { upstream, model, tenant, status: String(status), error_kind: errorKind },
        byUpstream: { upstream },
        byModel: { upstream, model },
        tokenLabels: { input: tokenLabels('input'), output: tokenLabels('output'), cached: tokenLabels('cached') },
        requests: 0,
        input: 0,
        output: 0,
        cached: 0,
      };
      this.series.set(key, s);
    }
    s.requests++;
    s.input += f.inputTokens;
    s.output += f.outputTokens;
    s.cached += f.cachedTokens;
    this.overhead.observe(s.byUpstream, f.overheadS);
    if (f.durationS !== null) this.duration.observe(s.byModel, f.durationS);
    if (f.ttftS !== null) this.ttft.observe(s.byModel, f.ttftS);
    if (f.coldStart) this.coldStarts.inc(s.byModel);
  }

  /** Moves the counts gathered since the last read into the prom-client counters. */
  private flush(): void {
    for (const s of this.series.values()) {
      if (s.requests > 0) {
        this.requests.inc(s.labels, s.requests);
        s.requests = 0;
      }
      if (s.input > 0) this.tokens.inc(s.tokenLabels.input, s.input);
      if (s.output > 0) this.tokens.inc(s.tokenLabels.output, s.output);
      if (s.cached > 0) this.tokens.inc(s.tokenLabels.cached, s.cached);
      s.input = s.output = s.cached = 0;
    }
  }
}
