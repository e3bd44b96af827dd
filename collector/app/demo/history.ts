// A generated HISTORY of the simulated fleet: every signal table's records over a time range, from
// the fleet, tenant habits, serving model and seeded generator the live simulator (`llmeter demo`)
// uses, so a generated month looks like a long demo run. Same options, same rows.
//
// What it writes, per table (as the collector's own producers would):
//   llm_requests          each tenant call as the metering proxy records it: served, refused with a
//                         full queue (503), failed (500), broken off mid-stream, cut off or
//                         upstream_down when its node is reclaimed; cold starts after keep_alive
//   gpu_metrics           dcgm-exporter fields (as the dcgm mapper stores them) per GPU per scrape,
//                         utilisation following the servers' load; MIG slices where the shape has them
//   model_server_metrics  the vLLM page of each vLLM-like server as the vLLM scraper stores it:
//                         gauges, counter and histogram deltas consistent with the requests
//   model_states          Ollama /api/ps: the models resident at each poll
//   price_points          on-demand prices, and an hourly spot walk per instance type and zone
//   nodes                 the inventory's record per node at each refresh
//   capacity_events       with `incidents`: XIDs, a rebalance recommendation, a spot interruption
//                         with the node going down and back up, a scheduled event
//   frontend_events       with `frontend`: the chat tenants' browser measurements and exceptions
//
// The simulation runs chunk by chunk (chunkMs of time at once), keeping only the little state that
// spans chunks (slots, queues, rings of per-second load and per-scrape counters), so any range can
// be generated in bounded memory. A benchmark takes one table's batches:
//
//   for (const batch of generate('llm_requests', { seed: 1, from, to, nodes: 20, tenants: 30 })) {
//     await pipeline.submit('llm_request', batch, { source: 'bench' });
//   }
//
// or every table's at once with historyChunks(options), one chunk at a time, or a small range whole
// with generateHistory(options). The options are described in history-fleet.ts.
import type { Signal, SignalRecords } from '../../core/schema/tables.ts';
import { OLLAMA_KEEP_ALIVE_MS, SIM_MODELS, SIM_PROVIDER, SIM_REGION, SIM_SOURCE, simModelDigest, type SimModel } from './catalog.ts';
import { SimSpotPrice } from './fleet.ts';
import { promptTokensOf, type SimCall } from './habits.ts';
import { historyLayout, instanceIdOf, type HistoryGpu, type HistoryLayout, type HistoryNode, type HistoryOptions } from './history-fleet.ts';
import { VllmHistoryPage } from './history-vllm.ts';
import { Prng } from './prng.ts';
import { decodeMs, gpuMemoryUsedMiB, gpuPowerW, gpuTemperatureAfter, planRequest, serverLoad, SIM_ERRORS } from './serving.ts';

export type { HistoryOptions, HistoryNodeSpec } from './history-fleet.ts';

export type HistoryRecords = { [S in Signal]: SignalRecords[S][] };

/** Table name → the signal its records are submitted as. */
export const HISTORY_TABLES = {
  llm_requests: 'llm_request',
  gpu_metrics: 'gpu_sample',
  model_server_metrics: 'model_server_sample',
  model_states: 'model_state',
  price_points: 'price_point',
  capacity_events: 'capacity_event',
  nodes: 'node',
  frontend_events: 'frontend_event',
} as const satisfies Record<string, Signal>;

export type HistoryTable = keyof typeof HISTORY_TABLES;

export interface HistoryChunk {
  /** Range of this chunk, [from, to). */
  from: number;
  to: number;
  records: HistoryRecords;
}

const SECOND = 1_000;
const HOUR = 3_600_000;
/** Longest a request may run past the chunk it arrived in. */
const SPILL_MS = 2 * HOUR;
const MiB = 1024 * 1024;

interface Arrival {
  t: number;
  tenant: number;
  call: SimCall;
  promptTokens: number;
}

interface Span {
  from: number;
  until: number;
}

interface ServerState {
  node: NodeState;
  name: string;
  kind: 'ollama' | 'openai';
  parallel: number;
  maxQueue: number;
  rates: { errorRate: number; midstreamErrorRate: number };
  models: SimModel[];
  rng: Prng;
  slotFree: Float64Array;
  /** Start times of the requests that had to wait, in order; `qHead` is the first still waiting. */
  queue: number[];
  qHead: number;
  residentUntil: Map<string, number>;
  spans: Map<string, Span[]>;
  /** Per-second occupancy changes (ring): the GPU's load follows it. */
  occ: Float64Array;
  occNow: number;
  vllm: Map<string, VllmHistoryPage> | undefined;
  /** Kubernetes attribution of the node's GPUs to the server's pod. */
  pod: Pod;
}

interface GpuState {
  gpu: HistoryGpu;
  temp: number;
  energyJ: number;
  /** Last XID (dcgm-exporter's XID_ERRORS field), and the ones still to come, in time order. */
  xid: number;
  xids: { at: number; xid: number }[];
}

