// One table's bounded queue and batcher. Rows are buffered and cut into batches at `batchRows` or
// after `batchMs`, whichever comes first; at most `maxInflight` inserts run at once. A batch keeps
// its deduplication token across retries, so a retried insert that had in fact landed is discarded
// by ClickHouse instead of counted twice. Bad rows are isolated by splitting the batch in halves
// and dead-lettered one by one; everything else is retried with backoff, never dropped.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { PipelineConfig } from '../config/schema.ts';
import { backoffMs, sleep } from '../lifecycle/component.ts';
import type { Logger } from '../log.ts';
import { rowToObject, type Row } from '../records/validate.ts';
import type { TableDef } from '../schema/tables.ts';
import { classifyInsertError, errorMessage } from '../store/errors.ts';
import { NativeBlocks, type NativeCodec } from '../store/native-blocks.ts';
import type { PipelineMetrics } from './metrics.ts';

/** Rows of small submits held as they are before they are encoded as one block (native-blocks.ts). */
const HOLD_ROWS = 1024;

/** The earliest and latest time (epoch milliseconds) of a batch's rows: where its identities may already be stored. */
export interface BatchSpan {
  from: number;
  to: number;
  /** Some row came from a producer that may send a record twice (EnqueueOptions.unique not set). */
  repeats: boolean;
}

export interface Inserter {
  /**
   * `span` is given for tables with an identity: rows already stored are to be left out. Resolves
   * with the number of rows stored when known.
   */
  insert(table: string, rows: NativeBlocks, dedupToken: string, span?: BatchSpan): Promise<number | undefined | void>;
}

/** What happens to rows ClickHouse refuses as bad data, one by one. */
export type RejectHandler = (row: Row, reason: string) => void;

export interface EnqueueOptions {
  /** Insert these rows as one batch with exactly this deduplication token (Kafka offsets). */
  token?: string;
  /** When the queue and its waiting room are full: wait (default) or drop and count. */
  onFull?: 'wait' | 'drop';
  /**
   * How long these rows may wait for their batch to fill before it is cut; never less than
   * `pipeline.batch_ms`. A batch is cut at the earliest deadline of the rows it holds.
   */
  maxDelayMs?: number;
  /**
   * The producer sends each record once (a scraper's samples of one page): the insert need not look
   * for repeats within the batch. Records already stored are left out all the same.
   */
  unique?: boolean;
}

export interface EnqueueResult {
  accepted: number;
  dropped: number;
  /** Resolves once ClickHouse has acknowledged every accepted row (or they were dead-lettered). */
  durable: Promise<void>;
}

interface Batch {
  rows: NativeBlocks;
  token: string;
  cutAt: number;
  acks: (() => void)[];
  span: BatchSpan;
}

interface Waiter {
  rows: number;
  since: number;
  resolve: () => void;
}

export interface TableWriterOptions {
  table: TableDef;
  /** How the table's rows are Native blocks; also turns refused or spilled blocks back into rows. */
  codec: NativeCodec;
  config: PipelineConfig;
  inserter: Inserter;
  metrics: PipelineMetrics;
  log: Logger;
  onReject: RejectHandler;
  /** Where rows go that shutdown could not insert in time. */
  spillDir?: string;
}

function emptySpan(): BatchSpan {
  return { from: Infinity, to: -Infinity, repeats: false };
}

export class TableWriter {
  readonly table: string;
  private readonly def: TableDef;
  private readonly codec: NativeCodec;
  private readonly cfg: PipelineConfig;
  private readonly inserter: Inserter;
  private readonly m: PipelineMetrics;
  private readonly log: Logger;
  private readonly onReject: RejectHandler;
  private readonly spillDir?: string;
  private readonly runId = randomUUID().slice(0, 8);
  private seq = 0;

