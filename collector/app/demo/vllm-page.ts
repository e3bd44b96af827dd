// The vLLM /metrics page of a SIMULATED OpenAI-compatible server: the current (V1) metric names,
// HELP/TYPE lines, `model_name` and `engine` labels and histogram buckets of a real vLLM, with values
// that follow the simulated requests: gauges for what runs and waits now, counters that only grow,
// histograms observed from the latencies the requests really had. The history generator writes the
// same families (VLLM_SIM_FAMILIES) as the rows the vLLM scraper would make of this page.

/** vLLM's bucket boundaries (vllm/v1/metrics/loggers.py). */
export const VLLM_BUCKETS = {
  ttft: [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0],
  itl: [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0],
  latency: [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0],
} as const;

export type VllmHistogramName = 'ttft' | 'itl' | 'e2e' | 'queue';
export type FinishedReason = 'stop' | 'length' | 'abort';
export const FINISHED_REASONS: readonly FinishedReason[] = ['stop', 'length', 'abort'];

export const VLLM_SIM_FAMILIES = {
  gauges: [
    ['vllm:num_requests_running', 'Number of requests in model execution batches.'],
    ['vllm:num_requests_waiting', 'Number of requests waiting to be processed.'],
    ['vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.'],
  ],
  counters: {
    preemptions: ['vllm:num_preemptions_total', 'Cumulative number of preemption from the engine.'],
    prompt: ['vllm:prompt_tokens_total', 'Number of prefill tokens processed.'],
    generation: ['vllm:generation_tokens_total', 'Number of generation tokens processed.'],
    success: ['vllm:request_success_total', 'Count of successfully processed requests.'],
  },
  histograms: {
    ttft: ['vllm:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', VLLM_BUCKETS.ttft],
    itl: ['vllm:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', VLLM_BUCKETS.itl],
    e2e: ['vllm:e2e_request_latency_seconds', 'Histogram of e2e request latency in seconds.', VLLM_BUCKETS.latency],
    queue: ['vllm:request_queue_time_seconds', 'Histogram of time spent in WAITING phase for request.', VLLM_BUCKETS.latency],
  },
} as const;

export const VLLM_HISTOGRAMS: readonly VllmHistogramName[] = ['ttft', 'itl', 'e2e', 'queue'];

/** Counts per bucket (not cumulative; the last is above every bound), sum and count. */
export class VllmHistogram {
  readonly bounds: readonly number[];
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(v: number, n = 1): void {
    this.counts[bucketOf(this.bounds, v)]! += n;
    this.sum += v * n;
    this.count += n;
  }
}