interface NodeState {
  node: HistoryNode;
  server: ServerState | undefined;
  gpus: GpuState[];
  down: { from: number; to: number } | undefined;
}

/** Tokens written by time x when token i goes out at firstAt + i·gap. */
function emittedBy(x: number, firstAt: number, gap: number, tokens: number): number {
  return x < firstAt ? 0 : Math.min(tokens, Math.floor((x - firstAt) / gap) + 1);
}

/** Which request a row is for: the run's seed and sequence number, its arrival, tenant and call. */
interface RequestOf {
  seed: number;
  seq: number;
  t: number;
  tenant: string;
  call: SimCall;
}

/** How a request ended, as the proxy saw it (times in milliseconds; absent counts are 0). */
interface RequestOutcome {
  backend: string;
  node: string;
  status: number;
  error?: string;
  errorKind?: string;
  stream?: boolean;
  input?: number;
  output?: number;
  ttfb: number | null;
  ttft: number | null;
  duration: number;
  overhead: number;
  /** Ollama's own durations, which only an Ollama server answering its own API reports. */
  ollama?: { loadMs: number; prefillMs: number; evalMs: number; totalMs: number };
}

/** One llm_requests row as the proxy writes it (one literal, so every row has the same shape). */
function requestRow(r: RequestOf, o: RequestOutcome): SignalRecords['llm_request'] {
  const ns = (ms: number | undefined) => Math.round((ms ?? 0) * 1e6);
  return {
    ts: Math.floor(r.t),
    request_id: `sim-${r.seed}-${r.seq}`,
    tenant: r.tenant,
    model: r.call.model,
    endpoint: r.call.api === 'ollama' ? '/api/chat' : '/v1/chat/completions',
    api: r.call.api,
    backend: o.backend,
    node: o.node,
    status: o.status,
    error: o.error ?? '',
    error_kind: o.errorKind ?? '',
    stream: o.stream ?? false,
    input_tokens: o.input ?? 0,
    output_tokens: o.output ?? 0,
    cached_tokens: 0,
    ttfb_ms: o.ttfb === null ? null : round3(o.ttfb),
    ttft_ms: o.ttft === null ? null : round3(o.ttft),
    duration_ms: round3(o.duration),
    queue_ms: 0,
    proxy_overhead_ms: round3(o.overhead),
    load_duration_ns: ns(o.ollama?.loadMs),
    prompt_eval_duration_ns: ns(o.ollama?.prefillMs),
    eval_duration_ns: ns(o.ollama?.evalMs),
    total_duration_ns: ns(o.ollama?.totalMs),
    source: 'proxy',
  };
}

function gpuRow(
  ts: number,
  node: string,
  g: HistoryGpu,
  mig: string,
  profile: string,
  pod: Pod,
  field: string,
  value: number,
  unit: string,
): SignalRecords['gpu_sample'] {
  return {
    ts,
    node,
    gpu_uuid: g.uuid,
    gpu_index: g.index,
    gpu_model: g.model,
    mig_instance: mig,
    mig_profile: profile,
    field,
    value,
    unit,
    namespace: pod.namespace,
    pod: pod.pod,
    container: pod.container,
  };
}

interface Pod {
  namespace: string;
  pod: string;
  container: string;
}

const NO_POD: Pod = { namespace: '', pod: '', container: '' };

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function emptyRecords(): HistoryRecords {
  return { llm_request: [], gpu_sample: [], model_server_sample: [], model_state: [], price_point: [], capacity_event: [], node: [], frontend_event: [] };
}

/** The simulation; historyChunks() and generate() drive it. */
class HistorySim {
  readonly o: Required<Omit<HistoryOptions, 'fleet' | 'nodes' | 'zones'>>;
  readonly layout: HistoryLayout;
  private readonly want: ReadonlySet<Signal>;
  private readonly nodes: NodeState[];
  private readonly byModel = new Map<string, ServerState[]>();
  private readonly tenantRng: Prng[];
  private readonly nextAt: number[];
  private readonly frontendRng: Prng;
  private readonly gpuRng: Prng;
  private readonly spots: { type: string; zone: string; gpuModel: string; gpuCount: number; walk: SimSpotPrice; next: number }[] = [];
  private readonly secRing: number;
  private readonly scrapeRing: number;
  private cursor: number;
  private secCursor = 0;
  private scrapeK = 1;
  private pollAt: number;
  private inventoryAt: number;
  private incident = 0;
  private seq = 0;

