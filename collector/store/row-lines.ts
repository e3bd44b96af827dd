// Rows as the JSONCompactEachRow lines ClickHouse reads, made once when the rows are accepted and
// kept as UTF-8 outside the JavaScript heap. Queued rows live long enough (a batch fills over
// seconds) to be copied by every young-generation collection and then promoted; row arrays, or even
// one string per row, made the garbage collector a sixth of the pipeline's CPU (bench/README.md, "Ingest").

/**
 * How a table's rows become lines. With `pack` columns, consecutive rows equal in every other
 * column travel as one line: the shared columns first, then one array per packed column, which the
 * insert's ARRAY JOIN expands again (one GPU's fields from one scrape are a quarter of the text).
 */
export class RowCodec {
  readonly columns: readonly string[];
  /** Positions of the columns a line holds once, in line order. */
  readonly shared: readonly number[];
  /** Positions of the columns a packed line holds as arrays, after the shared ones. */
  readonly packed: readonly number[];

  constructor(columns: readonly string[], pack: readonly string[] = []) {
    this.columns = columns;
    this.packed = pack.map((p) => {
      const i = columns.indexOf(p);
      if (i < 0) throw new Error(`packed column ${p} is not among the columns ${columns.join(', ')}`);
      return i;
    });
    this.shared = columns.map((_, i) => i).filter((i) => !this.packed.includes(i));
  }

  get isPacked(): boolean {
    return this.packed.length > 0;
  }

  encode(rows: readonly (readonly unknown[])[]): RowLines {
    if (!this.isPacked) {
      const lines = new Array<string>(rows.length);
      for (let i = 0; i < rows.length; i++) lines[i] = JSON.stringify(rows[i]);
      return RowLines.fromLines(lines, undefined);
    }
    const lines: string[] = [];
    const runs: number[] = [];
    let start = 0;
    for (let i = 1; i <= rows.length; i++) {
      if (i < rows.length && this.sameRun(rows[start]!, rows[i]!)) continue;
      lines.push(this.packRun(rows, start, i));
      runs.push(i - start);
      start = i;
    }
    return RowLines.fromLines(lines, runs);
  }

  /** The rows a line holds, positional in `columns` order. */
  decodeLine(line: string): unknown[][] {
    const v: unknown = JSON.parse(line);
    if (!Array.isArray(v)) throw new Error(`not a JSONCompactEachRow line: ${line.slice(0, 80)}`);
    if (!this.isPacked) return [v];
    const n = (v[this.shared.length] as unknown[]).length;
    const rows: unknown[][] = [];
    for (let r = 0; r < n; r++) {
      const row = new Array<unknown>(this.columns.length);
      this.shared.forEach((c, k) => (row[c] = v[k]));
      this.packed.forEach((c, k) => (row[c] = (v[this.shared.length + k] as unknown[])[r]));
      rows.push(row);
    }
    return rows;
  }

  decode(data: RowLines): unknown[][] {
    return data.lines().flatMap((l) => this.decodeLine(l));
  }

  /** Each row of a packed line as a line of its own, so a refused run can be retried row by row. */
  splitLine(line: string): RowLines {
    return this.encodeEach(this.decodeLine(line));
  }

  private encodeEach(rows: readonly (readonly unknown[])[]): RowLines {
    const lines = rows.map((r) => (this.isPacked ? this.packRun([r], 0, 1) : JSON.stringify(r)));
    return RowLines.fromLines(lines, this.isPacked ? lines.map(() => 1) : undefined);
  }

  private sameRun(a: readonly unknown[], b: readonly unknown[]): boolean {
    for (const i of this.shared) if (a[i] !== b[i]) return false;
    return true;
  }

  private packRun(rows: readonly (readonly unknown[])[], from: number, to: number): string {
    const first = rows[from]!;
    const line: unknown[] = this.shared.map((i) => first[i]);
    for (const c of this.packed) {
      const values = new Array<unknown>(to - from);
      for (let r = from; r < to; r++) values[r - from] = rows[r]![c];
      line.push(values);
    }
    return JSON.stringify(line);
  }
}

