// The vLLM page of a generated vLLM-like server, kept as what the vLLM scraper would store of it: per
// scrape interval, the counter and histogram deltas of the requests' events that fell in it, and the
// gauges at the scrape. Intervals live in a ring of flat number arrays, so a month of scrapes costs
// no allocation beyond the rows written.
import type { ModelServerSampleRecord } from '../../core/schema/tables.ts';
import { FINISHED_REASONS, VLLM_HISTOGRAMS, VLLM_SIM_FAMILIES, bucketOf, type FinishedReason, type VllmHistogramName } from './vllm-page.ts';

const RUN_D = 0;
const WAIT_D = 1;
const KV = 2;
const GEN = 3;
const PROMPT = 4;
const SUCCESS = 5; // stop, length, abort
const HIST0 = SUCCESS + FINISHED_REASONS.length;

const BOUNDS: Record<VllmHistogramName, readonly number[]> = {
  ttft: VLLM_SIM_FAMILIES.histograms.ttft[2],
  itl: VLLM_SIM_FAMILIES.histograms.itl[2],
  e2e: VLLM_SIM_FAMILIES.histograms.e2e[2],
  queue: VLLM_SIM_FAMILIES.histograms.queue[2],
};

/** Offset of each histogram's buckets (bounds + 1, then the sum) within an interval's slot. */
const HIST_AT = {} as Record<VllmHistogramName, number>;
let stride = HIST0;
for (const h of VLLM_HISTOGRAMS) {
  HIST_AT[h] = stride;
  stride += BOUNDS[h].length + 2;
}
const STRIDE = stride;

// Label maps are shared between rows (nothing downstream changes them). `le` as the scraper stores it (1.0 → "1").
const NO_LABELS: Record<string, string> = Object.freeze({}) as Record<string, string>;
const LE: Record<VllmHistogramName, Record<string, string>[]> = {} as Record<VllmHistogramName, Record<string, string>[]>;
for (const h of VLLM_HISTOGRAMS) LE[h] = [...BOUNDS[h].map((b) => String(b)), '+Inf'].map((le) => Object.freeze({ le }));
const REASON_INDEX: Record<FinishedReason, number> = { stop: 0, length: 1, abort: 2 };
const REASON_LABELS: Record<FinishedReason, Record<string, string>> = {
  stop: Object.freeze({ finished_reason: 'stop' }),
  length: Object.freeze({ finished_reason: 'length' }),
  abort: Object.freeze({ finished_reason: 'abort' }),
};

export class VllmHistoryPage {
  private readonly ring: number;
  private readonly data: Float64Array;
  private running = 0;
  private waiting = 0;
  readonly server: string;
  readonly node: string;
  readonly model: string;
  private readonly kvCacheTokens: number;

  constructor(server: string, node: string, model: string, kvCacheTokens: number, ring: number) {
    this.server = server;
    this.node = node;
    this.model = model;
    this.kvCacheTokens = kvCacheTokens;
    this.ring = ring;
    this.data = new Float64Array(ring * STRIDE);
  }

  private at(k: number): number {
    return (k % this.ring) * STRIDE;
  }

  /** Requests running at scrapes k0 … k1-1 (or waiting, with `waiting`). */
  span(k0: number, k1: number, waiting: boolean): void {
    if (k1 <= k0) return;
    const f = waiting ? WAIT_D : RUN_D;
    this.data[this.at(k0) + f]! += 1;
    this.data[this.at(k1) + f]! -= 1;
  }

  kv(k: number, tokens: number): void {
    this.data[this.at(k) + KV]! += tokens;
  }

  tokens(k: number, generated: number, prompt: number): void {
    const b = this.at(k);
    this.data[b + GEN]! += generated;
    this.data[b + PROMPT]! += prompt;
  }

  finished(k: number, reason: FinishedReason): void {
    this.data[this.at(k) + SUCCESS + REASON_INDEX[reason]]! += 1;
  }

  observe(k: number, h: VllmHistogramName, seconds: number): void {
    const b = this.at(k) + HIST_AT[h];
    this.data[b + bucketOf(BOUNDS[h], seconds)]! += 1;
    this.data[b + BOUNDS[h].length + 1]! += seconds;
  }

  /** `n` gaps between tokens, each uniform in ±15 % of `mean` seconds, spread over the buckets they fall in. */
  observeGaps(k: number, mean: number, n: number): void {
    if (n <= 0) return;
    const bounds = BOUNDS.itl;
    const b = this.at(k) + HIST_AT.itl;
    let prev = 0;
    for (let i = 0; i < bounds.length; i++) {
      const share = Math.min(1, Math.max(0, (bounds[i]! - 0.85 * mean) / (0.3 * mean)));
      const cum = Math.round(n * share);
      this.data[b + i]! += cum - prev;
      prev = cum;
    }
    this.data[b + bounds.length]! += n - prev;
    this.data[b + bounds.length + 1]! += n * mean;
  }

  private row(ts: number, metric: string, kind: ModelServerSampleRecord['kind'], value: number, labels: Record<string, string>): ModelServerSampleRecord {
    return { ts, server: this.server, node: this.node, model: this.model, engine: '0', metric, kind, value, labels };
  }

  /** The rows of scrape k at `ts`; the interval's slot is then free for scrape k + ring. */
  emit(k: number, ts: number, out: ModelServerSampleRecord[] | undefined): void {
    const b = this.at(k);
    const d = this.data;
    this.running += d[b + RUN_D]!;
    this.waiting += d[b + WAIT_D]!;
    if (out) {
      const f = VLLM_SIM_FAMILIES;
      out.push(this.row(ts, f.gauges[0][0], 'gauge', this.running, NO_LABELS));
      out.push(this.row(ts, f.gauges[1][0], 'gauge', this.waiting, NO_LABELS));
      out.push(this.row(ts, f.gauges[2][0], 'gauge', Math.min(1, d[b + KV]! / this.kvCacheTokens), NO_LABELS));
      out.push(this.row(ts, f.counters.preemptions[0], 'counter_delta', 0, NO_LABELS));
      out.push(this.row(ts, f.counters.prompt[0], 'counter_delta', d[b + PROMPT]!, NO_LABELS));
      out.push(this.row(ts, f.counters.generation[0], 'counter_delta', d[b + GEN]!, NO_LABELS));
      for (const r of FINISHED_REASONS) out.push(this.row(ts, f.counters.success[0], 'counter_delta', d[b + SUCCESS + REASON_INDEX[r]]!, REASON_LABELS[r]));
      for (const h of VLLM_HISTOGRAMS) {
        const metric = f.histograms[h][0];
        const at = b + HIST_AT[h];
        const n = BOUNDS[h].length;
        const le = LE[h];
        let cum = 0;
        for (let i = 0; i <= n; i++) {
          cum += d[at + i]!;
          out.push(this.row(ts, metric, 'histogram_bucket_delta', cum, le[i]!));
        }
        out.push(this.row(ts, metric, 'histogram_count_delta', cum, NO_LABELS));
        out.push(this.row(ts, metric, 'histogram_sum_delta', d[at + n + 1]!, NO_LABELS));
      }
    }
    d.fill(0, b, b + STRIDE);
  }
}
