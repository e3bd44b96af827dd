// The SIMULATED fleet of `llmeter demo`: two GPU nodes (an on-demand A10G holding small models behind
// an Ollama-compatible server, a spot L40S holding a larger model behind an OpenAI-compatible,
// vLLM-like server with a vLLM /metrics page), a dcgm-exporter page per node, a spot price that
// moves, and three tenants with their keys. The shapes, models and habits come from catalog.ts and
// habits.ts, which the history generator reads too. Everything listens on 127.0.0.1 on ports the OS
// picks. Names say "sim" so nothing here is mistaken for a real server, node or price.
import { errorMessage } from '../../core/errors.ts';
import type { Component } from '../../core/lifecycle/component.ts';
import type { RecordSink } from '../../core/pipeline/pipeline.ts';
import type { PricePointRecord } from '../../core/schema/tables.ts';
import type { Logger } from '../../core/log.ts';
import { DEMO_SHAPES, SIM_MODELS, SIM_PROVIDER, SIM_REGION, SIM_SOURCE, SIM_ZONE, simGpuUuid, simNodeName, simServerName } from './catalog.ts';
import { SIM_HABITS } from './habits.ts';
import { SimGpuNode } from './gpu-node.ts';
import { SimModelServer } from './model-server.ts';
import { Prng } from './prng.ts';

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
  /** The server's vLLM /metrics page (vLLM-like servers). */
  metricsUrl?: string;
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
    this.tenants = SIM_HABITS.map((h) => ({ name: h.name, key: key(h.name.slice(0, h.name.indexOf('-'))), habit: h.description }));
    this.adminKey = key('admin');
    const spot = DEMO_SHAPES.find((x) => x.capacityType === 'spot')!;
    this.spot = new SimSpotPrice(this.prng.fork('spot'), spot.spotUsd!, spot.onDemandUsd);
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
    for (const [i, shape] of DEMO_SHAPES.entries()) {
      const node = simNodeName(shape.stem, i);
      const suffix = node.slice(node.lastIndexOf('-') + 1);
      const srv = shape.server!;
      const gpu = shape.gpu!;
      const server = new SimModelServer({
        name: simServerName(srv.kind, node),
        node,
        models: srv.models.map((m) => SIM_MODELS[m]!),
        parallel: srv.parallel,
        maxQueue: srv.maxQueue,
        errorRate: srv.errorRate,
        midstreamErrorRate: srv.midstreamErrorRate,
        prng: this.prng.fork(`server-${suffix}`),
        timeScale: opts.timeScale,
        keepAliveMs,
        ...(srv.kind === 'openai' ? { vllmMetrics: { kvCacheTokens: srv.kvCacheTokens } } : {}),
      });
      this.servers.push(server);
      const url = await server.listen();
      this.upstreams.push({
        name: server.options.name,
        url,
        node,
        kind: srv.kind,
        models: [...srv.models],
        ...(server.vllm ? { metricsUrl: `${url}/metrics` } : {}),
      });
      const g = new SimGpuNode({
        node,
        gpuModel: gpu.model,
        memoryMiB: gpu.memoryMiB,
        tdpW: gpu.tdpW,
        idleW: gpu.idleW,
        uuid: simGpuUuid(node, 0),
        servers: [server],
        prng: this.prng.fork(`gpu-${suffix}`),
      });
      this.gpus.push(g);
      this.nodes.push({
        node,
        instanceType: shape.instanceType,
        capacityType: shape.capacityType,
        gpuModel: gpu.model,
        pool: shape.pool,
        onDemandUsd: shape.onDemandUsd,
        ...(shape.spotUsd ? { spotUsd: shape.spotUsd } : {}),
        dcgmUrl: await g.listen(),
      });
    }
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
    return {
      effective_from: from,
      provider: SIM_PROVIDER,
      region: SIM_REGION,
      zone: capacity === 'spot' ? SIM_ZONE : '',
      instance_type: n.instanceType,
      capacity_type: capacity,
      os: 'linux',
      usd_per_hour: usd,
      usd_per_gpu_hour: usd,
      gpu_model: n.gpuModel,
      gpu_count: 1,
      raw_price: usd,
      raw_unit: 'hour',
      currency: 'USD',
      source: SIM_SOURCE,
      observed_at: Date.now(),
    };
  }

  private write(points: PricePointRecord[]): void {
    this.pending = this.sink
      .submit('price_point', points, { source: SIM_SOURCE })
      .catch((err: unknown) => this.log.warn('simulated price not written', { error: errorMessage(err) }));
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
