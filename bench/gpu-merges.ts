// Shared by the benches that measure gpu_metrics merges (merge, merge-amplification, scrape):
// scrape rounds made by the engine itself, and waiting until no merge runs.
import type { Store } from '../collector/core/store/store.ts';

/** A 1,000-node fleet's round, in samples: 8 GPUs × 26 fields a node. */
export const SAMPLES_PER_NODE = 208;

/**
 * One scrape round of `nodes` nodes at `round` (15 s apart), inserted into `table` by the engine:
 * values smooth over time per field, a third of the GPUs unallocated.
 */
export function gpuRoundSql(table: string, round: number, nodes: number): string {
  const n = `intDiv(number, ${SAMPLES_PER_NODE})`;
  const gpu = 'intDiv(number, 26)';
  const field = 'number % 26';
  return `INSERT INTO ${table} (ts, node, gpu_uuid, gpu_index, gpu_model, mig_instance, mig_profile, field, value, unit, namespace, pod, container)
SELECT toDateTime64('2026-11-01 00:00:00', 3, 'UTC') + ${round * 15}, concat('gpu-node-', toString(${n})), concat('GPU-', lower(hex(cityHash64(${gpu})))),
  toUInt8(intDiv(number % ${SAMPLES_PER_NODE}, 26)), 'NVIDIA H100 80GB HBM3', '', '', concat('field_', toString(${field})),
  round(50 + 40 * sin((${round} + ${gpu}) / 7.0) + (${field}) * 1000, 1), ['ratio', 'celsius', 'watts', 'joules', 'hz', 'bytes'][1 + ${field} % 6],
  if(number % 3 = 0, '', 'team-a'), if(number % 3 = 0, '', concat('vllm-', toString(${gpu}))), if(number % 3 = 0, '', 'vllm')
FROM numbers(${nodes * SAMPLES_PER_NODE}) SETTINGS max_threads = 1, max_insert_threads = 1`;
}

/** Waits until no merge is running, for at most `limitMs`. */
export async function mergesSettled(store: Store, limitMs: number): Promise<void> {
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    const [m] = await store.queryRows<{ n: string }>('SELECT count() AS n FROM system.merges');
    if (Number(m?.n ?? 0) === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
