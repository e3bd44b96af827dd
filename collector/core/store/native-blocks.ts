// Rows as blocks of ClickHouse's Native format: column after column, numbers as little-endian
// binary, strings length-prefixed, LowCardinality columns as a dictionary and one index a row. The
// engine reads such a block without parsing text, so inserting rows costs it far less CPU than the
// same rows as JSON text, while encoding them here costs about what serialising JSON did (measured in
// bench/README.md, "Ingest"). The table writer encodes rows in blocks as they are held and keeps the
// blocks outside the JavaScript heap until they are inserted.

/** How one column's values are laid out; the closed set of types the record tables use. */
type Kind = 'string' | 'lc' | 'time' | 'u8' | 'bool' | 'u16' | 'u32' | 'u64' | 'i64' | 'f64' | 'decimal9' | 'map';

interface ColumnLayout {
  readonly name: string;
  readonly kind: Kind;
  readonly nullable: boolean;
  /** Name and wire type, length-prefixed, as every block repeats them. */
  readonly header: Buffer;
}

const WIRE_TYPES: Record<Kind, string> = {
  string: 'String',
  lc: 'LowCardinality(String)',
  time: "DateTime64(3, 'UTC')",
  u8: 'UInt8',
  bool: 'Bool',
  u16: 'UInt16',
  u32: 'UInt32',
  u64: 'UInt64',
  i64: 'Int64',
  f64: 'Float64',
  decimal9: 'Decimal(18, 9)',
  map: 'Map(String, String)',
};

function kindOf(type: string): { kind: Kind; nullable: boolean } {
  const nullable = type.startsWith('Nullable(');
  const inner = nullable ? type.slice('Nullable('.length, -1) : type;
  const kind: Kind | undefined = (
    {
      String: 'string',
      'LowCardinality(String)': 'lc',
      "DateTime64(3, 'UTC')": 'time',
      UInt8: 'u8',
      Bool: 'bool',
      UInt16: 'u16',
      UInt32: 'u32',
      UInt64: 'u64',
      Int64: 'i64',
      Float64: 'f64',
      'Decimal(18, 9)': 'decimal9',
      'Map(LowCardinality(String), String)': 'map',
      // The same layouts under the spellings of tables made outside the schema (store.insertRows).
      'DateTime64(3)': 'time',
      'Map(String, String)': 'map',
    } as const
  )[inner];
  if (!kind || (nullable && kind !== 'time' && kind !== 'f64')) throw new Error(`no Native encoding for column type ${type}`);
  return { kind, nullable };
}

const FIXED_WIDTH: Partial<Record<Kind, number>> = { time: 8, u8: 1, bool: 1, u16: 2, u32: 4, u64: 8, i64: 8, f64: 8, decimal9: 8 };
const TWO_32 = 4294967296;
/** The most rows encode() puts in one block. */
const MAX_BLOCK_ROWS = 4096;

// LowCardinality's Native layout (ClickHouse's SerializationLowCardinality): a key version, then
// flags with the index width, the block's dictionary ("additional keys"), and one index per row.
const LC_SHARED_DICTIONARIES_WITH_ADDITIONAL_KEYS = 1;
const LC_HAS_ADDITIONAL_KEYS = 1 << 9;
const LC_NEED_UPDATE_DICTIONARY = 1 << 10;

function indexWidth(dictSize: number): 1 | 2 | 4 {
  return dictSize <= 0x100 ? 1 : dictSize <= 0x10000 ? 2 : 4;
}

/** A growing output buffer. */
class Out {
  buf = Buffer.allocUnsafe(1 << 12);
  at = 0;