const NEWLINE = 10;

/** Byte offset where line `k` of `buf` starts (`buf.length` past its last line). */
function lineStart(buf: Buffer, k: number): number {
  let at = 0;
  for (let i = 0; i < k; i++) {
    const nl = buf.indexOf(NEWLINE, at);
    if (nl < 0) return buf.length;
    at = nl + 1;
  }
  return at;
}

/**
 * A table's rows as newline-terminated lines in UTF-8 buffers; in a packed table a line may hold
 * several rows. A JSON line never holds a raw newline, so lines are found by their ends.
 */
export class RowLines {
  readonly chunks: readonly Buffer[];
  /** Lines in each chunk. */
  readonly chunkLines: readonly number[];
  /** Rows in each line; absent when every line is one row. */
  readonly runs: readonly number[] | undefined;
  readonly lineCount: number;
  readonly count: number;

  constructor(chunks: readonly Buffer[], chunkLines: readonly number[], runs: readonly number[] | undefined) {
    this.chunks = chunks;
    this.chunkLines = chunkLines;
    this.runs = runs;
    let lines = 0;
    for (const n of chunkLines) lines += n;
    this.lineCount = lines;
    let rows = lines;
    if (runs) {
      rows = 0;
      for (const r of runs) rows += r;
    }
    this.count = rows;
  }

  /** Lines (each without its newline) as one buffer. */
  static fromLines(lines: readonly string[], runs: readonly number[] | undefined): RowLines {
    if (lines.length === 0) return new RowLines([], [], runs && []);
    return new RowLines([Buffer.from(lines.join('\n') + '\n')], [lines.length], runs);
  }

  static concat(parts: readonly RowLines[]): RowLines {
    if (parts.length === 1) return parts[0]!;
    const packed = parts.some((p) => p.runs);
    return new RowLines(
      parts.flatMap((p) => p.chunks),
      parts.flatMap((p) => p.chunkLines),
      packed ? parts.flatMap((p) => p.runs ?? Array<number>(p.lineCount).fill(1)) : undefined,
    );
  }

  /**
   * The same lines in one buffer when they sit in many small ones (a batch gathered from many
   * one-row submits): one copy, instead of a file write of thousands of pieces.
   */
  compacted(): RowLines {
    if (this.chunks.length <= 64) return this;
    return new RowLines([Buffer.concat(this.chunks)], [this.lineCount], this.runs);
  }

  /** The fewest leading lines that hold at least `rows` rows (all lines if they hold fewer). */
  linesFor(rows: number): number {
    if (!this.runs) return Math.min(rows, this.lineCount);
    let n = 0;
    let k = 0;
    while (k < this.runs.length && n < rows) n += this.runs[k++]!;
    return k;
  }

  /** Lines `from` to `to` (exclusive; the end when absent), sharing this one's memory. */
  slice(from: number, to = this.lineCount): RowLines {
    const chunks: Buffer[] = [];
    const counts: number[] = [];
    let base = 0;
    for (let c = 0; c < this.chunks.length; c++) {
      const n = this.chunkLines[c]!;
      const lo = Math.max(from, base);
      const hi = Math.min(to, base + n);
      if (lo < hi) {
        const buf = this.chunks[c]!;
        const start = lineStart(buf, lo - base);
        chunks.push(buf.subarray(start, hi - base === n ? buf.length : start + lineStart(buf.subarray(start), hi - lo)));
        counts.push(hi - lo);
      }
      base += n;
    }
    return new RowLines(chunks, counts, this.runs?.slice(from, to));
  }

  /** Each line as a string, without its newline (for the rare paths: refused rows, spills). */
  lines(): string[] {
    // Not push(...lines): a batch's hundreds of thousands of lines would overflow the call's arguments.
    return this.chunks.flatMap((c) => c.toString().slice(0, -1).split('\n'));
  }
}
