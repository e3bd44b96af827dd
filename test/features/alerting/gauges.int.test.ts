// The alerting component: gauges computed from what is in the store (through the real pipeline and
// the embedded ClickHouse), with a fixed clock so the windows are exact.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertingConfigSchema, alertingFor, buildAlerting } from '../../../collector/features/alerting/index.ts';
import { memoryUsedRatio } from '../../../collector/features/alerting/queries.ts';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import type { CapacityEventRecord, GpuSampleRecord, LlmRequestRecord, SignalRecords } from '../../../collector/core/schema/tables.ts';
import { testConfig } from '../../helpers/store.ts';

const NOW = Date.parse('2026-03-02T12:00:00Z');
const MIN = 60_000;

interface Family {
  name: string;
  values: { labels: Record<string, string | number>; value: number }[];
}

function gpu(node: string, uuid: string, field: string, value: number, ago: number, extra: Partial<GpuSampleRecord> = {}): GpuSampleRecord {
  return { ts: NOW - ago, node, gpu_uuid: uuid, gpu_index: Number(uuid.slice(-1)), gpu_model: 'NVIDIA L4', field, value, ...extra };
}

function request(i: number, model: string, durationMs: number, extra: Partial<LlmRequestRecord> = {}): LlmRequestRecord {
  return { ts: NOW - 2 * MIN + i, request_id: `${model}-${i}`, tenant: 'acme', model, status: 200, duration_ms: durationMs, ...extra };
}

