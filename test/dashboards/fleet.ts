// The fleet the dashboards' and cost alerts' SQL is tested against: eight hours of the simulated
// fleet's history (collector/app/demo/history.ts, the generator behind `llmeter demo`), laid out to cover
// what the panels read: an on-demand A10G behind Ollama, a spot L40S behind a vLLM-like server, a
// spot node with two A100s (one MIG-partitioned) as a second vLLM replica, a CPU node, two zones with
// hourly spot price walks, errors, queue-full refusals, cold starts, vLLM pages, Ollama /api/ps
// states, pods, XIDs, a spot interruption with the node going down and up, browser events — plus
// dead letters, which no producer of the history writes. Same seed, same rows.
import type { Collector } from '../../collector/app/runtime.ts';
import type { SignalRecords } from '../../collector/core/schema/tables.ts';
import { SIM_SHAPES } from '../../collector/app/demo/catalog.ts';
import { generateHistory, type HistoryOptions, type HistoryRecords } from '../../collector/app/demo/history.ts';

export const FLEET_FROM = Date.parse('2026-03-02T00:00:00Z');
export const FLEET_HOURS = 8;
export const FLEET_TO = FLEET_FROM + FLEET_HOURS * 3_600_000;
const HOUR = 3_600_000;

export type FleetRecords = HistoryRecords;

export interface DeadLetterRow {
  ts: string;
  signal: string;
  reason: string;
  payload: string;
  source: string;
}

export function fleetOptions(seed = 42): HistoryOptions {
  return {
    seed,
    from: FLEET_FROM,
    to: FLEET_TO,
    fleet: [
      { shape: SIM_SHAPES.ollamaA10g, zone: 'sim-region-1a' },
      { shape: SIM_SHAPES.vllmL40s, zone: 'sim-region-1b' },
      { shape: SIM_SHAPES.a100Mig, zone: 'sim-region-1a' },
      { shape: SIM_SHAPES.cpu, zone: 'sim-region-1a' },
    ],
    zones: ['sim-region-1a', 'sim-region-1b'],
    // A tenth of the demo's traffic keeps the store small; a short keep_alive brings cold starts back.
    rate: 0.1,
    keepAliveMs: 60_000,
    scrapeMs: 60_000,
    psPollMs: 60_000,
    inventoryMs: 15 * 60_000,
    pods: true,
    incidents: true,
    frontend: true,
  };
}

export function generateFleet(seed = 42): { records: FleetRecords; deadLetters: DeadLetterRow[] } {
  const records = generateHistory(fleetOptions(seed));
  const deadLetters: DeadLetterRow[] = [];
  for (let i = 0; i < 5; i++) {
    const ts = new Date(FLEET_FROM + (i + 1) * HOUR).toISOString().replace('T', ' ').replace('Z', '');
    deadLetters.push({
      ts,
      signal: i % 2 ? 'gpu_sample' : 'llm_request',
      reason: i % 2 ? 'value: expected a finite number' : 'tenant: required',
      payload: '{}',
      source: 'ingest',
    });
  }
  return { records, deadLetters };
}

/** Writes the fleet through the collector's pipeline (validation included) and waits for ClickHouse. */
export async function loadFleet(
  collector: Collector,
  seed = 42,
): Promise<{ counts: Record<string, number>; records: FleetRecords; deadLetters: DeadLetterRow[] }> {
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
  return { counts, records, deadLetters };
}