/** Index of the first bound ≥ v (Prometheus `le`), bounds.length when above them all. */
export function bucketOf(bounds: readonly number[], v: number): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (v <= bounds[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** A float as Python's prometheus_client writes it: 12.0, 0.205, +Inf. */
export function promFloat(v: number): string {
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  return Number.isInteger(v) ? v.toFixed(1) : String(v);
}

interface ModelStats {
  running: number;
  waiting: number;
  kvTokens: number;
  promptTokens: number;
  generationTokens: number;
  success: Record<FinishedReason, number>;
  hist: Record<VllmHistogramName, VllmHistogram>;
}

/** One request's path through the engine; each step updates the page at the moment it happens. */
export class SimVllmRequest {
  private readonly s: ModelStats;
  private readonly arrivedAt: number;
  private startedAt = 0;
  private lastTokenAt = 0;
  private tokens = 0;
  private prompt = 0;
  private state: 'waiting' | 'running' | 'done' = 'waiting';

  constructor(s: ModelStats, now: number) {
    this.s = s;
    this.arrivedAt = now;
    s.waiting++;
  }

  /** Refused before it was queued (the server's queue was full): it leaves no trace on the page. */
  reject(): void {
    if (this.state !== 'waiting') return;
    this.state = 'done';
    this.s.waiting--;
  }

  /** Scheduled: leaves the queue, holds a slot. */
  start(now: number): void {
    if (this.state !== 'waiting') return;
    this.state = 'running';
    this.s.waiting--;
    this.s.running++;
    this.startedAt = now;
  }

  /** One generated token; the first also completes the prompt's prefill. */
  token(now: number, promptTokens: number): void {
    if (this.state !== 'running') return;
    const s = this.s;
    if (this.tokens === 0) {
      this.prompt = promptTokens;
      s.promptTokens += promptTokens;
      s.kvTokens += promptTokens;
      s.hist.ttft.observe((now - this.arrivedAt) / 1000);
    } else {
      s.hist.itl.observe((now - this.lastTokenAt) / 1000);
    }
    this.tokens++;
    s.generationTokens++;
    s.kvTokens++;
    this.lastTokenAt = now;
  }

  /** Finished with `reason`; a finished request's latencies are observed, an aborted one's are not. */
  finish(now: number, reason: FinishedReason): void {
    if (this.state === 'done') return;
    const s = this.s;
    if (this.state === 'waiting') s.waiting--;
    else s.running--;
    this.state = 'done';
    s.kvTokens -= this.prompt + this.tokens;
    s.success[reason]++;
    if (reason === 'abort') return;
    s.hist.e2e.observe((now - this.arrivedAt) / 1000);
    s.hist.queue.observe((this.startedAt - this.arrivedAt) / 1000);
  }
}

export class SimVllmMetrics {
  private readonly models = new Map<string, ModelStats>();
  private readonly kvCacheTokens: number;
  private readonly engine: string;

  constructor(models: readonly string[], kvCacheTokens: number, engine = '0') {
    this.kvCacheTokens = kvCacheTokens;
    this.engine = engine;
    for (const m of models) {
      const hist = {} as Record<VllmHistogramName, VllmHistogram>;
      for (const h of VLLM_HISTOGRAMS) hist[h] = new VllmHistogram(VLLM_SIM_FAMILIES.histograms[h][2]);
      this.models.set(m, { running: 0, waiting: 0, kvTokens: 0, promptTokens: 0, generationTokens: 0, success: { stop: 0, length: 0, abort: 0 }, hist });
    }
  }

  /** A request for `model` arrived (it waits until `start`). */
  arrive(model: string, now: number): SimVllmRequest | undefined {
    const s = this.models.get(model);
    return s ? new SimVllmRequest(s, now) : undefined;
  }

  page(): string {
    const f = VLLM_SIM_FAMILIES;
    const lines: string[] = ['# SIMULATED vLLM /metrics page (llmeter demo): no real model server behind it.'];
    const labels = (model: string, extra = '') => `{engine="${this.engine}",${extra}model_name="${model}"}`;
    const head = (name: string, help: string, type: string) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const each = (fn: (model: string, s: ModelStats) => void) => {
      for (const [m, s] of this.models) fn(m, s);
    };
    const gaugeValues: ((s: ModelStats) => number)[] = [(s) => s.running, (s) => s.waiting, (s) => Math.min(1, s.kvTokens / this.kvCacheTokens)];
    f.gauges.forEach(([name, help], i) => {
      head(name, help, 'gauge');
      each((m, s) => lines.push(`${name}${labels(m)} ${promFloat(gaugeValues[i]!(s))}`));
    });
    const counter = ([name, help]: readonly [string, string], value: (s: ModelStats) => number) => {
      head(name, help, 'counter');
      each((m, s) => lines.push(`${name}${labels(m)} ${promFloat(value(s))}`));
    };
    counter(f.counters.preemptions, () => 0);
    counter(f.counters.prompt, (s) => s.promptTokens);
    counter(f.counters.generation, (s) => s.generationTokens);
    head(f.counters.success[0], f.counters.success[1], 'counter');
    each((m, s) => {
      for (const r of FINISHED_REASONS) lines.push(`${f.counters.success[0]}${labels(m, `finished_reason="${r}",`)} ${promFloat(s.success[r])}`);
    });
    for (const h of VLLM_HISTOGRAMS) {
      const [name, help, bounds] = f.histograms[h];
      head(name, help, 'histogram');
      each((m, s) => {
        const hist = s.hist[h];
        let cum = 0;
        for (let i = 0; i <= bounds.length; i++) {
          cum += hist.counts[i]!;
          lines.push(`${name}_bucket${labels(m, `le="${promFloat(i < bounds.length ? bounds[i]! : Number.POSITIVE_INFINITY)}",`)} ${promFloat(cum)}`);
        }
        lines.push(`${name}_count${labels(m)} ${promFloat(hist.count)}`, `${name}_sum${labels(m)} ${promFloat(hist.sum)}`);
      });
    }
    return lines.join('\n') + '\n';
  }
}
