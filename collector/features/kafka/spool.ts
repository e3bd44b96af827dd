// A bounded local disk buffer for batches Kafka could not take. Batches are appended to segment
// files (one JSON line per batch, holding the Kafka messages exactly as they were to be sent, packed
// ones included) and read back oldest first, so replay keeps the order they were
// produced in. Progress through a segment is kept in a small `.pos` file beside it, so a restart
// resumes where replay stopped instead of sending a segment twice. Past `maxBytes` a new batch is
// refused (the caller drops and counts it): the oldest data is kept, the newest is shed.
import { appendFileSync, closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface SpoolMessage {
  key: string;
  value: string;
  /** Record timestamp (epoch ms as a string), kept so replayed records carry their original time. */
  timestamp?: string;
  /** Records packed in `value` (NDJSON, see framing.ts); absent: `value` is one unframed record. */
  records?: number;
}

export interface SpoolBatch {
  topic: string;
  messages: SpoolMessage[];
}

/** Records a batch holds (a packed message counts its lines). */
export function spoolRecords(b: SpoolBatch): number {
  let n = 0;
  for (const m of b.messages) n += m.records ?? 1;
  return n;
}

const SEGMENT_RE = /^segment-(\d{12})\.ndjson$/;

export interface DiskSpoolOptions {
  dir: string;
  maxBytes: number;
  /** A segment is closed for writing past this size. */
  segmentBytes?: number;
  /** fsync every append (slower; survives power loss, not only a process crash). */
  fsync?: boolean;
}

interface Segment {
  seq: number;
  bytes: number;
  records: number;
}

export class DiskSpool {
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  private readonly fsync: boolean;
  private readonly segments: Segment[] = [];
  private totalBytes = 0;
  private totalRecords = 0;
  /** Lines of the oldest segment, loaded for replay, and how many of them were sent. */
  private lines: string[] | undefined;
  private pos = 0;

  constructor(o: DiskSpoolOptions) {
    this.dir = o.dir;
    this.maxBytes = o.maxBytes;
    this.segmentBytes = o.segmentBytes ?? Math.max(64 * 1024, Math.min(16 * 1024 * 1024, Math.floor(o.maxBytes / 8)));
    this.fsync = o.fsync ?? false;
    mkdirSync(this.dir, { recursive: true });
    for (const name of readdirSync(this.dir).sort()) {
      const m = SEGMENT_RE.exec(name);
      if (!m) continue;
      const file = path.join(this.dir, name);
      const text = readFileSync(file, 'utf8');
      const lines = splitLines(text);
      const done = readPos(file);
      let records = 0;
      for (const l of lines.slice(done)) records += spoolRecords(JSON.parse(l) as SpoolBatch);
      if (done >= lines.length) {
        this.remove(file);
        continue;
      }
      const seg = { seq: Number(m[1]), bytes: statSync(file).size, records };
      this.segments.push(seg);
      this.totalBytes += seg.bytes;
      this.totalRecords += records;
    }
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get records(): number {
    return this.totalRecords;
  }

  get isEmpty(): boolean {
    return this.totalRecords === 0;
  }

  /** Appends one batch; false when it does not fit under the bound (nothing is written then). */
  append(batch: SpoolBatch): boolean {
    if (batch.messages.length === 0) return true;
    const line = JSON.stringify(batch) + '\n';
    const size = Buffer.byteLength(line);
    if (this.totalBytes + size > this.maxBytes) return false;
    let seg = this.segments[this.segments.length - 1];
    if (!seg || (seg.bytes > 0 && seg.bytes + size > this.segmentBytes) || (seg === this.segments[0] && this.lines !== undefined)) {
      // The segment being replayed is never appended to, so its loaded lines stay its whole content.
      seg = { seq: (seg?.seq ?? 0) + 1, bytes: 0, records: 0 };
      this.segments.push(seg);
    }
    const file = this.file(seg.seq);
    if (this.fsync) {
      const fd = openSync(file, 'a');
      try {
        appendFileSync(fd, line);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } else {
      appendFileSync(file, line);
    }
    seg.bytes += size;
    const records = spoolRecords(batch);
    seg.records += records;
    this.totalBytes += size;
    this.totalRecords += records;
    return true;
  }

  /** The oldest batch not yet sent, or undefined when the spool is empty. */
  peek(): SpoolBatch | undefined {
    for (;;) {
      const seg = this.segments[0];
      if (!seg) return undefined;
      if (!this.lines) {
        const file = this.file(seg.seq);
        this.lines = splitLines(readFileSync(file, 'utf8'));
        this.pos = readPos(file);
      }
      if (this.pos < this.lines.length) return JSON.parse(this.lines[this.pos]!) as SpoolBatch;
      this.dropHead();
    }
  }

  /** Marks the batch returned by peek() as sent. */
  ack(): void {
    const seg = this.segments[0];
    if (!seg || !this.lines || this.pos >= this.lines.length) return;
    const line = this.lines[this.pos]!;
    const n = spoolRecords(JSON.parse(line) as SpoolBatch);
    this.pos++;
    seg.records -= n;
    this.totalRecords -= n;
    if (this.pos >= this.lines.length) this.dropHead();
    else writeFileSync(this.file(seg.seq) + '.pos', String(this.pos));
  }

  private dropHead(): void {
    const seg = this.segments.shift();
    this.lines = undefined;
    this.pos = 0;
    if (!seg) return;
    this.totalBytes -= seg.bytes;
    this.totalRecords -= Math.max(0, seg.records);
    this.remove(this.file(seg.seq));
    if (this.segments.length === 0) {
      this.totalBytes = 0;
      this.totalRecords = 0;
    }
  }

  private remove(file: string): void {
    rmSync(file, { force: true });
    rmSync(file + '.pos', { force: true });
  }

  private file(seq: number): string {
    return path.join(this.dir, `segment-${String(seq).padStart(12, '0')}.ndjson`);
  }
}

function splitLines(text: string): string[] {
  // A line cut short by a crash mid-write has no newline; it is ignored (its batch was not
  // acknowledged to the producer as spooled).
  const parts = text.split('\n');
  parts.pop();
  return parts.filter((l) => l.length > 0);
}

function readPos(file: string): number {
  try {
    return Number(readFileSync(file + '.pos', 'utf8')) || 0;
  } catch {
    // No position saved yet: the file is sent from its start (a record sent twice is stored once).
    return 0;
  }
}
