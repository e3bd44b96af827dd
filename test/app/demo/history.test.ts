// The history generator: reproducible, the same whatever the chunk size, one table's batches equal to
// that table in the full history, the demo's fleet by default, and tables that agree with each other
// (the vLLM page's counters with the requests the proxy recorded, gauges with the servers' limits).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimFleet } from '../../../collector/app/demo/fleet.ts';
import { generate, generateHistory, historyChunks, historyLayout, type HistoryOptions, type HistoryRecords } from '../../../collector/app/demo/history.ts';
import { SIM_SHAPES } from '../../../collector/app/demo/catalog.ts';

const FROM = Date.parse('2026-05-04T00:00:00Z');
const HOUR = 3_600_000;
const BASE: HistoryOptions = { seed: 9, from: FROM, to: FROM + 3 * HOUR, incidents: true, frontend: true, pods: true };

function sorted(r: HistoryRecords): Record<string, string[]> {
  return Object.fromEntries(Object.entries(r).map(([k, rows]) => [k, (rows as unknown[]).map((x) => JSON.stringify(x)).sort()]));
}

describe('history generator', () => {
  let history: HistoryRecords;
  let fleet: SimFleet;
  beforeAll(async () => {
    history = generateHistory(BASE);
    fleet = await SimFleet.start({ seed: 9 });
  });
  afterAll(() => fleet?.stop());

  it('writes every signal, and the same options give the same rows', () => {
    for (const [signal, rows] of Object.entries(history)) expect(rows.length, signal).toBeGreaterThan(0);
    expect(generateHistory(BASE)).toEqual(history);
    const other = generateHistory({ ...BASE, seed: 10 });
    expect(other.llm_request.length).not.toBe(history.llm_request.length);
  });

  it('does not depend on the chunk size', () => {
    expect(sorted(generateHistory({ ...BASE, chunkMs: 17 * 60_000 }))).toEqual(sorted(history));
  });

  it('generate(table) yields that table of the full history, in batches of the size asked', () => {
    const batches = [...generate('gpu_metrics', { ...BASE, batch: 1_000 })];
    expect(batches.length).toBeGreaterThan(3);
    for (const b of batches) expect(b.length).toBeLessThanOrEqual(1_000);
    expect(batches.flat()).toEqual(history.gpu_sample);
    expect([...generate('llm_requests', BASE)].flat()).toEqual(history.llm_request);
    // Chunks come in time order and cover the range.
    const chunks = [...historyChunks(BASE, ['nodes'])];
    expect(chunks[0]!.from).toBe(FROM);
    expect(chunks.at(-1)!.to).toBe(BASE.to);
    for (let i = 1; i < chunks.length; i++) expect(chunks[i]!.from).toBe(chunks[i - 1]!.to);
  });

  it("is the demo's fleet by default: nodes, servers, GPUs, tenants, instance types", () => {
    const layout = historyLayout(BASE);
    expect(layout.nodes.map((n) => n.name)).toEqual(fleet.nodes.map((n) => n.node));
    expect(layout.nodes.map((n) => n.server?.name)).toEqual(fleet.upstreams.map((u) => u.name));
    expect(layout.nodes.map((n) => n.shape.instanceType)).toEqual(fleet.nodes.map((n) => n.instanceType));
    expect(layout.nodes.map((n) => n.gpus[0]!.uuid)).toEqual(fleet.gpus.map((g) => g.options.uuid));
    expect(layout.tenants.map((t) => t.name)).toEqual(fleet.tenants.map((t) => t.name));
    expect(new Set(history.llm_request.map((r) => r.tenant))).toEqual(new Set(fleet.tenants.map((t) => t.name)));
    expect(new Set(history.llm_request.map((r) => r.backend))).toEqual(new Set(fleet.upstreams.map((u) => u.name)));
  });

  it('records model digests as the live model servers report them', async () => {
    const ollama = fleet.upstreams.find((u) => u.kind === 'ollama')!;
    const tags = (await (await fetch(`${ollama.url}/api/tags`)).json()) as { models: { name: string; digest: string }[] };
    const live = new Map(tags.models.map((m) => [m.name, m.digest]));
    const states = history.model_state.filter((x) => live.has(x.model ?? ''));
    expect(states.length).toBeGreaterThan(0);
    for (const x of states) expect(x.digest).toBe(live.get(x.model ?? ''));
  });

  it("repeats the demo's shapes and habits for larger fleets", () => {
    const big = generateHistory({ seed: 1, from: FROM, to: FROM + HOUR, nodes: 6, tenants: 7 });
    expect(new Set(big.node.map((n) => n.node)).size).toBe(6);
    expect(new Set(big.llm_request.map((r) => r.tenant))).toEqual(
      new Set(['acme-chat', 'globex-batch', 'initech-agents', 'acme-chat-2', 'globex-batch-2', 'initech-agents-2', 'acme-chat-3']),
    );
    // Every server takes part of the load.
    expect(new Set(big.llm_request.map((r) => r.backend)).size).toBe(6);
  });

  it("the vLLM page's counters agree with the requests the proxy recorded on that server", () => {
    // Without incidents: the scrapes a reclaimed node misses would lose events by design.
    const calm = generateHistory({ ...BASE, incidents: false });
    const server = 'sim-openai-b';
    const ms = calm.model_server_sample.filter((r) => r.server === server);
    const last = Math.max(...ms.map((r) => Number(r.ts)));
    const sum = (metric: string, pick: (r: (typeof ms)[number]) => boolean = () => true) =>
      ms.filter((r) => r.metric === metric && pick(r)).reduce((s, r) => s + (r.value ?? 0), 0);
    const reqs = calm.llm_request.filter((r) => r.backend === server && r.status !== 503 && r.status !== 502);
    // When each request ended, as far as the record tells (ts is whole milliseconds): a margin either side.
    const end = (r: (typeof reqs)[number]) => Number(r.ts) + (r.duration_ms ?? 0) - (r.proxy_overhead_ms ?? 0);
    const within = (r: (typeof reqs)[number], margin: number) => end(r) <= last + margin;
    const done = (r: (typeof reqs)[number]) => r.status === 200 && !r.error_kind;
    const between = (value: number, low: number, high: number) => {
      expect(value).toBeGreaterThanOrEqual(low);
      expect(value).toBeLessThanOrEqual(high);
    };
    expect(reqs.filter(done).length).toBeGreaterThan(50);
    const finished = sum('vllm:request_success_total', (r) => r.labels?.finished_reason !== 'abort');
    between(finished, reqs.filter((r) => done(r) && within(r, -2)).length, reqs.filter((r) => done(r) && within(r, 2)).length);
    const e2eCount = sum('vllm:e2e_request_latency_seconds', (r) => r.kind === 'histogram_count_delta');
    expect(e2eCount).toBe(finished);
    expect(sum('vllm:e2e_request_latency_seconds', (r) => r.kind === 'histogram_bucket_delta' && r.labels?.le === '+Inf')).toBe(e2eCount);
    const aborted = sum('vllm:request_success_total', (r) => r.labels?.finished_reason === 'abort');
    const failing = (r: (typeof reqs)[number]) => r.status === 500 || r.error_kind === 'stream_error';
    between(aborted, reqs.filter((r) => failing(r) && within(r, -2)).length, reqs.filter((r) => failing(r) && within(r, 2)).length);
    const tokens = sum('vllm:generation_tokens_total');
    between(
      tokens,
      reqs.filter((r) => within(r, -2)).reduce((s, r) => s + (r.output_tokens ?? 0), 0),
      reqs.filter((r) => Number(r.ts) <= last).reduce((s, r) => s + (r.output_tokens ?? 0), 0),
    );
    // The sum of end-to-end latencies is the requests' time in the server.
    const e2eSum = sum('vllm:e2e_request_latency_seconds', (r) => r.kind === 'histogram_sum_delta');
    const e2eRecorded = reqs.filter((r) => done(r) && within(r, -2)).reduce((s, r) => s + ((r.duration_ms ?? 0) - (r.proxy_overhead_ms ?? 0)) / 1000, 0);
    expect(e2eSum).toBeGreaterThanOrEqual(e2eRecorded - 0.01 * reqs.length);
  });

  it("gauges stay within the servers' limits, and a node that is down writes nothing", () => {
    const shape = SIM_SHAPES.vllmL40s.server;
    const gauge = (metric: string) => history.model_server_sample.filter((r) => r.server === 'sim-openai-b' && r.metric === metric).map((r) => r.value ?? 0);
    const running = gauge('vllm:num_requests_running');
    expect(Math.max(...running)).toBeLessThanOrEqual(shape.parallel);
    expect(Math.min(...running)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...running)).toBeGreaterThan(0);
    expect(Math.max(...gauge('vllm:num_requests_waiting'))).toBeLessThanOrEqual(shape.maxQueue);
    for (const v of gauge('vllm:kv_cache_usage_perc')) expect(v >= 0 && v <= 1).toBe(true);
    const down = history.capacity_event.find((e) => e.kind === 'node_down')!;
    const up = history.capacity_event.find((e) => e.kind === 'node_up' && e.node === down.node)!;
    expect(down).toBeDefined();
    expect(up).toBeDefined();
    const inside = (ts: unknown) => Number(ts) >= Number(down.ts) && Number(ts) < Number(up.ts);
    expect(history.gpu_sample.filter((g) => g.node === down.node && inside(g.ts))).toHaveLength(0);
    expect(history.node.filter((n) => n.node === down.node && inside(n.ts))).toHaveLength(0);
    expect(history.llm_request.filter((r) => r.node === down.node && inside(r.ts) && r.status === 200)).toHaveLength(0);
    // What ran when it went away was cut off.
    expect(
      history.llm_request.filter((r) => r.node === down.node && Number(r.ts) < Number(down.ts) && /other side closed|ECONNRESET/.test(r.error ?? '')).length,
    ).toBeGreaterThan(0);
    // It comes back as a new instance.
    const ids = new Set(history.node.filter((n) => n.node === down.node).map((n) => n.instance_id));
    expect(ids.size).toBe(2);
  });
});
