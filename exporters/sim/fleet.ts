// The SIMULATED fleet of `llmeter demo`: two GPU nodes (an on-demand A10G holding small models behind
// an Ollama-compatible server, a spot L40S holding a larger model behind an OpenAI-compatible
// server), a dcgm-exporter page per node, a spot price that moves, and three tenants with their keys.
// Everything listens on 127.0.0.1 on ports the OS picks. Names say "sim" so nothing here is mistaken
// for a real server, node or price.
import type { Component } from '../../collector/lifecycle/component.ts';
import type { RecordSink } from '../../collector/pipeline/pipeline.ts';
import type { PricePointRecord } from '../../collector/schema/tables.ts';
import type { Logger } from '../../collector/log.ts';
import { SimGpuNode } from './gpu-node.ts';
import { SimModelServer, type SimModel } from './model-server.ts';
import { Prng } from './prng.ts';

export const SIM_PROVIDER = 'sim';
export const SIM_REGION = 'sim-region-1';
export const SIM_ZONE = 'sim-region-1a';
export const SIM_SOURCE = 'simulated';

const GiB = 1024 ** 3;

export const SIM_MODELS: Record<string, SimModel> = {
  'llama3.2:3b': { name: 'llama3.2:3b', sizeVram: Math.round(3.4 * GiB), loadMs: 2_500, prefillTps: 2_400, decodeTps: 95, family: 'llama', parameterSize: '3.2B' },
  'gemma3:4b': { name: 'gemma3:4b', sizeVram: Math.round(5.6 * GiB), loadMs: 3_200, prefillTps: 1_900, decodeTps: 70, family: 'gemma3', parameterSize: '4.3B' },
  'qwen2.5:14b': { name: 'qwen2.5:14b', sizeVram: Math.round(10.9 * GiB), loadMs: 6_000, prefillTps: 1_400, decodeTps: 38, family: 'qwen2', parameterSize: '14.8B' },
};

export interface SimNodeInfo {
  node: string;
  instanceType: string;
  capacityType: 'on_demand' | 'spot';
  gpuModel: string;
  pool: string;
  /** On-demand price of the instance, USD per hour (a decimal string). */
  onDemandUsd: string;
  /** Spot price to start from (spot nodes only). */
  spotUsd?: string;
  dcgmUrl: string;
}

export interface SimUpstreamInfo {
  name: string;
  url: string;
  node: string;
  kind: 'ollama' | 'openai';
  models: string[];
}

export interface SimTenant {
  name: string;
  key: string;
  /** What the tenant is like, for the demo's output. */
  habit: string;
}

export interface SimFleetOptions {
  seed: number;
  /** Multiplies every delay of the model servers (1 = real time). */
  timeScale?: number;
  /** Milliseconds an idle model stays resident (cold starts recur after it). */
  keepAliveMs?: number;
}

export class SimFleet {
  readonly seed: number;
  readonly prng: Prng;
  readonly servers: SimModelServer[] = [];
  readonly gpus: SimGpuNode[] = [];
  readonly nodes: SimNodeInfo[] = [];
  readonly upstreams: SimUpstreamInfo[] = [];
  readonly tenants: SimTenant[];
  /** Admin key of the demo's collector (for /api/sql and /api/chargeback: `llmeter top`). */
  readonly adminKey: string;
  readonly spot: SimSpotPrice;

  private constructor(opts: SimFleetOptions) {
    this.seed = opts.seed;
    this.prng = new Prng(opts.seed);
    const keyRng = this.prng.fork('keys');
    const key = (t: string) => `sim_${t}_${Array.from({ length: 24 }, () => keyRng.int(0, 15).toString(16)).join('')}`;
    this.tenants = [
      { name: 'acme-chat', key: key('acme'), habit: 'interactive chat app: steady short streaming chats (Ollama API, llama3.2:3b, gemma3:4b)' },
      { name: 'globex-batch', key: key('globex'), habit: 'document summaries: long prompts, non-streaming, a few at a time (OpenAI API, qwen2.5:14b)' },
      { name: 'initech-agents', key: key('initech'), habit: 'agents: bursts of parallel streaming calls, then quiet (OpenAI API, both nodes)' },
    ];
    this.adminKey = key('admin');
    this.spot = new SimSpotPrice(this.prng.fork('spot'), '1.1520', '1.8610');
  }

  static async start(opts: SimFleetOptions): Promise<SimFleet> {
    const f = new SimFleet(opts);
    try {
      await f.build(opts);
    } catch (err) {
      await f.stop();
      throw err;
    }
    return f;
  }