  /** The batch being gathered: blocks, then rows not yet encoded (fewer than HOLD_ROWS). */
  private buffer: NativeBlocks[] = [];
  private pending: Row[] = [];
  private bufferRows = 0;
  private bufferAcks: (() => void)[] = [];
  /** When the buffer's batch must be cut: the earliest deadline of the rows in it. */
  private bufferDue = 0;
  /** The time span of the buffer's rows. */
  private bufferSpan: BatchSpan = emptySpan();
  /** Position of the time column of a table with an identity (its batches carry their time span). */
  private readonly timeAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = 0;
  private readonly ready: Batch[] = [];
  private inflight = 0;
  private readonly inflightBatches = new Set<Batch>();
  /** Rows held: buffered + batched + in flight. Bounded by queue_capacity. */
  private held = 0;
  private readonly waiters: Waiter[] = [];
  private waitingRows = 0;
  private closed = false;
  private readonly stopRetries = new AbortController();
  /** When the current run of failed inserts began (undefined while inserts succeed). */
  private failingSince: number | undefined;
  private idleResolvers: (() => void)[] = [];

  constructor(o: TableWriterOptions) {
    this.def = o.table;
    this.codec = o.codec;
    this.table = o.table.name;
    this.cfg = o.config;
    this.inserter = o.inserter;
    this.m = o.metrics;
    this.log = o.log;
    this.onReject = o.onReject;
    this.spillDir = o.spillDir;
    this.timeAt = o.table.identity ? Object.keys(o.table.columns).indexOf(o.table.ttlColumn) : undefined;
    this.m.queueCapacity.set({ table: this.table }, this.cfg.queue_capacity);
    this.m.queueRows.set({ table: this.table }, 0);
  }

  get heldRows(): number {
    return this.held;
  }

  /** How long inserts have been failing without one success (0 while they succeed). */
  failingForMs(now = Date.now()): number {
    return this.failingSince === undefined ? 0 : now - this.failingSince;
  }

  get isFull(): boolean {
    return this.held >= this.cfg.queue_capacity;
  }

  /**
   * Adds rows. When the queue is full the returned promise waits for room (the producer is paused)
   * as long as the waiting room, as large as the queue itself, has space; past that, rows are dropped
   * and counted. With `onFull: 'drop'` a full queue drops at once.
   */
  async enqueue(rows: readonly Row[], opts: EnqueueOptions = {}): Promise<EnqueueResult> {
    const n = rows.length;
    if (n === 0) return { accepted: 0, dropped: 0, durable: Promise.resolve() };
    if (this.closed) return this.drop(n, 'closed');
    if (this.held + n > this.cfg.queue_capacity && this.held > 0) {
      if (opts.onFull === 'drop' || this.waitingRows + n > this.cfg.queue_capacity) return this.drop(n, 'queue_full');
      // Rows a paused producer holds are admitted even if shutdown starts meanwhile: they are
      // already in memory and the waiting room is bounded, so the final flush takes them too.
      await this.waitForRoom(n);
    }
    this.held += n;
    this.m.queueRows.set({ table: this.table }, this.held);
    let ack!: () => void;
    const durable = new Promise<void>((r) => (ack = r));
    if (opts.token !== undefined) {
      const span = this.spanOf(rows, 0, n, emptySpan());
      span.repeats = !opts.unique;
      this.ready.push({ rows: this.codec.encode(rows), token: opts.token, cutAt: Date.now(), acks: [ack], span });
    } else {
      if (!opts.unique) this.bufferSpan.repeats = true;
      this.append(rows, ack, Math.max(this.cfg.batch_ms, opts.maxDelayMs ?? 0));
      if (this.closed) this.cut();
    }
    this.pump();
    return { accepted: n, dropped: 0, durable };
  }

  /** Widens `span` to the times of rows[from..to). */
  private spanOf(rows: readonly Row[], from: number, to: number, span: BatchSpan): BatchSpan {
    const at = this.timeAt;
    if (at !== undefined) {
      for (let i = from; i < to; i++) {
        const t = rows[i]![at] as number;
        if (t < span.from) span.from = t;
        if (t > span.to) span.to = t;
      }
    }
    return span;
  }

  /**
   * Adds rows to the buffer, cutting batches of `batchRows`; `ack` runs when every piece landed.
   * The rows may wait `waitMs` for their batch to fill.
   */
  private append(rows: readonly Row[], ack: () => void, waitMs: number): void {
    let pieces = 0;
    let sealed = false;
    const piece = () => {
      if (--pieces === 0 && sealed) ack();
    };
    const max = this.cfg.batch_rows;
    for (let from = 0; from < rows.length;) {
      const due = Date.now() + waitMs;
      if (this.bufferRows === 0 || due < this.bufferDue) this.bufferDue = due;
      const to = Math.min(rows.length, from + max - this.bufferRows);
      this.hold(rows, from, to);
      this.bufferRows += to - from;
      from = to;
      if (this.bufferAcks[this.bufferAcks.length - 1] !== piece) {
        pieces++;
        this.bufferAcks.push(piece);
      }
      if (this.bufferRows >= max) this.cut();
    }
    sealed = true;
    if (pieces === 0) ack();
    this.arm();
  }

