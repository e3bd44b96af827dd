// Loads canonical records from NDJSON (one JSON object per line) into the pipeline, in chunks, so a
// large file streams through with bounded memory. Lines that are not JSON are dead-lettered like
// records that fail validation; the report says how many of each and why.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Signal, SignalRecords } from '../schema/tables.ts';
import type { Pipeline } from './pipeline.ts';

export interface IngestReport {
  lines: number;
  accepted: number;
  rejected: number;
  dropped: number;
  reasons: { reason: string; count: number }[];
  durable: Promise<void>;
}

const CHUNK = 10_000;
const MAX_LINE = 1 << 20;

export async function ingestNdjson(pipeline: Pipeline, signal: Signal, input: Readable, origin: { source: string }): Promise<IngestReport> {
  const rl = createInterface({ input, crlfDelay: Infinity });
  const report: IngestReport = { lines: 0, accepted: 0, rejected: 0, dropped: 0, reasons: [], durable: Promise.resolve() };
  const reasons = new Map<string, number>();
  const durables: Promise<void>[] = [];
  const note = (reason: string, n = 1) => {
    if (reasons.size < 50 || reasons.has(reason)) reasons.set(reason, (reasons.get(reason) ?? 0) + n);
  };
  let chunk: SignalRecords[Signal][] = [];
  const flush = async () => {
    if (chunk.length === 0) return;
    const r = await pipeline.submit(signal, chunk, origin);
    chunk = [];
    report.accepted += r.accepted;
    report.rejected += r.rejected;
    report.dropped += r.dropped;
    for (const x of r.reasons) note(x.reason, x.count);
    durables.push(r.durable);
  };
  for await (const line of rl) {
    report.lines++;
    const text = line.trim();
    if (!text) continue;
    if (text.length > MAX_LINE) {
      report.rejected++;
      note(`line ${report.lines}: longer than ${MAX_LINE} bytes`);
      await pipeline.submitUnparsable(signal, text, `line longer than ${MAX_LINE} bytes`, origin);
      continue;
    }
    let rec: unknown;
    try {
      rec = JSON.parse(text);
    } catch (err) {
      report.rejected++;
      const reason = `not valid JSON: ${(err as Error).message}`;
      note(reason);
      await pipeline.submitUnparsable(signal, text, reason, origin);
      continue;
    }
    chunk.push(rec as SignalRecords[Signal]);
    if (chunk.length >= CHUNK) await flush();
  }
  await flush();
  report.reasons = [...reasons].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count);
  report.durable = Promise.all(durables).then(() => undefined);
  return report;
}