  private async build(opts: SimFleetOptions): Promise<void> {
    const keepAliveMs = opts.keepAliveMs ?? 30_000;
    const common = { timeScale: opts.timeScale, keepAliveMs };
    const a = new SimModelServer({ name: 'sim-ollama-a', node: 'sim-gpu-a', models: [SIM_MODELS['llama3.2:3b']!, SIM_MODELS['gemma3:4b']!], parallel: 4, maxQueue: 6, errorRate: 0.01, midstreamErrorRate: 0.005, prng: this.prng.fork('server-a'), ...common });
    const b = new SimModelServer({ name: 'sim-openai-b', node: 'sim-gpu-b', models: [SIM_MODELS['qwen2.5:14b']!], parallel: 3, maxQueue: 1, errorRate: 0.015, midstreamErrorRate: 0.005, prng: this.prng.fork('server-b'), ...common });
    this.servers.push(a, b);
    this.upstreams.push({ name: a.options.name, url: await a.listen(), node: 'sim-gpu-a', kind: 'ollama', models: a.options.models.map((m) => m.name) });
    this.upstreams.push({ name: b.options.name, url: await b.listen(), node: 'sim-gpu-b', kind: 'openai', models: b.options.models.map((m) => m.name) });
    const ga = new SimGpuNode({ node: 'sim-gpu-a', gpuModel: 'NVIDIA A10G', memoryMiB: 23028, tdpW: 300, idleW: 24, uuid: 'GPU-5a1a0000-0000-4000-8000-00000000000a', servers: [a], prng: this.prng.fork('gpu-a') });
    const gb = new SimGpuNode({ node: 'sim-gpu-b', gpuModel: 'NVIDIA L40S', memoryMiB: 46068, tdpW: 350, idleW: 32, uuid: 'GPU-5a1b0000-0000-4000-8000-00000000000b', servers: [b], prng: this.prng.fork('gpu-b') });
    this.gpus.push(ga, gb);
    this.nodes.push({ node: 'sim-gpu-a', instanceType: 'sim.g5.xlarge', capacityType: 'on_demand', gpuModel: 'NVIDIA A10G', pool: 'sim-small', onDemandUsd: '1.0060', dcgmUrl: await ga.listen() });
    this.nodes.push({ node: 'sim-gpu-b', instanceType: 'sim.g6e.xlarge', capacityType: 'spot', gpuModel: 'NVIDIA L40S', pool: 'sim-large', onDemandUsd: '1.8610', spotUsd: '1.1520', dcgmUrl: await gb.listen() });
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.servers.map((s) => s.close()), ...this.gpus.map((g) => g.close())]);
  }
}

/**
 * A spot price that moves: a bounded random walk in tenths of a cent around its start, never above
 * on-demand. Kept as integer ten-thousandths of a dollar so no float ever becomes a price.
 */
export class SimSpotPrice {
  private readonly prng: Prng;
  private readonly startE4: number;
  private readonly capE4: number;
  private currentE4: number;
  constructor(prng: Prng, start: string, onDemand: string) {
    this.prng = prng;
    this.startE4 = toE4(start);
    this.capE4 = toE4(onDemand);
    this.currentE4 = this.startE4;
  }

  get current(): string {
    return fromE4(this.currentE4);
  }

  /** Moves the price one step (mean-reverting, up to about ±4 %). */
  step(): string {
    const pull = (this.startE4 - this.currentE4) * 0.2;
    const move = Math.round(pull + this.prng.normal(0, this.startE4 * 0.02));
    this.currentE4 = Math.max(Math.round(this.startE4 * 0.6), Math.min(this.capE4, this.currentE4 + move));
    return this.current;
  }
}

function toE4(s: string): number {
  const [i, f = ''] = s.split('.');
  return Number(i) * 10_000 + Number((f + '0000').slice(0, 4));
}

function fromE4(n: number): string {
  return `${Math.floor(n / 10_000)}.${String(n % 10_000).padStart(4, '0')}`;
}

/**
 * The demo's price source: writes the spot node's price (moving every `intervalMs`) and the on-demand
 * price of each simulated instance type as price_point records, provider "sim", source "simulated".
 * The first points hold from an hour back so the whole demo is priced.
 */
export class SimPriceFeed implements Component {
  readonly name = 'sim-prices';
  private timer: NodeJS.Timeout | undefined;
  private readonly fleet: SimFleet;
  private readonly sink: RecordSink;
  private readonly intervalMs: number;
  private readonly log: Logger;
  private pending: Promise<unknown> = Promise.resolve();
  /** Every spot price written, in order (the demo prints the range). */
  readonly history: { at: number; usd: string }[] = [];

  constructor(fleet: SimFleet, sink: RecordSink, log: Logger, intervalMs = 10_000) {
    this.fleet = fleet;
    this.sink = sink;
    this.log = log;
    this.intervalMs = intervalMs;
  }

  private point(n: SimNodeInfo, capacity: 'on_demand' | 'spot', usd: string, from: number): PricePointRecord {
    return { effective_from: from, provider: SIM_PROVIDER, region: SIM_REGION, zone: '', instance_type: n.instanceType, capacity_type: capacity, os: 'linux', usd_per_hour: usd, usd_per_gpu_hour: usd, gpu_model: n.gpuModel, gpu_count: 1, raw_price: usd, raw_unit: 'hour', currency: 'USD', source: SIM_SOURCE, observed_at: Date.now() };
  }

  private write(points: PricePointRecord[]): void {
    this.pending = this.sink.submit('price_point', points, { source: SIM_SOURCE }).catch((err: unknown) => this.log.warn('simulated price not written', { error: (err as Error).message }));
  }

  async start(): Promise<void> {
    const from = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
    const first: PricePointRecord[] = [];
    for (const n of this.fleet.nodes) {
      first.push(this.point(n, 'on_demand', n.onDemandUsd, from));
      if (n.capacityType === 'spot') {
        first.push(this.point(n, 'spot', this.fleet.spot.current, from));
        this.history.push({ at: from, usd: this.fleet.spot.current });
      }
    }
    this.write(first);
    await this.pending;
    this.timer = setInterval(() => {
      const usd = this.fleet.spot.step();
      const at = Date.now();
      this.history.push({ at, usd });
      this.write(this.fleet.nodes.filter((n) => n.capacityType === 'spot').map((n) => this.point(n, 'spot', usd, at)));
    }, this.intervalMs);
    this.timer.unref();
  }

  async forceFlush(): Promise<void> {
    await this.pending;
  }

  async shutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.pending;
  }
}