  /**
   * Encodes rows into the batch's blocks once about a thousand are held: rows of small submits (a
   * page's samples, a browser's events) wait as they are until then, so blocks stay large and few,
   * and no row waits long enough as an object to be promoted out of V8's young generation.
   */
  private hold(rows: readonly Row[], from: number, to: number): void {
    this.spanOf(rows, from, to, this.bufferSpan);
    if (this.pending.length === 0 && to - from >= HOLD_ROWS) {
      this.buffer.push(this.codec.encode(from === 0 && to === rows.length ? rows : rows.slice(from, to)));
      return;
    }
    for (let i = from; i < to; i++) this.pending.push(rows[i]!);
    if (this.pending.length >= HOLD_ROWS) this.encodePending();
  }

  private encodePending(): void {
    if (this.pending.length === 0) return;
    this.buffer.push(this.codec.encode(this.pending));
    this.pending = [];
  }

  private drop(n: number, reason: string): EnqueueResult {
    this.m.rowsDropped.inc({ table: this.table, reason }, n);
    return { accepted: 0, dropped: n, durable: Promise.resolve() };
  }

  private waitForRoom(n: number): Promise<void> {
    this.m.producerPauses.inc({ table: this.table });
    this.waitingRows += n;
    return new Promise((resolve) => this.waiters.push({ rows: n, since: performance.now(), resolve }));
  }

  private wakeWaiters(): void {
    while (this.waiters.length > 0) {
      const w = this.waiters[0]!;
      if (!this.closed && this.held + w.rows > this.cfg.queue_capacity && this.held > 0) break;
      this.waiters.shift();
      this.waitingRows -= w.rows;
      this.m.producerPausedSeconds.inc({ table: this.table }, (performance.now() - w.since) / 1000);
      w.resolve();
    }
  }

