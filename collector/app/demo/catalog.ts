// What the SIMULATED fleet is made of, written once for the live simulator (`llmeter demo`) and the
// history generator (history.ts): the models and their speeds, the GPU boards, the node shapes (an
// instance type with its prices, its GPUs, and the model server on it) and the server limits. Both
// read the same numbers, so a demo run and a generated month behave alike.
import { fnv1a } from './prng.ts';

const GiB = 1024 ** 3;

export interface SimModel {
  name: string;
  /** Bytes of VRAM the model holds while resident. */
  sizeVram: number;
  /** Cold start (load) time, ms. */
  loadMs: number;
  /** Prompt processing rate, tokens per second. */
  prefillTps: number;
  /** Decode rate of a single stream, tokens per second. */
  decodeTps: number;
  family: string;
  parameterSize: string;
}

export const SIM_MODELS: Record<string, SimModel> = {
  'llama3.2:3b': {
    name: 'llama3.2:3b',
    sizeVram: Math.round(3.4 * GiB),
    loadMs: 2_500,
    prefillTps: 2_400,
    decodeTps: 95,
    family: 'llama',
    parameterSize: '3.2B',
  },
  'gemma3:4b': { name: 'gemma3:4b', sizeVram: Math.round(5.6 * GiB), loadMs: 3_200, prefillTps: 1_900, decodeTps: 70, family: 'gemma3', parameterSize: '4.3B' },
  'qwen2.5:14b': {
    name: 'qwen2.5:14b',
    sizeVram: Math.round(10.9 * GiB),
    loadMs: 6_000,
    prefillTps: 1_400,
    decodeTps: 38,
    family: 'qwen2',
    parameterSize: '14.8B',
  },
};

export interface SimMigSlice {
  /** GPU instance id as dcgm-exporter labels it (GPU_I_ID). */
  id: string;
  profile: string;
  memoryMiB: number;
  /** Share of the parent GPU's work that lands on this slice. */
  share: number;
}

export interface SimGpuBoard {
  model: string;
  /** Frame buffer size, MiB. */
  memoryMiB: number;
  /** Board power limit, W. */
  tdpW: number;
  idleW: number;
}

export const SIM_GPUS = {
  a10g: { model: 'NVIDIA A10G', memoryMiB: 23028, tdpW: 300, idleW: 24 },
  l40s: { model: 'NVIDIA L40S', memoryMiB: 46068, tdpW: 350, idleW: 32 },
  a100: { model: 'NVIDIA A100-SXM4-40GB', memoryMiB: 40960, tdpW: 400, idleW: 52 },
} as const satisfies Record<string, SimGpuBoard>;

export type SimServerKind = 'ollama' | 'openai';

/** A model server's limits and failure rates (Ollama's OLLAMA_NUM_PARALLEL / OLLAMA_MAX_QUEUE). */
export interface SimServerShape {
  /** ollama: Ollama's native API and /api/ps; openai: an OpenAI-compatible, vLLM-like server with a vLLM /metrics page. */
  kind: SimServerKind;
  models: readonly string[];
  /** Requests processed at once. */
  parallel: number;
  /** Requests waiting beyond that before 503. */
  maxQueue: number;
  /** Share of requests that fail with a 500 before any token. */
  errorRate: number;
  /** Share of streams that break with an error mid-stream. */
  midstreamErrorRate: number;
  /** KV cache capacity in tokens (the vLLM page's kv_cache_usage_perc). */
  kvCacheTokens: number;
}

export interface SimNodeShape {
  instanceType: string;
  capacityType: 'on_demand' | 'spot';
  /** The GPU board, absent on a CPU node. */
  gpu?: SimGpuBoard;
  gpuCount: number;
  /** MIG slices of the node's GPUs, by GPU index (a GPU not listed is whole). */
  mig?: Readonly<Record<number, readonly SimMigSlice[]>>;
  pool: string;
  tier: string;
  /** On-demand price of the instance, USD per hour (a decimal string). */
  onDemandUsd: string;
  /** Spot price of the instance type, where the walk starts (the market has one for on-demand shapes too). */
  spotUsd?: string;
  server?: SimServerShape;
  /** Name stem of nodes of this shape (sim-gpu, sim-cpu…). */
  stem: string;
}

