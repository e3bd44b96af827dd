// Up-time comes from evidence that a node was really up: a successful scrape of it (DCGM, vLLM), a
// model resident in its model server, a request it answered, an inventory that saw it Ready (or is
// the host itself). A node an inventory only lists costs nothing; a node that left stops costing at
// the event that says so.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  CapacityEventRecord,
  GpuSampleRecord,
  LlmRequestRecord,
  ModelServerSampleRecord,
  ModelStateRecord,
  NodeRecord,
} from '../../../collector/core/schema/tables.ts';
import { chargeback } from '../../../collector/features/cost/chargeback.ts';
import { FleetBuilder, H, M, openCostStore, type CostStore } from '../../helpers/cost-fleet.ts';

let t: CostStore;
beforeAll(async () => {
  t = await openCostStore();
});
afterAll(async () => t?.close());

const day = (n: number) => Date.UTC(2026, 7, n);

/** Loads records, one signal at a time, and waits until they are stored. */
async function load(records: {
  nodes?: NodeRecord[];
  samples?: GpuSampleRecord[];
  requests?: LlmRequestRecord[];
  states?: ModelStateRecord[];
  server?: ModelServerSampleRecord[];
  events?: CapacityEventRecord[];
}): Promise<void> {
  const all = await Promise.all([
    t.pipeline.submit('node', records.nodes ?? [], { source: 'test' }),
    t.pipeline.submit('gpu_sample', records.samples ?? [], { source: 'test' }),
    t.pipeline.submit('llm_request', records.requests ?? [], { source: 'test' }),
    t.pipeline.submit('model_state', records.states ?? [], { source: 'test' }),
    t.pipeline.submit('model_server_sample', records.server ?? [], { source: 'test' }),
    t.pipeline.submit('capacity_event', records.events ?? [], { source: 'test' }),
  ]);
  for (const r of all) {
    if (r.rejected) throw new Error(`refused: ${JSON.stringify(r.reasons)}`);
    await r.durable;
  }
}

/** A node as an inventory lists it, every five minutes over [from, to); `ready` says it saw it up. */
function listed(node: string, instance: string, from: number, to: number, ready: boolean): NodeRecord[] {
  const out: NodeRecord[] = [];
  for (let ts = from; ts < to; ts += 5 * M)
    out.push({
      ts,
      node,
      instance_type: instance,
      provider: 'aws',
      region: 'us-east-1',
      zone: 'us-east-1a',
      capacity_type: 'on_demand',
      gpu_count: 1,
      up_until: ready ? ts + 5 * M : null,
    });
  return out;
}

const priced = (instance: string, usd = '6.00') => new FleetBuilder().price({ instance_type: instance, from: day(1), usd });

/** Up minutes and cost of the report over [from, to). */
async function bill(from: number, to: number): Promise<{ minutes: number; cost: string }> {
  const r = await chargeback(t.store, { from: new Date(from), to: new Date(to) });
  return { minutes: Math.round(r.totals.device_hours * 60), cost: r.totals.fleet_cost };
}

describe('up-time from evidence', () => {
  it('a node that a static inventory lists, with nothing showing it runs, costs nothing', async () => {
    const T = day(1) + 10 * H;
    await priced('static-only').load(t.pipeline);
    await load({ nodes: listed('listed-only', 'static-only', T, T + 2 * H, false) });
    expect(await bill(T, T + 2 * H)).toEqual({ minutes: 0, cost: '0.00' });
  });

  it('a node the inventory saw Ready is up until its next refresh was due', async () => {
    const T = day(2) + 10 * H;
    await priced('ready-node').load(t.pipeline);
    await load({ nodes: listed('ready-1', 'ready-node', T, T + H, true) });
    expect(await bill(T, T + H)).toEqual({ minutes: 60, cost: '6.00' });
  });

  it('a node that went NotReady costs nothing after its last Ready observation ran out', async () => {
    const T = day(3) + 10 * H;
    await priced('flaky-node').load(t.pipeline);
    await load({ nodes: [...listed('flaky-1', 'flaky-node', T, T + 20 * M, true), ...listed('flaky-1', 'flaky-node', T + 20 * M, T + H, false)] });
    expect(await bill(T, T + H)).toEqual({ minutes: 20, cost: '2.00' });
  });

  it('a node that left stops costing at the node_down event, though samples still came in after it', async () => {
    const T = day(4) + 10 * H;
    const f = priced('leaving').node({ node: 'leaves-1', instance_type: 'leaving', up: [[T, T + H]] });
    await f.load(t.pipeline);
    // Kept before the event arrived; the event makes its day be computed again.
    expect(await bill(T, T + H)).toEqual({ minutes: 60, cost: '6.00' });
    await load({ events: [{ ts: T + 20 * M, event_id: 'down-leaves-1', kind: 'node_down', node: 'leaves-1', provider: 'aws' }] });
    expect(await bill(T, T + H)).toEqual({ minutes: 20, cost: '2.00' });
  });

  it('a spot node stops costing when its interruption notice says it is terminated, not when the notice came', async () => {
    const T = day(5) + 10 * H;
    const f = priced('spot-leaving').node({ node: 'spot-leaves-1', instance_type: 'spot-leaving', up: [[T, T + H]] });
    await f.load(t.pipeline);
    await load({
      events: [
        { ts: T + 28 * M, event_id: 'notice-1', kind: 'spot_interruption', node: 'spot-leaves-1', provider: 'aws', action: 'terminate', action_at: T + 30 * M },
        // A rebalance recommendation says nothing about leaving.
        { ts: T + 10 * M, event_id: 'rebalance-1', kind: 'rebalance_recommendation', node: 'spot-leaves-1', provider: 'aws' },
      ],
    });
    expect(await bill(T, T + H)).toEqual({ minutes: 30, cost: '3.00' });
  });

  it('a CPU node behind the proxy is up in the minutes its requests, its resident models and its model server show it running', async () => {
    const T = day(6) + 10 * H;
    await priced('cpu-box', '60.00').load(t.pipeline);
    await load({
      nodes: listed('cpu-1', 'cpu-box', T - 5 * M, T + H, false),
      requests: [
        // 10:05:10 to 10:06:40: minutes 5 and 6.
        { ts: T + 5 * M + 10_000, request_id: 'r1', tenant: 'a', node: 'cpu-1', status: 200, duration_ms: 90_000, ttfb_ms: 200, output_tokens: 10 },
        { ts: T + 30 * M, request_id: 'r2', tenant: 'a', node: 'cpu-1', status: 200, duration_ms: 1_000, ttfb_ms: 100, output_tokens: 5 },
        // Refused by the proxy before it reached the node: no evidence.
        { ts: T + 50 * M, request_id: 'r3', tenant: 'a', node: 'cpu-1', status: 502, error_kind: 'upstream_down', duration_ms: 5 },
      ],
      states: [40, 41].map((m) => ({ ts: T + m * M, server: 'ollama-cpu-1', node: 'cpu-1', model: 'tiny:latest', size_bytes: 1e6 })),
      server: [{ ts: T + 45 * M, server: 'vllm-cpu-1', node: 'cpu-1', metric: 'vllm:num_requests_running', kind: 'gauge', value: 0 }],
    });
    // Minutes 5, 6, 30, 40, 41 and 45: six minutes at $1 a minute.
    expect(await bill(T, T + H)).toEqual({ minutes: 6, cost: '6.00' });
  });
});