  constructor(options: HistoryOptions, want: ReadonlySet<Signal>) {
    this.o = {
      seed: options.seed,
      from: options.from,
      to: options.to,
      tenants: options.tenants ?? 3,
      rate: options.rate ?? 1,
      provider: options.provider ?? SIM_PROVIDER,
      region: options.region ?? SIM_REGION,
      scrapeMs: options.scrapeMs ?? 15_000,
      psPollMs: options.psPollMs ?? 15_000,
      inventoryMs: options.inventoryMs ?? 300_000,
      priceStepMs: options.priceStepMs ?? HOUR,
      keepAliveMs: options.keepAliveMs ?? OLLAMA_KEEP_ALIVE_MS,
      pods: options.pods ?? false,
      incidents: options.incidents ?? false,
      frontend: options.frontend ?? false,
      chunkMs: options.chunkMs ?? HOUR,
    };
    const o = this.o;
    if (!(o.to > o.from)) throw new Error('history: `to` must be after `from`');
    if (o.scrapeMs % SECOND !== 0 || o.scrapeMs <= 0) throw new Error('history: scrapeMs must be a positive whole number of seconds');
    this.want = want;
    this.layout = historyLayout(options);
    this.cursor = o.from;
    this.pollAt = o.from;
    this.inventoryAt = o.from;
    this.secRing = Math.ceil((o.chunkMs + o.scrapeMs + SPILL_MS) / SECOND) + 2;
    this.scrapeRing = Math.ceil((o.chunkMs + SPILL_MS) / o.scrapeMs) + 3;
    const root = new Prng(o.seed);
    const traffic = root.fork('traffic');
    this.tenantRng = this.layout.tenants.map((t) => traffic.fork(t.name));
    // Tenants do not all start at the same instant (as in the live traffic).
    this.nextAt = this.tenantRng.map((r) => o.from + r.int(0, 400));
    this.frontendRng = root.fork('frontend');
    this.gpuRng = root.fork('gpus');
    this.nodes = this.layout.nodes.map((n) => {
      const ns: NodeState = { node: n, server: undefined, gpus: [], down: this.layout.downtime.get(n.name) };
      const suffix = n.name.slice(n.name.lastIndexOf('-') + 1);
      ns.gpus = n.gpus.map((g) => ({ gpu: g, temp: 34, energyJ: 1e6 + this.gpuRng.int(0, 1e5), xid: 0, xids: [] }));
      if (n.server) {
        const sh = n.server.shape;
        const models = sh.models.map((m) => SIM_MODELS[m]!);
        const s: ServerState = {
          node: ns,
          name: n.server.name,
          kind: sh.kind,
          parallel: sh.parallel,
          maxQueue: sh.maxQueue,
          rates: sh,
          models,
          rng: root.fork(`server-${suffix}`),
          slotFree: new Float64Array(sh.parallel).fill(-Infinity),
          queue: [],
          qHead: 0,
          residentUntil: new Map(),
          spans: new Map(models.map((m) => [m.name, []])),
          occ: new Float64Array(this.secRing),
          occNow: 0,
          pod: { namespace: 'llm', pod: `${n.server.name}-0`, container: sh.kind === 'ollama' ? 'ollama' : 'vllm' },
          vllm:
            sh.kind === 'openai'
              ? new Map(models.map((m) => [m.name, new VllmHistoryPage(n.server!.name, n.name, m.name, sh.kvCacheTokens, this.scrapeRing)]))
              : undefined,
        };
        ns.server = s;
        for (const m of sh.models) {
          const list = this.byModel.get(m) ?? [];
          list.push(s);
          this.byModel.set(m, list);
        }
      }
      return ns;
    });
    // The spot market prices every instance type of the fleet in every zone, whether the fleet runs it on spot or not.
    const zones = [...new Set(this.layout.nodes.map((n) => n.zone))];
    const seen = new Set<string>();
    for (const n of this.layout.nodes) {
      const sh = n.shape;
      if (!sh.spotUsd || seen.has(sh.instanceType)) continue;
      seen.add(sh.instanceType);
      for (const zone of zones) {
        const key = `${sh.instanceType}|${zone}`;
        this.spots.push({
          type: sh.instanceType,
          zone,
          gpuModel: sh.gpu?.model ?? '',
          gpuCount: sh.gpuCount,
          walk: new SimSpotPrice(root.fork(`spot-${key}`), sh.spotUsd, sh.onDemandUsd),
          next: o.from - o.priceStepMs,
        });
      }
    }
  }

  /** The next chunk of records, or undefined past the end. */
  next(): HistoryChunk | undefined {
    const c0 = this.cursor;
    if (c0 >= this.o.to) return undefined;
    const c1 = Math.min(this.o.to, c0 + this.o.chunkMs);
    this.cursor = c1;
    const out = emptyRecords();
    if (c0 === this.o.from) this.onDemandPrices(out);
    this.spotPrices(c1, out);
    this.incidents(c1, out);
    for (const a of this.arrivals(c1)) this.request(a, out);
    this.scrapes(c1, out);
    this.polls(c1, out);
    this.inventory(c1, out);
    return { from: c0, to: c1, records: out };
  }

  private wants(s: Signal): boolean {
    return this.want.has(s);
  }

  // --- traffic ----------------------------------------------------------------------------------

  private arrivals(c1: number): Arrival[] {
    const list: Arrival[] = [];
    const tenants = this.layout.tenants;
    for (let i = 0; i < tenants.length; i++) {
      const rng = this.tenantRng[i]!;
      while (this.nextAt[i]! < c1) {
        const t = this.nextAt[i]!;
        const burst = tenants[i]!.habit.next(rng);
        // Drawn here, from the tenant's generator in its own order, so chunk boundaries change nothing.
        for (const call of burst.calls) list.push({ t, tenant: i, call, promptTokens: promptTokensOf(rng, call) });
        this.nextAt[i] = t + burst.waitMs / this.o.rate;
      }
    }
    return list.sort((a, b) => a.t - b.t || a.tenant - b.tenant);
  }