describe('alert-facing gauges from the store', () => {
  let collector: Collector;
  let families: Map<string, Family>;

  const series = (name: string) =>
    (families.get(name)?.values ?? []).map((m) => ({ labels: Object.fromEntries(Object.entries(m.labels).map(([k, v]) => [k, String(v)])), value: m.value }));
  const one = (name: string, match: Record<string, string>) => {
    const found = series(name).filter((s) => Object.entries(match).every(([k, v]) => s.labels[k] === v));
    expect(found, `${name} ${JSON.stringify(match)}`).toHaveLength(1);
    return found[0]!.value;
  };

  async function submit<S extends keyof SignalRecords>(signal: S, records: SignalRecords[S][]): Promise<number> {
    const r = await collector.pipeline.submit(signal, records, { source: 'test' });
    await r.durable;
    return r.rejected;
  }

  beforeAll(async () => {
    collector = await startCollector(testConfig(), silentLogger, {
      withoutHttp: true,
      withoutFeatures: true,
      features: [alertingFor({ interval_ms: 60_000 }, () => NOW)],
    });
    await submit('gpu_sample', [
      gpu('gpu-node-1', 'GPU-0', 'gpu_temp', 70, 90_000),
      gpu('gpu-node-1', 'GPU-0', 'gpu_temp', 88, 30_000),
      gpu('gpu-node-1', 'GPU-0', 'fb_used', 60 * 2 ** 30, 30_000),
      gpu('gpu-node-1', 'GPU-0', 'fb_total', 80 * 2 ** 30, 30_000),
      gpu('gpu-node-1', 'GPU-1', 'gpu_temp', 55, 20_000),
      gpu('gpu-node-1', 'GPU-1', 'fb_used_percent', 0.97, 20_000),
      gpu('gpu-node-1', 'GPU-1', 'fb_used', 1, 20_000),
      gpu('gpu-node-1', 'GPU-1', 'fb_total', 100, 20_000),
      // a MIG slice: no temperature, frame buffer from used + free
      gpu('gpu-node-2', 'GPU-2', 'fb_used', 9 * 2 ** 30, 10_000, { mig_instance: '3', mig_profile: '1g.10gb' }),
      gpu('gpu-node-2', 'GPU-2', 'fb_free', 1 * 2 ** 30, 10_000, { mig_instance: '3', mig_profile: '1g.10gb' }),
      // stale: last seen 10 minutes ago
      gpu('gpu-node-3', 'GPU-3', 'gpu_temp', 99, 10 * MIN),
    ]);
    const reqs: LlmRequestRecord[] = [];
    for (let i = 0; i < 20; i++)
      reqs.push(request(i, 'llama3.1:70b', (i + 1) * 1000, i < 3 ? { status: 503, error_kind: 'queue_full', error: 'queue full' } : {}));
    for (let i = 0; i < 10; i++)
      reqs.push(
        request(
          100 + i,
          'qwen2.5:7b',
          200,
          i < 2
            ? { status: 502, error_kind: 'upstream_status' }
            : i === 2
              ? { status: 0, error_kind: 'client_abort' }
              : i === 3
                ? { status: 200, error_kind: 'stream_error', error: 'eof' }
                : {},
        ),
      );
    // outside the 5-minute window
    reqs.push({ ...request(200, 'old-model', 99_000), ts: NOW - 30 * MIN });
    // A client naming a new model on every request: past proxy.max_model_labels (default 200)
    // these are one series, model="other".
    for (let i = 0; i < 300; i++) reqs.push(request(1_000 + i, `random-${i}`, 100));
    await submit('llm_request', reqs);
    const events: CapacityEventRecord[] = [
      { ts: NOW - 5 * MIN, event_id: 'xid-1', kind: 'xid', node: 'gpu-node-1', action: 'xid_79', detail: JSON.stringify({ xid: 79, gpu_uuid: 'GPU-0' }) },
      { ts: NOW - 4 * MIN, event_id: 'xid-2', kind: 'xid', node: 'gpu-node-1', action: 'xid_79', detail: JSON.stringify({ xid: 79, gpu_uuid: 'GPU-0' }) },
      { ts: NOW - 3 * MIN, event_id: 'xid-3', kind: 'xid', node: 'gpu-node-1', action: 'xid_13', detail: JSON.stringify({ xid: 13, gpu_uuid: 'GPU-1' }) },
      {
        ts: NOW - 3 * 3_600_000,
        event_id: 'xid-old',
        kind: 'xid',
        node: 'gpu-node-1',
        action: 'xid_48',
        detail: JSON.stringify({ xid: 48, gpu_uuid: 'GPU-1' }),
      },
      {
        ts: NOW - MIN,
        event_id: 'spot-1',
        kind: 'spot_interruption',
        node: 'gpu-node-4',
        instance_id: 'i-0abc',
        provider: 'aws',
        action: 'terminate',
        action_at: NOW + MIN,
      },
      {
        ts: NOW - 60 * MIN,
        event_id: 'spot-old',
        kind: 'spot_interruption',
        node: 'gpu-node-5',
        instance_id: 'i-0def',
        provider: 'aws',
        action: 'terminate',
        action_at: NOW - 58 * MIN,
      },
      { ts: NOW - 10 * MIN, event_id: 'down-6', kind: 'node_down', node: 'gpu-node-6' },
      { ts: NOW - 10 * MIN, event_id: 'down-7', kind: 'node_down', node: 'gpu-node-7' },
      { ts: NOW - 5 * MIN, event_id: 'up-7', kind: 'node_up', node: 'gpu-node-7' },
    ];
    await submit('capacity_event', events);
    // refused by validation → dead_letters
    expect(await submit('gpu_sample', [{ ts: NOW, node: '', gpu_uuid: 'GPU-0', field: 'gpu_temp', value: Number.NaN } as GpuSampleRecord])).toBe(1);
    await collector.pipeline.forceFlush();
    for (const c of collector.components) await c.forceFlush();
    families = new Map(((await collector.registry.getMetricsAsJSON()) as unknown as Family[]).map((f) => [f.name, f]));
  });

  afterAll(() => collector?.shutdown());

  it('publishes the newest temperature per GPU and drops GPUs not seen within gpu_stale_ms', () => {
    expect(one('llmeter_gpu_temperature_celsius', { node: 'gpu-node-1', gpu_uuid: 'GPU-0' })).toBe(88);
    expect(one('llmeter_gpu_temperature_celsius', { node: 'gpu-node-1', gpu_uuid: 'GPU-1', gpu: '1', gpu_model: 'NVIDIA L4' })).toBe(55);
    expect(series('llmeter_gpu_temperature_celsius').map((s) => s.labels.node)).not.toContain('gpu-node-3');
    expect(one('llmeter_gpu_last_sample_timestamp_seconds', { gpu_uuid: 'GPU-0' })).toBe((NOW - 30_000) / 1000);
  });

  it('computes frame-buffer use: DCGM percentage first, then used / total, then used / (used + free)', () => {
    expect(one('llmeter_gpu_memory_used_ratio', { gpu_uuid: 'GPU-0' })).toBe(0.75);
    expect(one('llmeter_gpu_memory_used_ratio', { gpu_uuid: 'GPU-1' })).toBe(0.97);
    expect(one('llmeter_gpu_memory_used_ratio', { gpu_uuid: 'GPU-2', mig_instance: '3' })).toBe(0.9);
    expect(memoryUsedRatio({ gpu_temp: 50 })).toBeUndefined();
    expect(memoryUsedRatio({ fb_used: 1, fb_free: 1, fb_reserved: 2 })).toBe(0.25);
  });

  it('keeps the busiest models under the proxy\'s model-label bound and counts the rest as model="other"', () => {
    const models = series('llmeter_model_window_requests');
    expect(models.length).toBe(201);
    expect(models.filter((m) => m.labels.model?.startsWith('random-')).length).toBe(198);
    expect(one('llmeter_model_window_requests', { model: 'other' })).toBe(102);
    for (const g of ['llmeter_model_latency_p95_seconds', 'llmeter_model_error_ratio', 'llmeter_model_queue_full_requests']) expect(series(g).length).toBe(201);
  });

  it('computes per-model p95 latency, error ratio and 503 queue-full counts over the request window', () => {
    // durations 1..20 s: ClickHouse's quantile interpolates 19.05 s
    expect(one('llmeter_model_latency_p95_seconds', { model: 'llama3.1:70b' })).toBeCloseTo(19.05, 1);
    expect(one('llmeter_model_window_requests', { model: 'llama3.1:70b' })).toBe(20);
    expect(one('llmeter_model_queue_full_requests', { model: 'llama3.1:70b' })).toBe(3);
    expect(one('llmeter_model_error_ratio', { model: 'llama3.1:70b' })).toBeCloseTo(3 / 20, 6);
    // two 502s and a stream error are errors; a client abort is not
    expect(one('llmeter_model_error_ratio', { model: 'qwen2.5:7b' })).toBeCloseTo(3 / 10, 6);
    expect(one('llmeter_model_queue_full_requests', { model: 'qwen2.5:7b' })).toBe(0);
    expect(series('llmeter_model_window_requests').map((s) => s.labels.model)).not.toContain('old-model');
  });

  it('counts XID events per GPU and code within the XID window', () => {
    expect(one('llmeter_gpu_xid_events', { node: 'gpu-node-1', gpu_uuid: 'GPU-0', xid: '79' })).toBe(2);
    expect(one('llmeter_gpu_xid_events', { gpu_uuid: 'GPU-1', xid: '13' })).toBe(1);
    expect(series('llmeter_gpu_xid_events').map((s) => s.labels.xid)).not.toContain('48');
  });

  it('publishes pending spot interruptions with their action time, and nodes that are down', () => {
    expect(
      one('llmeter_capacity_notice_action_timestamp_seconds', { node: 'gpu-node-4', kind: 'spot_interruption', action: 'terminate', instance_id: 'i-0abc' }),
    ).toBe((NOW + MIN) / 1000);
    expect(series('llmeter_capacity_notice_action_timestamp_seconds').map((s) => s.labels.node)).toEqual(['gpu-node-4']);
    expect(series('llmeter_node_down')).toEqual([{ labels: expect.objectContaining({ node: 'gpu-node-6' }), value: 1 }]);
  });

  it('counts dead letters in the store per signal', () => {
    expect(one('llmeter_store_dead_letters_window', { signal: 'gpu_sample' })).toBe(1);
  });

  it('adds one set of gauges per registry, even when wired twice', async () => {
    const again = buildAlerting({ store: collector.store, registry: collector.registry, log: silentLogger }, alertingConfigSchema.parse({}), undefined, 200);
    expect(again).toEqual([]);
    expect(collector.components.filter((c) => c.name === 'alerting')).toHaveLength(1);
  });

  it('reports its own refreshes', () => {
    expect(one('llmeter_alerting_last_refresh_timestamp_seconds', {})).toBe(NOW / 1000);
    expect(one('llmeter_alerting_refresh_failures_total', {})).toBe(0);
  });
});
