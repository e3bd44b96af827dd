// Loads canonical records from NDJSON (one JSON object per line) into a record sink, in chunks, so a
// large file streams through with bounded memory. A line that is not UTF-8, not JSON, too long or
// too deep to read is dead-lettered as it was sent, with its line number and the reason, like a record
// that fails validation; the good lines around it are stored. The report says how many of each.
import type { Readable } from 'node:stream';
import { errorMessage } from '../errors.ts';
import type { Signal, SignalRecords } from '../schema/tables.ts';
import { Unparsable, type RecordSink, type RejectionReason } from './pipeline.ts';

export interface IngestReport {
  lines: number;
  accepted: number;
  rejected: number;
  dropped: number;
  /** The queue could not take a chunk: reading stopped there and the lines after it were not read. */
  stopped: boolean;
  /** Distinct reasons, most frequent first, each with the line of its first record. */
  reasons: RejectionReason[];
  /** Resolves when every accepted record and every dead letter is stored. */
  durable: Promise<void>;
  /** After `durable`: some accepted record was lost on the way (SubmitResult.lost). */
  lost: () => boolean;
}

export interface IngestOptions {
  source: string;
  /** Stop at the first chunk the queue drops (an HTTP client is told to retry) instead of going on. */
  stopWhenFull?: boolean;
}

const CHUNK = 10_000;
export const MAX_LINE = 1 << 20;
const NEWLINE = 0x0a;

/** The lines of a byte stream, each as its bytes; a line longer than `max` comes as its first `max` bytes and its length. */
async function* lines(input: Readable, max: number): AsyncGenerator<{ bytes: Buffer; length: number }> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(NEWLINE); nl >= 0; nl = buf.indexOf(NEWLINE, start)) {
      const piece = buf.subarray(start, nl);
      const length = size + piece.length;
      if (size < max) parts.push(piece.subarray(0, max - size));
      yield { bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts), length };
      parts = [];
      size = 0;
      start = nl + 1;
    }
    const rest = buf.subarray(start);
    if (rest.length > 0) {
      if (size < max) parts.push(rest.subarray(0, max - size));
      size += rest.length;
    }
  }
  if (size > 0) yield { bytes: Buffer.concat(parts), length: size };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export async function ingestNdjson(sink: RecordSink, signal: Signal, input: Readable, opts: IngestOptions): Promise<IngestReport> {
  const report: IngestReport = { lines: 0, accepted: 0, rejected: 0, dropped: 0, stopped: false, reasons: [], durable: Promise.resolve(), lost: () => false };
  const losses: (() => boolean)[] = [];
  const reasons = new Map<string, RejectionReason>();
  const durables: Promise<void>[] = [];
  const note = (r: RejectionReason) => {
    const seen = reasons.get(r.reason);
    if (seen) seen.count += r.count;
    else if (reasons.size < 50) reasons.set(r.reason, { ...r });
  };
  let chunk: unknown[] = [];
  let lineNumbers: number[] = [];
  let texts: string[] = [];
  const flush = async () => {
    if (chunk.length === 0) return;
    const [records, at, raw] = [chunk, lineNumbers, texts];
    chunk = [];
    lineNumbers = [];
    texts = [];
    const r = await sink.submit(signal, records as SignalRecords[Signal][], { source: opts.source, locate: (i) => `line ${at[i]}`, raw: (i) => raw[i]! });
    report.accepted += r.accepted;
    report.rejected += r.rejected;
    report.dropped += r.dropped;
    for (const x of r.reasons) note(x);
    durables.push(r.durable);
    if (r.lost) losses.push(r.lost);
    if (r.dropped > 0 && opts.stopWhenFull) report.stopped = true;
  };
  const unparsable = (text: string, reason: string) => {
    chunk.push(new Unparsable(text, reason));
    lineNumbers.push(report.lines);
    texts.push(text);
  };
  for await (const line of lines(input, MAX_LINE)) {
    report.lines++;
    let text: string;
    try {
      text = utf8.decode(line.bytes);
    } catch {
      unparsable(line.bytes.toString('latin1'), 'not valid UTF-8');
      continue;
    }
    if (line.length > MAX_LINE) {
      unparsable(text, `longer than ${MAX_LINE} bytes`);
      continue;
    }
    const trimmed = text.trim();
    if (!trimmed) continue;
    let rec: unknown;
    try {
      rec = JSON.parse(trimmed);
    } catch (err) {
      // RangeError too: a line nested deeper than the parser's stack.
      unparsable(trimmed, `not valid JSON: ${errorMessage(err)}`);
      continue;
    }
    chunk.push(rec);
    lineNumbers.push(report.lines);
    texts.push(trimmed);
    if (chunk.length >= CHUNK) {
      await flush();
      if (report.stopped) break;
    }
  }
  if (!report.stopped) await flush();
  report.reasons = [...reasons.values()].sort((a, b) => b.count - a.count);
  report.durable = Promise.all(durables).then(() => undefined);
  report.lost = () => losses.some((l) => l());
  return report;
}