  private isUp(n: NodeState, t: number): boolean {
    return !n.down || t < n.down.from || t >= n.down.to;
  }

  /** Requests computing or queued at t. */
  private inFlight(s: ServerState, t: number): number {
    let n = 0;
    for (let i = 0; i < s.parallel; i++) if (s.slotFree[i]! > t) n++;
    for (let i = s.qHead; i < s.queue.length; i++) if (s.queue[i]! > t) n++;
    return n;
  }

  private request(a: Arrival, out: HistoryRecords): void {
    const { t, call } = a;
    const tenant = this.layout.tenants[a.tenant]!;
    const seq = this.seq++;
    const model = SIM_MODELS[call.model]!;
    const promptTokens = a.promptTokens;
    const overhead = 0.15 + (((seq * 2654435761) >>> 0) / 4294967296) * 0.5;
    // Among the servers holding the model, the least busy that is up (a load balancer's choice).
    const candidates = this.byModel.get(call.model) ?? [];
    let s: ServerState | undefined;
    let best = Infinity;
    for (const c of candidates) {
      if (!this.isUp(c.node, t)) continue;
      const f = this.inFlight(c, t);
      if (f < best) {
        best = f;
        s = c;
      }
    }
    const rec = this.wants('llm_request');
    const target = s ?? candidates[0];
    if (!s) {
      if (rec)
        out.llm_request.push(
          requestRow(
            { seed: this.o.seed, seq, t, tenant: tenant.name, call },
            {
              backend: target?.name ?? '',
              node: target?.node.node.name ?? '',
              status: 502,
              error: `upstream ${target?.name ?? ''} is unreachable: ECONNREFUSED`,
              errorKind: 'upstream_down',
              ttfb: null,
              ttft: null,
              duration: 1 + overhead,
              overhead,
            },
          ),
        );
      return;
    }
    // A slot now, a place in the queue, or a refusal.
    let slot = 0;
    for (let i = 1; i < s.parallel; i++) if (s.slotFree[i]! < s.slotFree[slot]!) slot = i;
    let start = t;
    if (s.slotFree[slot]! > t) {
      while (s.qHead < s.queue.length && s.queue[s.qHead]! <= t) s.qHead++;
      if (s.qHead > 1024) {
        s.queue.splice(0, s.qHead);
        s.qHead = 0;
      }
      if (s.queue.length - s.qHead >= s.maxQueue) {
        if (rec)
          out.llm_request.push(
            requestRow(
              { seed: this.o.seed, seq, t, tenant: tenant.name, call },
              {
                backend: s.name,
                node: s.node.node.name,
                status: 503,
                error: SIM_ERRORS.queueFull,
                errorKind: 'queue_full',
                ttfb: 1.2 + overhead,
                ttft: null,
                duration: 1.3 + overhead,
                overhead,
              },
            ),
          );
        return;
      }
      start = s.slotFree[slot]!;
      s.queue.push(start);
    }
    let concurrency = 1;
    for (let i = 0; i < s.parallel; i++) if (i !== slot && s.slotFree[i]! > start) concurrency++;
    const cold = start >= (s.residentUntil.get(model.name) ?? -Infinity);
    const p = planRequest(s.rng, model, s.rates, promptTokens, call.maxTokens, concurrency, cold);
    const firstAt = start + p.loadMs + p.prefillMs;
    // Only a stream breaks off mid-answer (a whole answer is written at once, as the live servers do).
    const broke = !p.fail && p.breakAt >= 0 && call.stream;
    const tokens = p.fail ? 0 : broke ? p.breakAt : p.outTokens;
    const decode = decodeMs(s.rng, p.perTokenMs, tokens);
    let end = p.fail ? start + p.loadMs : firstAt + decode;
    // A node reclaimed while the request runs (or waits) cuts it off: the stream stops, or nothing came at all.
    const down = s.node.down;
    const cut = down !== undefined && t < down.from && end > down.from;
    const sent = cut ? (p.fail ? 0 : emittedBy(down.from, firstAt, decode / Math.max(1, tokens), tokens)) : tokens;
    if (cut) end = Math.max(start, down.from);
    s.slotFree[slot] = end;
    // Residency: a cold start loads the model; every request keeps it loaded keep_alive past its end.
    const until = end + this.o.keepAliveMs;
    const spans = s.spans.get(model.name)!;
    if (cold) spans.push({ from: start, until });
    else if (spans.length > 0) spans[spans.length - 1]!.until = Math.max(spans[spans.length - 1]!.until, until);
    s.residentUntil.set(model.name, Math.max(s.residentUntil.get(model.name) ?? -Infinity, until));
    this.occupy(s, start, end);
    const vp = s.vllm?.get(model.name);
    if (vp)
      this.vllmEvents(
        vp,
        t,
        start,
        firstAt,
        end,
        sent,
        promptTokens,
        p.fail || (cut && sent === 0),
        broke || cut,
        tokens >= call.maxTokens,
        sent === tokens ? decode : (sent * decode) / Math.max(1, tokens),
      );
    if (rec) {
      const stream = call.stream && !p.fail;
      const ttfb = (stream ? firstAt - t : end - t) + overhead;
      const ttft = stream && sent > 0 ? firstAt - t + overhead : null;
      const node = s.node.node.name;
      const duration = end - t + overhead;
      const req: RequestOf = { seed: this.o.seed, seq, t, tenant: tenant.name, call };
      const served = { backend: s.name, node, duration, overhead };
      if (cut && (sent === 0 || !stream))
        out.llm_request.push(
          requestRow(req, {
            ...served,
            status: 502,
            error: `upstream ${s.name} is unreachable: ECONNRESET`,
            errorKind: 'upstream_down',
            ttfb: null,
            ttft: null,
          }),
        );
      else if (cut)
        out.llm_request.push(
          requestRow(req, {
            ...served,
            status: 200,
            error: `upstream ${s.name} failed mid-response: other side closed`,
            errorKind: 'stream_error',
            stream: true,
            output: sent,
            ttfb,
            ttft,
          }),
        );
      else if (p.fail)
        out.llm_request.push(requestRow(req, { ...served, status: 500, error: SIM_ERRORS.runnerDied, errorKind: 'upstream_status', ttfb, ttft: null }));
      else if (broke)
        out.llm_request.push(
          requestRow(req, { ...served, status: 200, error: SIM_ERRORS.midstream, errorKind: 'stream_error', stream, output: tokens, ttfb, ttft }),
        );
      else {
        const ollama =
          call.api === 'ollama' && s.kind === 'ollama' ? { loadMs: p.loadMs, prefillMs: p.prefillMs, evalMs: decode, totalMs: end - start } : undefined;
        out.llm_request.push(requestRow(req, { ...served, status: 200, stream, input: promptTokens, output: tokens, ttfb, ttft, ollama }));
      }
    }
    if (this.o.frontend && this.wants('frontend_event') && tenant.habit.name === 'acme-chat')
      this.browser(tenant.name, t, p.fail || broke || cut, firstAt - t, out);
  }