  private arm(): void {
    if (this.bufferRows === 0 || (this.timer && this.timerDue <= this.bufferDue)) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = this.bufferDue;
    const due = Math.max(0, this.bufferDue - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.cut();
      this.pump();
    }, due);
    // Deliberately not unref'd: while rows wait in the buffer the process must stay up to write them.
  }

  private cut(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.bufferRows === 0) return;
    this.encodePending();
    this.ready.push({
      rows: NativeBlocks.concat(this.buffer),
      token: `${this.table}-${this.runId}-${++this.seq}`,
      cutAt: Date.now(),
      acks: this.bufferAcks,
      span: this.bufferSpan,
    });
    this.bufferSpan = emptySpan();
    this.buffer = [];
    this.bufferRows = 0;
    this.bufferAcks = [];
  }

  private pump(): void {
    while (this.inflight < this.cfg.max_inflight && this.ready.length > 0) {
      // A batch that may hold a record of one in flight waits for it: each insert leaves out what
      // the ones before it stored, which it can see only once they are done.
      if (this.timeAt !== undefined && this.overlapsInflight(this.ready[0]!.span)) return;
      const batch = this.ready.shift()!;
      this.inflight++;
      this.inflightBatches.add(batch);
      this.m.inflightInserts.set({ table: this.table }, this.inflight);
      void this.run(batch).finally(() => {
        this.inflight--;
        this.inflightBatches.delete(batch);
        this.m.inflightInserts.set({ table: this.table }, this.inflight);
        this.held -= batch.rows.count;
        this.m.queueRows.set({ table: this.table }, this.held);
        for (const a of batch.acks) a();
        this.wakeWaiters();
        this.pump();
        this.checkIdle();
      });
    }
  }

  private overlapsInflight(span: BatchSpan): boolean {
    for (const b of this.inflightBatches) if (b.span.from <= span.to && span.from <= b.span.to) return true;
    return false;
  }

  private async run(batch: Batch): Promise<void> {
    this.m.batchRows.observe({ table: this.table }, batch.rows.count);
    const done = await this.insertWithRetry(batch.rows, batch.token, this.timeAt !== undefined ? batch.span : undefined);
    if (done) this.m.queueWaitSeconds.observe({ table: this.table }, (Date.now() - batch.cutAt) / 1000);
    else this.spill(batch.rows);
  }

  /** Returns false only when shutdown gave up on the rows (they are spilled by the caller). */
  private async insertWithRetry(rows: NativeBlocks, token: string, span: BatchSpan | undefined): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const t0 = performance.now();
      try {
        const stored = await this.inserter.insert(this.table, rows, token, span);
        this.failingSince = undefined;
        this.m.insertSeconds.observe({ table: this.table }, (performance.now() - t0) / 1000);
        const written = typeof stored === 'number' ? stored : rows.count;
        this.m.rowsWritten.inc({ table: this.table }, written);
        if (written < rows.count) this.m.duplicates.inc({ table: this.table, stage: 'store' }, rows.count - written);
        return true;
      } catch (err) {
        const cls = classifyInsertError(err);
        if ((cls === 'bad_data' || cls === 'too_large') && rows.count > 1) {
          this.m.batchSplits.inc({ table: this.table, class: cls });
          const [first, second] = this.codec.halve(rows);
          const a = await this.insertWithRetry(first, `${token}/a`, span);
          const b = await this.insertWithRetry(second, `${token}/b`, span);
          return a && b;
        }
        if (cls === 'bad_data' || cls === 'too_large') {
          this.onReject(this.codec.decode(rows)[0] as Row, `ClickHouse refused the row: ${errorMessage(err).slice(0, 500)}`);
          return true;
        }
        if (this.stopRetries.signal.aborted) return false;
        this.failingSince ??= Date.now();
        this.m.insertRetries.inc({ table: this.table, class: cls });
        const wait = backoffMs(attempt, this.cfg.retry.initial_ms, this.cfg.retry.max_ms);
        const level = attempt + 1 >= this.cfg.retry.max_attempts ? 'error' : 'warn';
        this.log[level]('insert failed; retrying', {
          table: this.table,
          rows: rows.count,
          attempt: attempt + 1,
          class: cls,
          in_ms: wait,
          error: errorMessage(err).slice(0, 300),
        });
        await sleep(wait, this.stopRetries.signal);
        if (this.stopRetries.signal.aborted) return false;
      }
    }
  }

  private spill(rows: NativeBlocks): void {
    if (rows.count === 0) return;
    if (!this.spillDir) {
      this.m.rowsDropped.inc({ table: this.table, reason: 'shutdown_timeout' }, rows.count);
      this.log.error('rows lost at shutdown: no spill directory', { table: this.table, rows: rows.count });
      return;
    }
    mkdirSync(this.spillDir, { recursive: true });
    const file = path.join(this.spillDir, `${this.table}-${Date.now()}-${this.runId}-${++this.seq}.ndjson`);
    const objects = this.codec.decode(rows).map((r) => JSON.stringify(rowToObject(this.def, r as Row)));
    writeFileSync(file, objects.join('\n') + '\n');
    this.m.rowsSpilled.inc({ table: this.table }, rows.count);
    this.log.error('could not insert before the shutdown deadline; rows spilled to disk, reload with `llmeter ingest`', {
      table: this.table,
      rows: rows.count,
      file,
    });
  }

  /** Cuts the buffer and resolves when everything enqueued so far is in ClickHouse. */
  async flush(): Promise<void> {
    this.cut();
    this.pump();
    if (this.held === 0) return;
    await new Promise<void>((r) => this.idleResolvers.push(r));
  }

  private checkIdle(): void {
    if (this.held === 0 && this.bufferRows === 0) {
      const rs = this.idleResolvers;
      this.idleResolvers = [];
      for (const r of rs) r();
    }
  }

  /** Stops intake, flushes, and waits up to `timeoutMs`; what is still unwritten then is spilled. */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    this.wakeWaiters();
    const flushed = this.flush();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      flushed.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), timeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      // In-flight retries give up at their next backoff and spill their own rows; queued batches
      // are spilled here.
      this.stopRetries.abort();
      for (const b of this.ready.splice(0)) {
        this.spill(b.rows);
        this.held -= b.rows.count;
        for (const a of b.acks) a();
      }
      await flushed;
    }
    this.m.queueRows.set({ table: this.table }, this.held);
  }
}
