// Builds small, exact fleets for cost tests: nodes with inventory, GPU samples every 15 s while up,
// price changes, and requests with known GPU-seconds.
import { Registry } from 'prom-client';
import { configSchema } from '../../collector/app/config-schema.ts';
import { silentLogger } from '../../collector/core/log.ts';
import { Pipeline, storeInserter } from '../../collector/core/pipeline/pipeline.ts';
import { openTestStore, type TestStore } from './store.ts';
import type { GpuSampleRecord, LlmRequestRecord, ModelStateRecord, NodeRecord, PricePointRecord } from '../../collector/core/schema/tables.ts';

export const H = 3_600_000;
export const M = 60_000;

export interface FleetNode {
  node: string;
  instance_type: string;
  capacity_type?: 'on_demand' | 'spot';
  zone?: string;
  region?: string;
  gpus?: number;
  pool?: string;
  tier?: string;
  /** [from, to) in epoch ms during which the node is up (scraped every 15 s). */
  up: [number, number][];
}

export class FleetBuilder {
  nodes: NodeRecord[] = [];
  samples: GpuSampleRecord[] = [];
  prices: PricePointRecord[] = [];
  requests: LlmRequestRecord[] = [];
  states: ModelStateRecord[] = [];
  private seq = 0;

  node(n: FleetNode): this {
    const first = n.up[0]?.[0] ?? 0;
    this.nodes.push({
      ts: first - M,
      node: n.node,
      instance_type: n.instance_type,
      provider: 'aws',
      region: n.region ?? 'us-east-1',
      zone: n.zone ?? 'us-east-1a',
      capacity_type: n.capacity_type ?? 'on_demand',
      gpu_count: n.gpus ?? 1,
      gpu_model: 'NVIDIA A10G',
      pool: n.pool ?? 'gpu-pool',
      tier: n.tier ?? 'premium',
    });
    for (const [from, to] of n.up) {
      for (let t = from; t < to; t += 15_000) {
        this.samples.push({ ts: t, node: n.node, gpu_uuid: `GPU-${n.node}`, field: 'gpu_utilization', value: 0.5, unit: 'ratio' });
      }
    }
    return this;
  }

  price(p: {
    instance_type: string;
    from: number;
    usd: string;
    capacity_type?: 'on_demand' | 'spot';
    zone?: string;
    provider?: string;
    region?: string;
  }): this {
    this.prices.push({
      effective_from: p.from,
      provider: p.provider ?? 'aws',
      region: p.region ?? 'us-east-1',
      zone: p.zone ?? '',
      instance_type: p.instance_type,
      capacity_type: p.capacity_type ?? 'on_demand',
      usd_per_hour: p.usd,
      source: 'test',
      observed_at: p.from,
    });
    return this;
  }

  /** A request on `node` whose prompt-eval + eval time is `gpuSeconds`. */
  request(r: {
    tenant: string;
    node: string;
    at: number;
    gpuSeconds?: number;
    wallSeconds?: number;
    tokensIn?: number;
    tokensOut?: number;
    model?: string;
    loadSeconds?: number;
  }): this {
    const ns = Math.round((r.gpuSeconds ?? 0) * 1e9);
    this.requests.push({
      ts: r.at,
      request_id: `req-${++this.seq}`,
      tenant: r.tenant,
      model: r.model ?? 'llama3.2:3b',
      node: r.node,
      backend: r.node,
      status: 200,
      input_tokens: r.tokensIn ?? 100,
      output_tokens: r.tokensOut ?? 200,
      duration_ms: (r.wallSeconds ?? r.gpuSeconds ?? 0) * 1000,
      prompt_eval_duration_ns: Math.floor(ns / 10),
      eval_duration_ns: ns - Math.floor(ns / 10),
      load_duration_ns: Math.round((r.loadSeconds ?? 0) * 1e9),
    });
    return this;
  }

  resident(r: { node: string; from: number; to: number; model?: string }): this {
    for (let t = r.from; t < r.to; t += 30_000)
      this.states.push({ ts: t, server: `ollama-${r.node}`, node: r.node, model: r.model ?? 'llama3.2:3b', size_vram_bytes: 5e9 });
    return this;
  }

  async load(p: Pipeline): Promise<void> {
    const all = await Promise.all([
      p.submit('node', this.nodes, { source: 'test' }),
      p.submit('gpu_sample', this.samples, { source: 'test' }),
      p.submit('price_point', this.prices, { source: 'test' }),
      p.submit('llm_request', this.requests, { source: 'test' }),
      p.submit('model_state', this.states, { source: 'test' }),
    ]);
    for (const r of all) {
      if (r.rejected || r.dropped) throw new Error(`fleet data refused: ${JSON.stringify(r.reasons)}`);
      await r.durable;
    }
  }
}

export interface CostStore {
  store: TestStore['store'];
  pipeline: Pipeline;
  close(): Promise<void>;
}

/** An embedded store with a fast-flushing pipeline into it, for loading fleets. */
export async function openCostStore(): Promise<CostStore> {
  const t = await openTestStore();
  const pipeline = new Pipeline({
    config: configSchema.parse({ pipeline: { batch_ms: 10 } }).pipeline,
    inserter: storeInserter(t.store),
    registry: new Registry(),
    log: silentLogger,
  });
  return {
    store: t.store,
    pipeline,
    async close() {
      await pipeline.shutdown();
      await t.close();
    },
  };
}