  /** The GPU's view of a request: occupancy from start to end, per second (fractions at the edges). */
  private occupy(s: ServerState, start: number, end: number): void {
    this.edge(s, start, 1);
    this.edge(s, end, -1);
  }

  private edge(s: ServerState, x: number, sign: number): void {
    const sec = (Math.max(x, this.o.from) - this.o.from) / SECOND;
    const whole = Math.floor(sec);
    // Beyond the ring (never for the habits here) the change lands on its last second.
    const k = Math.min(this.secCursor + this.secRing - 2, whole);
    const f = k === whole ? sec - k : 0;
    s.occ[k % this.secRing]! += sign * (1 - f);
    s.occ[(k + 1) % this.secRing]! += sign * f;
  }

  /** The scrape whose interval (previous scrape, this one] holds x, within the ring. */
  private scrapeOf(x: number): number {
    return Math.min(Math.max(1, Math.ceil((x - this.o.from) / this.o.scrapeMs)), this.scrapeK + this.scrapeRing - 2);
  }

  private vllmEvents(
    vp: VllmHistoryPage,
    arrived: number,
    start: number,
    firstAt: number,
    end: number,
    tokens: number,
    prompt: number,
    fail: boolean,
    broke: boolean,
    length: boolean,
    decode: number,
  ): void {
    vp.span(this.scrapeOf(arrived), this.scrapeOf(start), true);
    vp.span(this.scrapeOf(start), this.scrapeOf(end), false);
    const kEnd = this.scrapeOf(end);
    if (fail) {
      vp.finished(kEnd, 'abort');
      return;
    }
    if (tokens > 0) {
      // Token i is written at firstAt + i·gap; vLLM counts the prompt with the first.
      const gap = decode / tokens;
      const k0 = this.scrapeOf(firstAt);
      const k1 = this.scrapeOf(firstAt + (tokens - 1) * gap);
      vp.observe(k0, 'ttft', (firstAt - arrived) / 1000);
      let before = 0;
      for (let j = k0; j <= k1; j++) {
        const s = this.o.from + j * this.o.scrapeMs;
        const upTo = j === k1 ? tokens : emittedBy(s, firstAt, gap, tokens);
        const n = upTo - before;
        vp.tokens(j, n, j === k0 ? prompt : 0);
        vp.observeGaps(j, gap / 1000, j === k0 ? n - 1 : n);
        before = upTo;
      }
      // What the KV cache holds at each scrape while the request runs.
      for (let j = k0; j <= kEnd; j++) {
        const s = this.o.from + j * this.o.scrapeMs;
        if (s >= firstAt && s < end) vp.kv(j, prompt + emittedBy(s, firstAt, gap, tokens));
      }
    }
    if (broke) {
      vp.finished(kEnd, 'abort');
      return;
    }
    vp.finished(kEnd, length ? 'length' : 'stop');
    vp.observe(kEnd, 'e2e', (end - arrived) / 1000);
    vp.observe(kEnd, 'queue', (start - arrived) / 1000);
  }