/** The demo's two nodes, in order: an on-demand A10G behind Ollama, a spot L40S behind a vLLM-like server. */
export const SIM_SHAPES = {
  ollamaA10g: {
    instanceType: 'sim.g5.xlarge',
    capacityType: 'on_demand',
    gpu: SIM_GPUS.a10g,
    gpuCount: 1,
    pool: 'sim-small',
    tier: 'premium',
    onDemandUsd: '1.0060',
    spotUsd: '0.4420',
    stem: 'sim-gpu',
    server: {
      kind: 'ollama',
      models: ['llama3.2:3b', 'gemma3:4b'],
      parallel: 4,
      maxQueue: 6,
      errorRate: 0.01,
      midstreamErrorRate: 0.005,
      kvCacheTokens: 32_768,
    },
  },
  vllmL40s: {
    instanceType: 'sim.g6e.xlarge',
    capacityType: 'spot',
    gpu: SIM_GPUS.l40s,
    gpuCount: 1,
    pool: 'sim-large',
    tier: 'premium',
    onDemandUsd: '1.8610',
    spotUsd: '1.1520',
    stem: 'sim-gpu',
    server: { kind: 'openai', models: ['qwen2.5:14b'], parallel: 3, maxQueue: 1, errorRate: 0.015, midstreamErrorRate: 0.005, kvCacheTokens: 49_152 },
  },
  /** Two A100s, the second split into two MIG slices; serves the large model as a second replica. */
  a100Mig: {
    instanceType: 'sim.p4d.2xa100',
    capacityType: 'spot',
    gpu: SIM_GPUS.a100,
    gpuCount: 2,
    pool: 'sim-a100',
    tier: 'premium',
    onDemandUsd: '8.1932',
    spotUsd: '2.8750',
    stem: 'sim-gpu',
    mig: {
      1: [
        { id: '1', profile: '3g.20gb', memoryMiB: 19968, share: 0.7 },
        { id: '2', profile: '3g.20gb', memoryMiB: 19968, share: 0.3 },
      ],
    },
    server: { kind: 'openai', models: ['qwen2.5:14b'], parallel: 6, maxQueue: 4, errorRate: 0.01, midstreamErrorRate: 0.005, kvCacheTokens: 98_304 },
  },
  cpu: {
    instanceType: 'sim.m7i.2xlarge',
    capacityType: 'on_demand',
    gpuCount: 0,
    pool: 'sim-cpu',
    tier: 'standard',
    onDemandUsd: '0.4032',
    spotUsd: '0.1610',
    stem: 'sim-cpu',
  },
} as const satisfies Record<string, SimNodeShape>;

/** The demo's GPU node shapes, in order: node i of a generated fleet takes DEMO_SHAPES[i % 2]. */
export const DEMO_SHAPES: readonly SimNodeShape[] = [SIM_SHAPES.ollamaA10g, SIM_SHAPES.vllmL40s];

/** Node names as the demo gives them: sim-gpu-a, sim-gpu-b…, then sim-gpu-26… past the alphabet. */
export function simNodeName(stem: string, i: number): string {
  return `${stem}-${i < 26 ? String.fromCharCode(97 + i) : String(i)}`;
}

/** The model server's name on a node: sim-ollama-a, sim-openai-b… */
export function simServerName(kind: SimServerKind, node: string): string {
  return `sim-${kind}-${node.slice(node.lastIndexOf('-') + 1)}`;
}

/** A GPU's UUID on a simulated node: fixed per node name and index, shaped like the real ones. */
export function simGpuUuid(node: string, index: number): string {
  const hex = fnv1a(node).toString(16).padStart(8, '0');
  return `GPU-5a${hex.slice(2)}-0000-4000-8000-${String(index).padStart(12, '0')}`;
}

/** A model's digest as Ollama reports it (64 hex digits, no `sha256:` prefix), fixed per name. */
export function simModelDigest(name: string): string {
  return fnv1a(name).toString(16).padStart(8, '0').repeat(8);
}

export const SIM_PROVIDER = 'sim';
export const SIM_REGION = 'sim-region-1';
export const SIM_ZONE = 'sim-region-1a';
export const SIM_SOURCE = 'simulated';

/** Ollama's default keep_alive: an idle model is unloaded after it. */
export const OLLAMA_KEEP_ALIVE_MS = 300_000;
