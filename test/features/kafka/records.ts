// Records the Kafka tests publish: valid llm_request and gpu_sample records, tagged with a run name
// (in tenant / node) so each test counts only its own rows. Times are recent: rows older than the
// raw retention (90 days by default) are dropped by ClickHouse's TTL.
import type { GpuSampleRecord, LlmRequestRecord } from '../../../collector/core/schema/tables.ts';

const BASE = Date.now() - 3_600_000;

export function requests(run: string, from: number, n: number, tenants = 4): LlmRequestRecord[] {
  const out: LlmRequestRecord[] = [];
  for (let i = from; i < from + n; i++) {
    out.push({
      ts: BASE + i,
      request_id: `${run}-${i}`,
      tenant: `${run}-t${i % tenants}`,
      model: 'llama3.1:8b',
      endpoint: '/api/chat',
      api: 'ollama',
      backend: 'ollama-a',
      node: `${run}-node`,
      status: 200,
      input_tokens: 12 + (i % 7),
      output_tokens: 40 + (i % 11),
      duration_ms: 250 + (i % 50),
      eval_duration_ns: 1_000_000 * (i % 100),
      source: 'proxy',
    });
  }
  return out;
}

export function gpuSamples(run: string, from: number, n: number, nodes = 3): GpuSampleRecord[] {
  const out: GpuSampleRecord[] = [];
  for (let i = from; i < from + n; i++) {
    out.push({
      ts: BASE + i * 1000,
      node: `${run}-n${i % nodes}`,
      gpu_uuid: `GPU-${run}-${i % nodes}`,
      gpu_index: 0,
      field: 'gpu_utilization',
      value: (i % 100) / 100,
      unit: 'ratio',
    });
  }
  return out;
}