  private browser(tenant: string, t: number, failed: boolean, ttfbMs: number, out: HistoryRecords): void {
    const rng = this.frontendRng;
    const session = `${tenant}-s${Math.floor((t - this.o.from) / 1_800_000)}`;
    const base = { app: 'sim-chat-ui', tenant, session_id: session, page_url: 'https://chat.sim.example/' };
    if (rng.chance(0.1))
      out.frontend_event.push({ ...base, ts: Math.floor(t + ttfbMs), kind: 'measurement', name: 'ttfb', value: round3(ttfbMs + rng.lognormal(40, 0.5)) });
    if (failed && rng.chance(0.5))
      out.frontend_event.push({ ...base, ts: Math.floor(t + ttfbMs), kind: 'exception', name: 'Error', message: 'the answer stopped: server error' });
  }

  // --- scrapes ----------------------------------------------------------------------------------

  private scrapes(c1: number, out: HistoryRecords): void {
    const o = this.o;
    const gpuRows = this.wants('gpu_sample') ? out.gpu_sample : undefined;
    const vllmRows = this.wants('model_server_sample') ? out.model_server_sample : undefined;
    for (;;) {
      const ts = o.from + this.scrapeK * o.scrapeMs;
      if (ts >= c1) break;
      const sec = (ts - o.from) / SECOND;
      for (const n of this.nodes) {
        const s = n.server;
        let busyMs = 0;
        if (s) {
          for (let k = this.secCursor; k < sec; k++) {
            const i = k % this.secRing;
            s.occNow += s.occ[i]!;
            s.occ[i] = 0;
            const x = s.occNow;
            busyMs += x <= 1e-9 ? 0 : x < 1 ? x * serverLoad(1, s.parallel) * SECOND : serverLoad(x, s.parallel) * SECOND;
          }
        }
        const up = this.isUp(n, ts);
        if (s?.vllm) for (const vp of s.vllm.values()) vp.emit(this.scrapeK, ts, up ? vllmRows : undefined);
        if (!up) continue;
        const util = Math.max(0, Math.min(1, busyMs / o.scrapeMs));
        this.gpuSamples(n, ts, util, gpuRows);
      }
      this.secCursor = sec;
      this.scrapeK++;
    }
  }

  private residentBytes(s: ServerState, at: number): number {
    let bytes = 0;
    for (const m of s.models) {
      const spans = s.spans.get(m.name)!;
      // Spans end in order; those over before `at` are of no further use to scrapes or polls.
      for (let i = spans.length - 1; i >= 0; i--) {
        const sp = spans[i]!;
        if (sp.from <= at && at < sp.until) {
          bytes += m.sizeVram;
          break;
        }
        if (sp.until <= at) break;
      }
    }
    return bytes;
  }