  room(n: number): Buffer {
    if (this.at + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.at + n) size *= 2;
      const next = Buffer.allocUnsafe(size);
      this.buf.copy(next, 0, 0, this.at);
      this.buf = next;
    }
    return this.buf;
  }

  varint(n: number): void {
    const b = this.room(10);
    while (n >= 0x80) {
      b[this.at++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    b[this.at++] = n;
  }

  u64(n: number): void {
    this.at = putU64(this.room(8), this.at, n);
  }

  /** The first `n` indexes into a dictionary, each `width` bytes. */
  indexes(values: Uint32Array, n: number, width: 1 | 2 | 4): void {
    const b = this.room(width * n);
    let at = this.at;
    if (width === 1) for (let i = 0; i < n; i++) b[at++] = values[i]!;
    else if (width === 2) for (let i = 0; i < n; i++) at = b.writeUInt16LE(values[i]!, at);
    else for (let i = 0; i < n; i++) at = b.writeUInt32LE(values[i]!, at);
    this.at = at;
  }

  /** A LowCardinality column's prefix and dictionary; its `rows` indexes follow. */
  dictionary(dict: readonly string[], rows: number): void {
    this.u64(LC_SHARED_DICTIONARIES_WITH_ADDITIONAL_KEYS);
    // The index type's code (0, 1, 2: UInt8, UInt16, UInt32) sits in the flags' low byte.
    this.u64([1, 2, 4].indexOf(indexWidth(dict.length)) | LC_HAS_ADDITIONAL_KEYS | LC_NEED_UPDATE_DICTIONARY);
    this.u64(dict.length);
    for (const k of dict) this.string(k);
    this.u64(rows);
  }

  string(s: string): void {
    const len = s.length;
    if (len < 43) {
      // Three UTF-8 bytes at most per UTF-16 unit, so the length fits the one byte kept for it.
      const b = this.room(1 + 3 * len);
      // ASCII is copied here: for strings this short, a call into Buffer.write costs more.
      let at = this.at + 1;
      let i = 0;
      for (; i < len; i++) {
        const ch = s.charCodeAt(i);
        if (ch >= 0x80) break;
        b[at++] = ch;
      }
      if (i === len) {
        b[this.at] = len;
        this.at = at;
        return;
      }
      const n = b.write(s, this.at + 1);
      b[this.at] = n;
      this.at += 1 + n;
      return;
    }
    const n = Buffer.byteLength(s);
    this.varint(n);
    this.at += this.room(n).write(s, this.at);
  }

  bytes(src: Buffer): void {
    src.copy(this.room(src.length), this.at);
    this.at += src.length;
  }

  /** Starts over, keeping the buffer. */
  begin(): this {
    this.at = 0;
    return this;
  }

  /**
   * A copy of what was written, in a buffer of its own size. A buffer that grew past 8 MiB for a
   * large batch is let go rather than kept for good.
   */
  done(): Buffer {
    const b = Buffer.allocUnsafe(this.at);
    this.buf.copy(b, 0, 0, this.at);
    this.at = 0;
    if (this.buf.length > 1 << 23) this.buf = Buffer.allocUnsafe(1 << 16);
    return b;
  }
}

// Blocks are written one at a time, synchronously, into one writer and one index array that grow
// as needed and are reused: a scrape submits a thousand small blocks a round, and fresh buffers for
// each (memory outside the heap) made V8 collect far more often.
const scratch = new Out();
let indexScratch = new Uint32Array(MAX_BLOCK_ROWS);

function indexesFor(rows: number): Uint32Array {
  if (indexScratch.length < rows) indexScratch = new Uint32Array(rows);
  return indexScratch;
}

/** Reads a block back. */
class In {
  readonly buf: Buffer;
  at: number;
  constructor(buf: Buffer, at = 0) {
    this.buf = buf;
    this.at = at;
  }

  varint(): number {
    let n = 0;
    let mul = 1;
    for (;;) {
      const b = this.buf[this.at++];
      if (b === undefined) throw new Error('Native block: truncated');
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 0x80;
    }
  }

  string(): string {
    const n = this.varint();
    const s = this.buf.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }

  u64(): number {
    const v = u64At(this.buf, this.at);
    this.at += 8;
    return v;
  }
}

// Times are epoch milliseconds as the validator gives them; text in ClickHouse's form, "YYYY-MM-DD
// hh:mm:ss.mmm" (UTC), is read too. Rows arrive in time order, so the second's epoch is kept for
// the next value with the same prefix.
let lastSecondText = '';
let lastSecondMs = 0;

function timeMs(text: string): number {
  if (text.length !== 23) return Number.NaN;
  if (!text.startsWith(lastSecondText) || lastSecondText === '') {
    lastSecondText = text.slice(0, 20);
    lastSecondMs = Date.parse(text.slice(0, 19).replace(' ', 'T') + 'Z');
  }
  return lastSecondMs + (text.charCodeAt(20) - 48) * 100 + (text.charCodeAt(21) - 48) * 10 + (text.charCodeAt(22) - 48);
}

/** A decimal string with at most nine fractional digits, as Decimal(18, 9)'s scaled Int64. */
function decimalUnits(text: string): bigint {
  const neg = text.startsWith('-');
  const [whole = '0', frac = ''] = (neg ? text.slice(1) : text).split('.');
  const units = BigInt(whole) * 1_000_000_000n + BigInt((frac + '000000000').slice(0, 9));
  return neg ? -units : units;
}

function decimalText(units: bigint): string {
  const neg = units < 0n;
  const abs = neg ? -units : units;
  const frac = (abs % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return (neg ? '-' : '') + (abs / 1_000_000_000n).toString() + (frac ? '.' + frac : '');
}

function u64At(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * TWO_32;
}

/** Writes a non-negative integer below 2^53 as a little-endian UInt64; returns where it ends. */
function putU64(b: Buffer, at: number, n: number): number {
  return b.writeUInt32LE(Math.floor(n / TWO_32), b.writeUInt32LE(n % TWO_32, at));
}

/** Where `count` length-prefixed strings that start at `at` end. */
function skipStrings(b: Buffer, at: number, count: number): number {
  const src = new In(b, at);
  for (let i = 0; i < count; i++) {
    const n = src.varint();
    src.at += n;
  }
  return src.at;
}

function wrongType(column: string, expected: string, v: unknown): Error {
  return new Error(`column ${column}: expected ${expected}, got ${v === null ? 'null' : typeof v}`);
}

/** Rows reach the encoder validated; a caller of store.insertRows may pass anything. */
function numberIn(column: string, v: unknown): number {
  if (typeof v !== 'number') throw wrongType(column, 'a number', v);
  return v;
}

/**
 * A LowCardinality column's dictionary ('' first, as the engine writes it) and each row's index in
 * it. Rows of one GPU or one tenant come in runs, so a value equal to the last one skips the lookup.
 */
function dictionaryOf(rows: readonly (readonly unknown[])[], c: number, name: string): { dict: string[]; indexes: Uint32Array } {
  const index = new Map<string, number>([['', 0]]);
  const dict = [''];
  const indexes = indexesFor(rows.length);
  let last: unknown = '';
  let lastIndex = 0;
  for (let r = 0; r < rows.length; r++) {
    const v = rows[r]![c];
    if (v !== last) {
      if (typeof v !== 'string') throw wrongType(name, 'a string', v);
      let i = index.get(v);
      if (i === undefined) {
        i = dict.length;
        index.set(v, i);
        dict.push(v);
      }
      last = v;
      lastIndex = i;
    }
    indexes[r] = lastIndex;
  }
  return { dict, indexes };
}

/**
 * One Native block with where each column's data starts and ends in it, so a block can be cut
 * without being decoded. A nullable column has two parts (null map, values), a map three
 * (offsets, keys, values); `parts[c]` lists a column's part boundaries.
 */
export interface NativeBlock {
  readonly buf: Buffer;
  readonly rows: number;
  readonly parts: readonly (readonly number[])[];
  /** A LowCardinality column's dictionary (its indexes are its one part); absent for other columns. */
  readonly dicts: readonly (readonly string[] | undefined)[];
}

/** A table's accepted rows, as the Native blocks they were encoded into. */
export class NativeBlocks {
  readonly blocks: readonly NativeBlock[];
  readonly count: number;

  constructor(blocks: readonly NativeBlock[]) {
    this.blocks = blocks;
    let n = 0;
    for (const b of blocks) n += b.rows;
    this.count = n;
  }

  static readonly EMPTY = new NativeBlocks([]);

  static concat(parts: readonly NativeBlocks[]): NativeBlocks {
    return parts.length === 1 ? parts[0]! : new NativeBlocks(parts.flatMap((p) => p.blocks));
  }

  get blockCount(): number {
    return this.blocks.length;
  }

  /** Blocks `from` to `to` (exclusive; the end when absent). */
  slice(from: number, to = this.blocks.length): NativeBlocks {
    return new NativeBlocks(this.blocks.slice(from, to));
  }

  /** The bytes to send: the blocks one after another, which the engine reads as one stream. */
  get chunks(): Buffer[] {
    return this.blocks.map((b) => b.buf);
  }
}

/** Encodes a table's validated rows (positional, in `columns` order) as Native blocks and back. */
export class NativeCodec {
  readonly columns: readonly string[];
  private readonly layout: readonly ColumnLayout[];

  /** `types`: each column's ClickHouse type as the schema declares it, in `columns` order. */
  constructor(columns: readonly string[], types: readonly string[]) {
    if (types.length !== columns.length) throw new Error(`${columns.length} columns but ${types.length} types`);
    this.columns = columns;
    this.layout = columns.map((name, i) => {
      const { kind, nullable } = kindOf(types[i]!);
      const h = new Out();
      h.string(name);
      h.string(nullable ? `Nullable(${WIRE_TYPES[kind]})` : WIRE_TYPES[kind]);
      return { name, kind, nullable, header: h.done() };
    });
  }

  /**
   * The rows as blocks of at most MAX_BLOCK_ROWS: a block is written column after column, and over a
   * few thousand rows the rows read for each column stay in the processor's cache.
   */
  encode(rows: readonly (readonly unknown[])[]): NativeBlocks {
    if (rows.length <= MAX_BLOCK_ROWS) return rows.length === 0 ? NativeBlocks.EMPTY : new NativeBlocks([this.encodeBlock(rows)]);
    const blocks: NativeBlock[] = [];
    for (let i = 0; i < rows.length; i += MAX_BLOCK_ROWS) blocks.push(this.encodeBlock(rows.slice(i, i + MAX_BLOCK_ROWS)));
    return new NativeBlocks(blocks);
  }

  private encodeBlock(rows: readonly (readonly unknown[])[]): NativeBlock {
    const out = scratch.begin();
    out.varint(this.layout.length);
    out.varint(rows.length);
    const parts: number[][] = [];
    const dicts: (string[] | undefined)[] = [];
    for (let c = 0; c < this.layout.length; c++) {
      const col = this.layout[c]!;
      out.bytes(col.header);
      if (col.kind === 'lc') {
        const { dict, indexes } = dictionaryOf(rows, c, col.name);
        out.dictionary(dict, rows.length);
        const start = out.at;
        out.indexes(indexes, rows.length, indexWidth(dict.length));
        parts.push([start, out.at]);
        dicts.push(dict);
        continue;
      }
      dicts.push(undefined);
      const bounds = [out.at];
      if (col.nullable) {
        const b = out.room(rows.length);
        for (let r = 0; r < rows.length; r++) b[out.at++] = rows[r]![c] === null ? 1 : 0;
        bounds.push(out.at);
      }
      if (col.kind === 'map') this.writeMap(out, rows, c, bounds);
      else this.writeValues(out, col, rows, c);
      bounds.push(out.at);
      parts.push(bounds);
    }
    return { buf: out.done(), rows: rows.length, parts, dicts };
  }

  private writeValues(out: Out, col: ColumnLayout, rows: readonly (readonly unknown[])[], c: number): void {
    const n = rows.length;
    const width = FIXED_WIDTH[col.kind];
    if (width === undefined) {
      for (let r = 0; r < n; r++) {
        const v = rows[r]![c];
        if (typeof v !== 'string') throw wrongType(col.name, 'a string', v);
        out.string(v);
      }
      return;
    }
    const b = out.room(width * n);
    let at = out.at;
    switch (col.kind) {
      case 'f64':
        for (let r = 0; r < n; r++) {
          const v = rows[r]![c] ?? 0;
          if (typeof v !== 'number') throw wrongType(col.name, 'a number', v);
          at = b.writeDoubleLE(v, at);
        }
        break;
      case 'time':
        for (let r = 0; r < n; r++) {
          const v = rows[r]![c] ?? 0;
          const ms = typeof v === 'number' ? v : typeof v === 'string' ? timeMs(v) : Number.NaN;
          if (!(ms >= 0)) throw wrongType(col.name, 'epoch milliseconds or ClickHouse time text', v);
          at = putU64(b, at, ms);
        }
        break;
      case 'u64':
        for (let r = 0; r < n; r++) at = putU64(b, at, numberIn(col.name, rows[r]![c]));
        break;
      case 'i64':
        for (let r = 0; r < n; r++) at = b.writeBigInt64LE(BigInt(numberIn(col.name, rows[r]![c])), at);
        break;
      case 'decimal9':
        for (let r = 0; r < n; r++) {
          const v = rows[r]![c];
          if (typeof v !== 'string') throw wrongType(col.name, 'a decimal string', v);
          at = b.writeBigInt64LE(decimalUnits(v), at);
        }
        break;
      case 'u32':
        for (let r = 0; r < n; r++) at = b.writeUInt32LE(numberIn(col.name, rows[r]![c]), at);
        break;
      case 'u16':
        for (let r = 0; r < n; r++) at = b.writeUInt16LE(numberIn(col.name, rows[r]![c]), at);
        break;
      case 'u8':
        for (let r = 0; r < n; r++) b[at++] = numberIn(col.name, rows[r]![c]);
        break;
      case 'bool':
        for (let r = 0; r < n; r++) b[at++] = rows[r]![c] ? 1 : 0;
        break;
    }
    out.at = at;
  }

  private writeMap(out: Out, rows: readonly (readonly unknown[])[], c: number, bounds: number[]): void {
    const entries = rows.map((r) => Object.entries(r[c] as Record<string, string>));
    const b = out.room(8 * rows.length);
    let total = 0;
    for (const e of entries) {
      total += e.length;
      out.at = putU64(b, out.at, total);
    }
    bounds.push(out.at);
    for (const e of entries) for (const [k] of e) out.string(k);
    bounds.push(out.at);
    for (const e of entries) for (const [, v] of e) out.string(v);
  }

  /** Rows [from, to) of a block as a block of their own, copied column by column without decoding them. */
  private rowsOf(blk: NativeBlock, from: number, to: number): NativeBlock {
    const rows = to - from;
    const out = scratch.begin();
    out.varint(this.layout.length);
    out.varint(rows);
    const parts: number[][] = [];
    for (let c = 0; c < this.layout.length; c++) {
      const col = this.layout[c]!;
      out.bytes(col.header);
      if (col.kind === 'lc') {
        // The block's whole dictionary is kept: the engine does not mind keys no row uses.
        const dict = blk.dicts[c]!;
        out.dictionary(dict, rows);
        const w = indexWidth(dict.length);
        const p = blk.parts[c]![0]!;
        const start = out.at;
        out.bytes(blk.buf.subarray(p + from * w, p + to * w));
        parts.push([start, out.at]);
        continue;
      }
      const bounds = [out.at];
      const r = this.rangesOf(blk, c, from, to);
      for (let part = 0; part < r.bytes.length; part += 2) {
        const start = r.bytes[part]!;
        const end = r.bytes[part + 1]!;
        if (col.kind === 'map' && part === 0) {
          // Offsets are cumulative entry counts: they start again from zero.
          const b = out.room(end - start);
          for (let at = start; at < end; at += 8) out.at = putU64(b, out.at, u64At(blk.buf, at) - r.firstEntry);
        } else {
          out.bytes(blk.buf.subarray(start, end));
        }
        bounds.push(out.at);
      }
      parts.push(bounds);
    }
    return { buf: out.done(), rows, parts, dicts: blk.dicts };
  }

  /**
   * Where rows [from, to) of column `c` lie in a block: a [start, end) byte pair per part, and for
   * a map the index of its first entry.
   */
  private rangesOf(blk: NativeBlock, c: number, from: number, to: number): { bytes: number[]; firstEntry: number } {
    const col = this.layout[c]!;
    const p = blk.parts[c]!;
    const b = blk.buf;
    if (col.kind === 'map') {
      const start = (r: number) => (r === 0 ? 0 : u64At(b, p[0]! + (r - 1) * 8));
      const e0 = start(from);
      const e1 = start(to);
      const k0 = skipStrings(b, p[1]!, e0);
      const v0 = skipStrings(b, p[2]!, e0);
      return { bytes: [p[0]! + from * 8, p[0]! + to * 8, k0, skipStrings(b, k0, e1 - e0), v0, skipStrings(b, v0, e1 - e0)], firstEntry: e0 };
    }
    if (col.kind === 'string') {
      const s0 = skipStrings(b, p[0]!, from);
      return { bytes: [s0, skipStrings(b, s0, to - from)], firstEntry: 0 };
    }
    const w = FIXED_WIDTH[col.kind]!;
    if (col.nullable) return { bytes: [p[0]! + from, p[0]! + to, p[1]! + from * w, p[1]! + to * w], firstEntry: 0 };
    return { bytes: [p[0]! + from * w, p[0]! + to * w], firstEntry: 0 };
  }

  /** The rows back, as the validator gives them (times as epoch milliseconds, money as decimal text). */
  decode(data: NativeBlocks): unknown[][] {
    const rows: unknown[][] = [];
    for (const blk of data.blocks) {
      const from = rows.length;
      for (let r = 0; r < blk.rows; r++) rows.push(new Array<unknown>(this.layout.length));
      for (let c = 0; c < this.layout.length; c++) this.readColumn(new In(blk.buf, blk.parts[c]![0]), this.layout[c]!, blk.dicts, rows, from, blk.rows, c);
    }
    return rows;
  }

  private readColumn(src: In, col: ColumnLayout, dicts: NativeBlock['dicts'], rows: unknown[][], from: number, n: number, c: number): void {
    let nulls: Buffer | undefined;
    if (col.nullable) {
      nulls = src.buf.subarray(src.at, src.at + n);
      src.at += n;
    }
    if (col.kind === 'lc') {
      const dict = dicts[c]!;
      const w = indexWidth(dict.length);
      const b = src.buf;
      for (let r = 0, at = src.at; r < n; r++, at += w) rows[from + r]![c] = dict[w === 1 ? b[at]! : w === 2 ? b.readUInt16LE(at) : b.readUInt32LE(at)];
      return;
    }
    if (col.kind === 'map') {
      const sizes: number[] = [];
      let prev = 0;
      for (let r = 0; r < n; r++) {
        const end = src.u64();
        sizes.push(end - prev);
        prev = end;
      }
      const keys: string[] = [];
      for (let i = 0; i < prev; i++) keys.push(src.string());
      let k = 0;
      for (let r = 0; r < n; r++) {
        const m: Record<string, string> = {};
        for (let i = 0; i < sizes[r]!; i++) m[keys[k + i]!] = src.string();
        k += sizes[r]!;
        rows[from + r]![c] = m;
      }
      return;
    }
    const b = src.buf;
    for (let r = 0; r < n; r++) {
      let v: unknown;
      switch (col.kind) {
        case 'string':
          v = src.string();
          break;
        case 'time':
        case 'u64':
          v = src.u64();
          break;
        case 'i64':
        case 'decimal9': {
          const big = b.readBigInt64LE(src.at);
          src.at += 8;
          v = col.kind === 'i64' ? Number(big) : decimalText(big);
          break;
        }
        case 'f64':
          v = b.readDoubleLE(src.at);
          src.at += 8;
          break;
        case 'u32':
          v = b.readUInt32LE(src.at);
          src.at += 4;
          break;
        case 'u16':
          v = b.readUInt16LE(src.at);
          src.at += 2;
          break;
        case 'u8':
          v = b[src.at++];
          break;
        case 'bool':
          v = b[src.at++] === 1;
          break;
      }
      rows[from + r]![c] = nulls?.[r] === 1 ? null : v;
    }
  }

  /**
   * The blocks in two halves, so a refused batch can be narrowed down to the rows at fault: split
   * between blocks, or a single block's rows split in two.
   */
  halve(data: NativeBlocks): [NativeBlocks, NativeBlocks] {
    const mid = data.blocks.length >> 1;
    if (mid > 0) return [data.slice(0, mid), data.slice(mid)];
    const blk = data.blocks[0]!;
    const at = blk.rows >> 1;
    return [new NativeBlocks([this.rowsOf(blk, 0, at)]), new NativeBlocks([this.rowsOf(blk, at, blk.rows)])];
  }
}
