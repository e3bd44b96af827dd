// A small, deterministic, realistic fleet written to every table, for testing the dashboards' and
// cost alerts' SQL: four nodes (an 8-GPU spot A100 box with a MIG-partitioned GPU, an on-demand and a
// spot L4, a CPU node), hourly spot price walks, eight hours of DCGM samples, requests of three
// tenants on three models with errors, queue-full refusals and cold starts, vLLM gauges, Ollama
// /api/ps states, XIDs, a spot interruption with the node going down and up, browser events and
// dead letters. Same seed, same rows.
import type { Collector } from '../../collector/runtime.ts';
import type {
  CapacityEventRecord,
  FrontendEventRecord,
  GpuSampleRecord,
  LlmRequestRecord,
  ModelServerSampleRecord,
  ModelStateRecord,
  NodeRecord,
  PricePointRecord,
  SignalRecords,
} from '../../collector/schema/tables.ts';

export const FLEET_FROM = Date.parse('2026-03-02T00:00:00Z');
export const FLEET_HOURS = 8;
export const FLEET_TO = FLEET_FROM + FLEET_HOURS * 3_600_000;
const MIN = 60_000;
const HOUR = 3_600_000;

/** mulberry32: a tiny seeded PRNG, so the fleet is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface FleetNode {
  node: string;
  instance_type: string;
  zone: string;
  capacity_type: 'spot' | 'on_demand';
  gpu_model: string;
  gpu_count: number;
  pool: string;
  tier: string;
}

const NODES: readonly FleetNode[] = [
  { node: 'gpu-a100-1', instance_type: 'p4d.24xlarge', zone: 'us-east-1a', capacity_type: 'spot', gpu_model: 'NVIDIA A100-SXM4-40GB', gpu_count: 8, pool: 'gpu-a100', tier: 'premium' },
  { node: 'gpu-l4-1', instance_type: 'g6.xlarge', zone: 'us-east-1a', capacity_type: 'on_demand', gpu_model: 'NVIDIA L4', gpu_count: 1, pool: 'gpu-l4', tier: 'premium' },
  { node: 'gpu-l4-2', instance_type: 'g6.xlarge', zone: 'us-east-1b', capacity_type: 'spot', gpu_model: 'NVIDIA L4', gpu_count: 1, pool: 'gpu-l4', tier: 'premium' },
  { node: 'cpu-1', instance_type: 'm7i.2xlarge', zone: 'us-east-1a', capacity_type: 'on_demand', gpu_model: '', gpu_count: 0, pool: 'cpu', tier: 'standard' },
];

const ON_DEMAND: Record<string, number> = { 'p4d.24xlarge': 32.7726, 'g6.xlarge': 0.8048, 'm7i.2xlarge': 0.4032 };
const SPOT_START: Record<string, number> = { 'p4d.24xlarge': 11.5, 'g6.xlarge': 0.36, 'm7i.2xlarge': 0.17 };

interface Gpu {
  node: string;
  uuid: string;
  index: number;
  model: string;
  fbTotal: number;
  slices: readonly { id: string; profile: string; fbTotal: number }[];
  pod: { namespace: string; pod: string; container: string } | undefined;
}

const GIB = 2 ** 30;
const GPUS: readonly Gpu[] = [
  { node: 'gpu-a100-1', uuid: 'GPU-a100-0000', index: 0, model: 'NVIDIA A100-SXM4-40GB', fbTotal: 40 * GIB, slices: [], pod: { namespace: 'llm', pod: 'vllm-llama-70b-0', container: 'vllm' } },
  { node: 'gpu-a100-1', uuid: 'GPU-a100-0001', index: 1, model: 'NVIDIA A100-SXM4-40GB', fbTotal: 40 * GIB, slices: [{ id: '1', profile: '3g.20gb', fbTotal: 20 * GIB }, { id: '2', profile: '3g.20gb', fbTotal: 20 * GIB }], pod: undefined },
  { node: 'gpu-l4-1', uuid: 'GPU-l4-1000', index: 0, model: 'NVIDIA L4', fbTotal: 24 * GIB, slices: [], pod: { namespace: 'llm', pod: 'ollama-0', container: 'ollama' } },
  { node: 'gpu-l4-2', uuid: 'GPU-l4-2000', index: 0, model: 'NVIDIA L4', fbTotal: 24 * GIB, slices: [], pod: { namespace: 'llm', pod: 'ollama-1', container: 'ollama' } },
];

const MODELS = [
  { model: 'llama3.1:70b', backend: 'vllm-llama', nodes: ['gpu-a100-1'], api: 'openai' as const, baseMs: 2200 },
  { model: 'qwen2.5:7b', backend: 'ollama', nodes: ['gpu-l4-1', 'gpu-l4-2'], api: 'ollama' as const, baseMs: 700 },
  { model: 'mistral:7b', backend: 'ollama', nodes: ['gpu-l4-2'], api: 'ollama' as const, baseMs: 600 },
];
const TENANTS = ['acme', 'globex', 'initech'];

export type FleetRecords = { [S in keyof SignalRecords]: SignalRecords[S][] };

export interface DeadLetterRow {
  ts: string;
  signal: string;
  reason: string;
  payload: string;
  source: string;
}

export function generateFleet(seed = 42): { records: FleetRecords; deadLetters: DeadLetterRow[] } {
  const rnd = prng(seed);
  const nodes: NodeRecord[] = [];
  for (let t = FLEET_FROM; t < FLEET_TO; t += 15 * MIN) {
    for (const n of NODES) nodes.push({ ts: t, node: n.node, instance_type: n.instance_type, instance_id: `i-${n.node}`, provider: 'aws', region: 'us-east-1', zone: n.zone, capacity_type: n.capacity_type, gpu_model: n.gpu_model, gpu_count: n.gpu_count, pool: n.pool, tier: n.tier });
  }

  const prices: PricePointRecord[] = [];
  const price = (effective: number, type: string, zone: string, capacity: 'spot' | 'on_demand', usd: number): PricePointRecord => {
    const gpus = NODES.find((n) => n.instance_type === type)?.gpu_count ?? 0;
    const gpuModel = NODES.find((n) => n.instance_type === type)?.gpu_model ?? '';
    return { effective_from: effective, provider: 'aws', region: 'us-east-1', zone, instance_type: type, capacity_type: capacity, os: 'linux', usd_per_hour: usd.toFixed(4), usd_per_gpu_hour: gpus > 0 ? (usd / gpus).toFixed(6) : '0', gpu_model: gpuModel, gpu_count: gpus, source: 'test-fleet', observed_at: effective };
  };
  for (const [type, usd] of Object.entries(ON_DEMAND)) prices.push(price(FLEET_FROM - 24 * HOUR, type, '', 'on_demand', usd));
  for (const [type, start] of Object.entries(SPOT_START)) {
    for (const zone of ['us-east-1a', 'us-east-1b']) {
      let p = start * (zone.endsWith('b') ? 1.07 : 1);
      for (let h = -1; h < FLEET_HOURS; h++) {
        p *= 1 + (rnd() - 0.5) * 0.1;
        prices.push(price(FLEET_FROM + h * HOUR, type, zone, 'spot', p));
      }
    }
  }

  const gpuSamples: GpuSampleRecord[] = [];
  for (let t = FLEET_FROM; t < FLEET_TO; t += MIN) {
    const hour = (t - FLEET_FROM) / HOUR;
    for (const g of GPUS) {
      const busy = Math.min(1, Math.max(0, 0.55 + 0.3 * Math.sin(hour + g.index) + (rnd() - 0.5) * 0.2));
      const pod = g.pod ?? { namespace: '', pod: '', container: '' };
      const s = (field: string, value: number, unit: string, slice?: { id: string; profile: string }) =>
        gpuSamples.push({ ts: t, node: g.node, gpu_uuid: g.uuid, gpu_index: g.index, gpu_model: g.model, mig_instance: slice?.id ?? '', mig_profile: slice?.profile ?? '', field, value, unit, ...pod });
      const used = g.fbTotal * (0.3 + 0.6 * busy);
      s('gpu_util', busy, 'ratio');
      s('utilization', busy, 'ratio');
      s('gpu_temp', Math.round(40 + 40 * busy + rnd() * 4), 'celsius');
      s('power_usage', 60 + 300 * busy, 'watts');
      s('sm_clock', 1.41e9 - (busy > 0.8 ? 0.2e9 : 0), 'hz');
      s('fb_total', g.fbTotal, 'bytes');
      s('fb_used', used, 'bytes');
      s('fb_free', g.fbTotal - used, 'bytes');
      for (const slice of g.slices) {
        const u = Math.min(1, busy * (slice.id === '1' ? 1.1 : 0.5));
        s('utilization', u, 'ratio', slice);
        s('prof_gr_engine_active', u, 'ratio', slice);
        s('fb_used', slice.fbTotal * (0.2 + 0.7 * u), 'bytes', slice);
      }
    }
  }

  const requests: LlmRequestRecord[] = [];
  for (let i = 0, t = FLEET_FROM; t < FLEET_TO; i++, t += 5_000 + Math.floor(rnd() * 10_000)) {
    const m = MODELS[Math.floor(rnd() * MODELS.length)]!;
    const node = m.nodes[Math.floor(rnd() * m.nodes.length)]!;
    const tenant = TENANTS[Math.floor(rnd() * TENANTS.length)]!;
    const roll = rnd();
    const input = 200 + Math.floor(rnd() * 2000);
    const output = 50 + Math.floor(rnd() * 600);
    const cold = rnd() < 0.01;
    const duration = Math.round(m.baseMs * (0.5 + rnd()) + output * 8 + (cold ? 4000 : 0));
    const stream = rnd() < 0.7;
    const base: LlmRequestRecord = {
      ts: t, request_id: `req-${i}`, tenant, model: m.model, endpoint: m.api === 'openai' ? '/v1/chat/completions' : '/api/chat', api: m.api, backend: m.backend, node,
      status: 200, stream, input_tokens: input, output_tokens: output, cached_tokens: Math.floor(input * 0.2 * rnd()),
      ttfb_ms: Math.round(duration * 0.1), ttft_ms: stream ? Math.round(150 + input * 0.2 + (cold ? 4000 : 0)) : null, duration_ms: duration,
      queue_ms: Math.round(rnd() < 0.1 ? rnd() * 2000 : rnd() * 20), proxy_overhead_ms: 1,
      load_duration_ns: cold ? 4e9 : Math.floor(rnd() * 2e7), prompt_eval_duration_ns: Math.round(input * 2e5), eval_duration_ns: Math.round(output * 2.5e7),
      total_duration_ns: duration * 1e6, source: 'proxy',
    };
    if (roll < 0.02) requests.push({ ...base, status: 500, error: 'upstream returned 500', error_kind: 'upstream_status', output_tokens: 0, ttft_ms: null, eval_duration_ns: 0 });
    else if (roll < 0.03) requests.push({ ...base, status: 503, error: 'queue full', error_kind: 'queue_full', input_tokens: 0, output_tokens: 0, ttft_ms: null, duration_ms: 2, prompt_eval_duration_ns: 0, eval_duration_ns: 0, load_duration_ns: 0 });
    else if (roll < 0.04) requests.push({ ...base, error: 'stream ended without done', error_kind: 'stream_error' });
    else if (roll < 0.05) requests.push({ ...base, status: 0, error: 'client went away', error_kind: 'client_abort' });
    else requests.push(base);
  }

  const serverSamples: ModelServerSampleRecord[] = [];
  for (let t = FLEET_FROM; t < FLEET_TO; t += MIN) {
    const running = Math.floor(rnd() * 12);
    serverSamples.push({ ts: t, server: 'vllm-llama', node: 'gpu-a100-1', model: 'llama3.1:70b', engine: '0', metric: 'vllm:num_requests_running', kind: 'gauge', value: running, labels: {} });
    serverSamples.push({ ts: t, server: 'vllm-llama', node: 'gpu-a100-1', model: 'llama3.1:70b', engine: '0', metric: 'vllm:num_requests_waiting', kind: 'gauge', value: running > 9 ? Math.floor(rnd() * 5) : 0, labels: {} });
    serverSamples.push({ ts: t, server: 'vllm-llama', node: 'gpu-a100-1', model: 'llama3.1:70b', engine: '0', metric: 'vllm:prompt_tokens_total', kind: 'counter_delta', value: Math.floor(rnd() * 50_000), labels: {} });
  }

  const states: ModelStateRecord[] = [];
  for (let t = FLEET_FROM; t < FLEET_TO; t += 5 * MIN) {
    states.push({ ts: t, server: 'ollama-l4-1', node: 'gpu-l4-1', model: 'qwen2.5:7b', digest: 'sha256:845dbda0ea48', size_bytes: 6_200_000_000, size_vram_bytes: 6_200_000_000, context_length: 32768, expires_at: t + 5 * MIN });
    states.push({ ts: t, server: 'ollama-l4-2', node: 'gpu-l4-2', model: 'mistral:7b', digest: 'sha256:f974a74358d6', size_bytes: 5_100_000_000, size_vram_bytes: 4_900_000_000, context_length: 8192, expires_at: t + 5 * MIN });
  }

  const interruptAt = FLEET_FROM + 5 * HOUR;
  const events: CapacityEventRecord[] = [
    { ts: FLEET_FROM + 2 * HOUR, event_id: 'xid:gpu-a100-1:GPU-a100-0000:79', kind: 'xid', node: 'gpu-a100-1', instance_id: 'i-gpu-a100-1', provider: 'aws', action: 'xid_79', detail: JSON.stringify({ xid: 79, gpu_uuid: 'GPU-a100-0000', gpu_index: 0 }) },
    { ts: FLEET_FROM + 3 * HOUR, event_id: 'xid:gpu-l4-1:GPU-l4-1000:13', kind: 'xid', node: 'gpu-l4-1', instance_id: 'i-gpu-l4-1', provider: 'aws', action: 'xid_13', detail: JSON.stringify({ xid: 13, gpu_uuid: 'GPU-l4-1000', gpu_index: 0 }) },
    { ts: FLEET_FROM + 3 * HOUR, event_id: 'aws:rebalance:i-gpu-a100-1', kind: 'rebalance_recommendation', node: 'gpu-a100-1', instance_id: 'i-gpu-a100-1', provider: 'aws', action: '', action_at: null, detail: '{"noticeTime":"2026-03-02T03:00:00Z"}' },
    { ts: interruptAt, event_id: 'aws:spot:i-gpu-l4-2', kind: 'spot_interruption', node: 'gpu-l4-2', instance_id: 'i-gpu-l4-2', provider: 'aws', action: 'terminate', action_at: interruptAt + 2 * MIN, detail: '{"action":"terminate"}' },
    { ts: interruptAt + 2 * MIN, event_id: 'node_down:gpu-l4-2:1', kind: 'node_down', node: 'gpu-l4-2', instance_id: 'i-gpu-l4-2', provider: 'aws' },
    { ts: interruptAt + 30 * MIN, event_id: 'node_up:gpu-l4-2:2', kind: 'node_up', node: 'gpu-l4-2', instance_id: 'i-gpu-l4-2b', provider: 'aws' },
    { ts: FLEET_FROM + 6 * HOUR, event_id: 'aws:scheduled:i-cpu-1', kind: 'scheduled_event', node: 'cpu-1', instance_id: 'i-cpu-1', provider: 'aws', action: 'system-reboot', action_at: FLEET_FROM + 30 * HOUR },
  ];

  const frontend: FrontendEventRecord[] = [];
  for (let t = FLEET_FROM, i = 0; t < FLEET_TO; t += 10 * MIN, i++) {
    frontend.push({ ts: t, app: 'chat-ui', tenant: TENANTS[i % 3]!, session_id: `s-${i}`, kind: 'measurement', name: 'ttfb', value: 80 + rnd() * 200, page_url: 'https://chat.example.com/' });
  }

  const deadLetters: DeadLetterRow[] = [];
  for (let i = 0; i < 5; i++) {
    const ts = new Date(FLEET_FROM + (i + 1) * HOUR).toISOString().replace('T', ' ').replace('Z', '');
    deadLetters.push({ ts, signal: i % 2 ? 'gpu_sample' : 'llm_request', reason: i % 2 ? 'value: expected a finite number' : 'tenant: required', payload: '{}', source: 'ingest' });
  }

  return {
    records: { node: nodes, price_point: prices, gpu_sample: gpuSamples, llm_request: requests, model_server_sample: serverSamples, model_state: states, capacity_event: events, frontend_event: frontend },
    deadLetters,
  };
}

/** Writes the fleet through the collector's pipeline (validation included) and waits for ClickHouse. */
export async function loadFleet(collector: Collector, seed = 42): Promise<{ counts: Record<string, number> }> {
  const { records, deadLetters } = generateFleet(seed);
  const counts: Record<string, number> = {};
  const durables: Promise<void>[] = [];
  for (const signal of Object.keys(records) as (keyof FleetRecords)[]) {
    const rs = records[signal] as SignalRecords[typeof signal][];
    const r = await collector.pipeline.submit(signal, rs, { source: 'test' });
    if (r.rejected > 0 || r.dropped > 0) throw new Error(`${signal}: ${r.rejected} rejected, ${r.dropped} dropped: ${JSON.stringify(r.reasons)}`);
    counts[signal] = r.accepted;
    durables.push(r.durable);
  }
  await Promise.all(durables);
  await collector.store.insert('dead_letters', deadLetters);
  counts.dead_letter = deadLetters.length;
  return { counts };
}