  private gpuSamples(n: NodeState, ts: number, util: number, rows: SignalRecords['gpu_sample'][] | undefined): void {
    const rng = this.gpuRng;
    const dt = this.o.scrapeMs;
    const resident = n.server ? this.residentBytes(n.server, ts) : 0;
    const pod = this.o.pods && n.server ? n.server.pod : NO_POD;
    for (const g of n.gpus) {
      const hw = g.gpu;
      while (g.xids.length > 0 && g.xids[0]!.at <= ts) g.xid = g.xids.shift()!.xid;
      g.temp = gpuTemperatureAfter(g.temp, util, dt);
      const powerW = Math.round(gpuPowerW(hw, util, rng.next()) * 1000) / 1000;
      g.energyJ += (powerW * dt) / 1000;
      // The model's weights are spread over the node's GPUs.
      const usedMiB = gpuMemoryUsedMiB(hw.memoryMiB, resident / n.gpus.length, util);
      if (!rows) continue;
      const node = n.node.name;
      const u = Math.round(util * 100) / 100;
      const busy = util > 0;
      rows.push(
        gpuRow(ts, node, hw, '', '', pod, 'sm_clock', busy ? 1.71e9 : 2.1e8, 'hz'),
        gpuRow(ts, node, hw, '', '', pod, 'mem_clock', busy ? 6.251e9 : 4.05e8, 'hz'),
        gpuRow(ts, node, hw, '', '', pod, 'memory_temp', 0, 'celsius'),
        gpuRow(ts, node, hw, '', '', pod, 'gpu_temp', Math.round(g.temp), 'celsius'),
        gpuRow(ts, node, hw, '', '', pod, 'power_usage', powerW, 'watts'),
        gpuRow(ts, node, hw, '', '', pod, 'total_energy_consumption', Math.round(g.energyJ * 1000) / 1000, 'joules'),
        gpuRow(ts, node, hw, '', '', pod, 'pcie_replay_counter', 0, 'count'),
        gpuRow(ts, node, hw, '', '', pod, 'gpu_util', u, 'ratio'),
        gpuRow(ts, node, hw, '', '', pod, 'mem_copy_util', Math.round(util * 60) / 100, 'ratio'),
        gpuRow(ts, node, hw, '', '', pod, 'enc_util', 0, 'ratio'),
        gpuRow(ts, node, hw, '', '', pod, 'dec_util', 0, 'ratio'),
        gpuRow(ts, node, hw, '', '', pod, 'xid_errors', g.xid, 'xid'),
        gpuRow(ts, node, hw, '', '', pod, 'fb_free', (hw.memoryMiB - usedMiB) * MiB, 'bytes'),
        gpuRow(ts, node, hw, '', '', pod, 'fb_used', usedMiB * MiB, 'bytes'),
        gpuRow(ts, node, hw, '', '', pod, 'fb_total', hw.memoryMiB * MiB, 'bytes'),
        gpuRow(ts, node, hw, '', '', pod, 'utilization', u, 'ratio'),
      );
      for (const sl of hw.slices) {
        const su = Math.round(Math.min(1, util * sl.share * hw.slices.length) * 100) / 100;
        const sliceUsed = Math.min(sl.memoryMiB, Math.round((usedMiB * sl.memoryMiB) / hw.memoryMiB));
        rows.push(
          gpuRow(ts, node, hw, sl.id, sl.profile, pod, 'prof_gr_engine_active', su, 'ratio'),
          gpuRow(ts, node, hw, sl.id, sl.profile, pod, 'utilization', su, 'ratio'),
          gpuRow(ts, node, hw, sl.id, sl.profile, pod, 'gpu_temp', Math.round(g.temp), 'celsius'),
          gpuRow(ts, node, hw, sl.id, sl.profile, pod, 'fb_used', sliceUsed * MiB, 'bytes'),
          gpuRow(ts, node, hw, sl.id, sl.profile, pod, 'fb_total', sl.memoryMiB * MiB, 'bytes'),
        );
      }
    }
  }

  // --- polls, inventory, prices, incidents ------------------------------------------------------

  private polls(c1: number, out: HistoryRecords): void {
    const want = this.wants('model_state');
    for (; this.pollAt < c1; this.pollAt += this.o.psPollMs) {
      if (!want) continue;
      const at = this.pollAt;
      for (const n of this.nodes) {
        const s = n.server;
        if (!s || s.kind !== 'ollama' || !this.isUp(n, at)) continue;
        for (const m of s.models) {
          const spans = s.spans.get(m.name)!;
          for (let i = spans.length - 1; i >= 0; i--) {
            const sp = spans[i]!;
            if (sp.until <= at) break;
            if (sp.from <= at) {
              // Busy or just used: keep_alive from now; idle: keep_alive from its last answer (later requests cannot change that).
              const expires = Math.floor(Math.min(sp.until, at + this.o.keepAliveMs));
              out.model_state.push({
                ts: at,
                server: s.name,
                node: n.node.name,
                model: m.name,
                digest: simModelDigest(m.name),
                size_bytes: m.sizeVram,
                size_vram_bytes: m.sizeVram,
                context_length: 4096,
                expires_at: expires,
              });
              break;
            }
          }
        }
      }
    }
    // Spans every later scrape and poll is past are dropped.
    const horizon = Math.min(this.pollAt, this.o.from + this.scrapeK * this.o.scrapeMs);
    for (const n of this.nodes) {
      if (!n.server) continue;
      for (const spans of n.server.spans.values()) {
        let drop = 0;
        while (drop < spans.length - 1 && spans[drop]!.until <= horizon) drop++;
        if (drop > 0) spans.splice(0, drop);
      }
    }
  }

  private inventory(c1: number, out: HistoryRecords): void {
    const want = this.wants('node');
    const o = this.o;
    for (; this.inventoryAt < c1; this.inventoryAt += o.inventoryMs) {
      if (!want) continue;
      const at = this.inventoryAt;
      for (const n of this.nodes) {
        if (!this.isUp(n, at)) continue;
        const sh = n.node.shape;
        out.node.push({
          ts: at,
          node: n.node.name,
          instance_type: sh.instanceType,
          instance_id: instanceIdOf(n.node, at, this.layout),
          provider: o.provider,
          region: o.region,
          zone: n.node.zone,
          capacity_type: sh.capacityType,
          gpu_model: sh.gpu?.model ?? '',
          gpu_count: sh.gpuCount,
          pool: sh.pool,
          tier: sh.tier,
          labels: { simulated: 'true' },
        });
      }
    }
  }

  private price(
    type: string,
    zone: string,
    capacity: 'on_demand' | 'spot',
    usd: string,
    gpuModel: string,
    gpuCount: number,
    at: number,
  ): SignalRecords['price_point'] {
    const perGpu = gpuCount > 0 ? (Math.round((Number(usd) / gpuCount) * 1e6) / 1e6).toFixed(6) : '0';
    return {
      effective_from: at,
      provider: this.o.provider,
      region: this.o.region,
      zone,
      instance_type: type,
      capacity_type: capacity,
      os: 'linux',
      usd_per_hour: usd,
      usd_per_gpu_hour: perGpu,
      gpu_model: gpuModel,
      gpu_count: gpuCount,
      raw_price: usd,
      raw_unit: 'hour',
      currency: 'USD',
      source: SIM_SOURCE,
      observed_at: at,
    };
  }

  private onDemandPrices(out: HistoryRecords): void {
    if (!this.wants('price_point')) return;
    const seen = new Set<string>();
    for (const n of this.layout.nodes) {
      const sh = n.shape;
      if (seen.has(sh.instanceType)) continue;
      seen.add(sh.instanceType);
      out.price_point.push(this.price(sh.instanceType, '', 'on_demand', sh.onDemandUsd, sh.gpu?.model ?? '', sh.gpuCount, this.o.from - 24 * HOUR));
    }
  }

  private spotPrices(c1: number, out: HistoryRecords): void {
    const want = this.wants('price_point');
    for (const sp of this.spots) {
      for (; sp.next < c1; sp.next += this.o.priceStepMs) {
        // The first point holds the starting price; each later one is a step of the walk.
        const usd = sp.next < this.o.from ? sp.walk.current : sp.walk.step();
        if (want) out.price_point.push(this.price(sp.type, sp.zone, 'spot', usd, sp.gpuModel, sp.gpuCount, sp.next));
      }
    }
  }

  private incidents(c1: number, out: HistoryRecords): void {
    const list = this.layout.incidents;
    const want = this.wants('capacity_event');
    for (; this.incident < list.length && list[this.incident]!.at < c1; this.incident++) {
      const e = list[this.incident]!;
      const ns = this.nodes.find((n) => n.node.name === e.node)!;
      const instance = instanceIdOf(ns.node, e.at, this.layout);
      const common = { ts: e.at, node: e.node, instance_id: instance, provider: this.o.provider };
      if (e.kind === 'xid') {
        const g = ns.gpus[e.gpu ?? 0]!;
        g.xids.push({ at: e.at, xid: e.xid! });
        if (want)
          out.capacity_event.push({
            ...common,
            event_id: `xid:${e.node}:${g.gpu.uuid}:${e.xid}:${e.at}`,
            kind: 'xid',
            action: `xid_${e.xid}`,
            detail: JSON.stringify({ xid: e.xid, gpu_uuid: g.gpu.uuid, gpu_index: g.gpu.index, gpu_model: g.gpu.model, simulated: true }),
          });
        continue;
      }
      if (!want) continue;
      const id = e.kind === 'node_down' || e.kind === 'node_up' ? `${e.kind}:${e.node}:${e.at}` : `${this.o.provider}:${e.kind}:${instance}`;
      out.capacity_event.push({
        ...common,
        event_id: id,
        kind: e.kind,
        action: e.action ?? '',
        action_at: e.actionAt ?? null,
        detail: JSON.stringify({ kind: e.kind, node: e.node, ...(e.actionAt ? { action_at: new Date(e.actionAt).toISOString() } : {}), simulated: true }),
      });
    }
  }
}

/** Every table's records, chunk by chunk (each chunk covers chunkMs of time, in order). */
export function* historyChunks(o: HistoryOptions, tables: readonly HistoryTable[] = Object.keys(HISTORY_TABLES) as HistoryTable[]): Generator<HistoryChunk> {
  const sim = new HistorySim(o, new Set(tables.map((t) => HISTORY_TABLES[t])));
  for (let c = sim.next(); c; c = sim.next()) yield c;
}

/**
 * One table's records in batches of at most `batch` rows (default 50,000), in time order of the
 * chunks they were generated in. Only that table's rows are built; the simulation behind them is the
 * same as for every other table, so the batches of two tables from the same options agree.
 */
export function* generate<T extends HistoryTable>(table: T, o: HistoryOptions & { batch?: number }): Generator<SignalRecords[(typeof HISTORY_TABLES)[T]][]> {
  const signal = HISTORY_TABLES[table];
  const size = o.batch ?? 50_000;
  for (const chunk of historyChunks(o, [table])) {
    const rows = chunk.records[signal] as SignalRecords[(typeof HISTORY_TABLES)[T]][];
    for (let i = 0; i < rows.length; i += size) yield rows.length <= size ? rows : rows.slice(i, i + size);
  }
}

/** The whole range in memory, every table (small ranges: tests, fixtures). */
export function generateHistory(o: HistoryOptions): HistoryRecords {
  const all = emptyRecords();
  for (const chunk of historyChunks(o)) {
    for (const s of Object.keys(all) as Signal[]) {
      const from = chunk.records[s] as unknown[];
      const to = all[s] as unknown[];
      for (const r of from) to.push(r);
    }
  }
  return all;
}

/** The fleet a history is generated for (nodes, servers, tenants, incidents), for tests and tools that need its names. */
export { historyLayout } from './history-fleet.ts';
