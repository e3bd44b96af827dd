// One table's bounded queue and batcher. Rows are buffered and cut into batches at `batchRows` or
// after `batchMs`, whichever comes first; at most `maxInflight` inserts run at once. A batch keeps
// its deduplication token across retries, so a retried insert that had in fact landed is discarded
// by ClickHouse instead of counted twice. Bad rows are isolated by splitting the batch in halves
// and dead-lettered one by one; everything else is retried with backoff, never dropped.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { PipelineConfig } from '../config/schema.ts';
import { BoundedBatcher } from '../lifecycle/bounded-batcher.ts';
import type { Logger } from '../log.ts';
import { rowToObject, type Row } from '../records/validate.ts';
import type { TableDef } from '../schema/tables.ts';
import { errorMessage } from '../store/errors.ts';
import type { BatchSpan, Inserter } from './inserter.ts';
import { RetryingInserter, type RetryObserver } from './retrying-inserter.ts';
import { NativeBlocks, type NativeCodec } from '../store/native-blocks.ts';
import type { PipelineMetrics } from './metrics.ts';

/** Rows of small submits held as they are before they are encoded as one block (native-blocks.ts). */
const HOLD_ROWS = 1024;

export type { BatchSpan, Inserter } from './inserter.ts';

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
  private readonly m: PipelineMetrics;
  private readonly log: Logger;
  private readonly onReject: RejectHandler;
  private readonly spillDir?: string;
  private readonly runId = randomUUID().slice(0, 8);
  private seq = 0;

  /** The queue's bound and the timing of the batch being gathered (shared with the Kafka producer). */
  private readonly batcher: BoundedBatcher;
  /** The batch being gathered: blocks, then rows not yet encoded (fewer than HOLD_ROWS). */
  private buffer: NativeBlocks[] = [];
  private pending: Row[] = [];
  private bufferAcks: (() => void)[] = [];
  /** The time span of the buffer's rows. */
  private bufferSpan: BatchSpan = emptySpan();
  /** Position of the time column of a table with an identity (its batches carry their time span). */
  private readonly timeAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = 0;
  private readonly ready: Batch[] = [];
  private inflight = 0;
  private readonly inflightBatches = new Set<Batch>();
  private closed = false;
  private readonly stopRetries = new AbortController();
  private readonly retrying: RetryingInserter;
  /** When the current run of failed inserts began (undefined while inserts succeed). */
  private failingSince: number | undefined;
  private idleResolvers: (() => void)[] = [];

  constructor(o: TableWriterOptions) {
    this.def = o.table;
    this.codec = o.codec;
    this.table = o.table.name;
    this.cfg = o.config;
    this.retrying = new RetryingInserter(o.inserter, o.config.retry, this.stopRetries.signal);
    this.m = o.metrics;
    this.log = o.log;
    this.onReject = o.onReject;
    this.spillDir = o.spillDir;
    this.timeAt = o.table.identity ? Object.keys(o.table.columns).indexOf(o.table.ttlColumn) : undefined;
    // Rows held (buffered, batched, in flight) are bounded by queue_capacity; producers wait for room
    // in a waiting room as large as the queue. Rows a paused producer holds are admitted even if
    // shutdown starts meanwhile: they are already in memory, so the final flush takes them too.
    this.batcher = new BoundedBatcher({
      capacity: this.cfg.queue_capacity,
      waitingRoom: this.cfg.queue_capacity,
      maxBatch: this.cfg.batch_rows,
      onClose: 'admit',
    });
    this.m.queueCapacity.set({ table: this.table }, this.cfg.queue_capacity);
    this.m.queueRows.set({ table: this.table }, 0);
  }

  get heldRows(): number {
    return this.batcher.held;
  }

  /** How long inserts have been failing without one success (0 while they succeed). */
  failingForMs(now = Date.now()): number {
    return this.failingSince === undefined ? 0 : now - this.failingSince;
  }

  get isFull(): boolean {
    return this.batcher.isFull;
  }

  /**
   * Adds rows. When the queue is full the returned promise waits for room (the producer is paused)
   * as long as the waiting room, as large as the queue itself, has space; past that, rows are dropped
   * and counted. With `onFull: 'drop'` a full queue drops at once.
   */
  async enqueue(rows: readonly Row[], opts: EnqueueOptions = {}): Promise<EnqueueResult> {
    const n = rows.length;
    if (n === 0) return { accepted: 0, dropped: 0, durable: Promise.resolve() };
    let admitted = this.batcher.take(n, { noWait: opts.onFull === 'drop' });
    if (admitted instanceof Promise) {
      this.m.producerPauses.inc({ table: this.table });
      const since = performance.now();
      admitted = await admitted;
      this.m.producerPausedSeconds.inc({ table: this.table }, (performance.now() - since) / 1000);
    }
    if (admitted === 'closed') return this.drop(n, 'closed');
    if (admitted === 'full') return this.drop(n, 'queue_full');
    this.m.queueRows.set({ table: this.table }, this.batcher.held);
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
      const to = Math.min(rows.length, from + max - this.batcher.gathered);
      this.hold(rows, from, to);
      this.batcher.gather(to - from, Date.now() + waitMs);
      from = to;
      if (this.bufferAcks[this.bufferAcks.length - 1] !== piece) {
        pieces++;
        this.bufferAcks.push(piece);
      }
      if (this.batcher.gathered >= max) this.cut();
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

  private arm(): void {
    const due = this.batcher.dueIn(Date.now());
    if (due === undefined || (this.timer && this.timerDue <= this.batcher.due)) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = this.batcher.due;
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
    if (this.batcher.gathered === 0) return;
    this.batcher.cut();
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
        this.batcher.release(batch.rows.count);
        this.m.queueRows.set({ table: this.table }, this.batcher.held);
        for (const a of batch.acks) a();
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

  /**
   * Inserts a batch, retried until it lands (RetryingInserter). A batch ClickHouse refuses as bad
   * data or as too large is halved until the refused rows are isolated and dead-lettered. Returns
   * false only when shutdown gave up on the rows (they are spilled by the caller).
   */
  private async insertWithRetry(rows: NativeBlocks, token: string, span: BatchSpan | undefined): Promise<boolean> {
    const r = await this.retrying.insert(this.table, rows, token, span, this.observer(rows.count));
    if (r.kind === 'stopped') return false;
    if (r.kind === 'stored') {
      this.m.insertSeconds.observe({ table: this.table }, r.seconds);
      this.m.rowsWritten.inc({ table: this.table }, r.stored);
      if (r.stored < rows.count) this.m.duplicates.inc({ table: this.table, stage: 'store' }, rows.count - r.stored);
      return true;
    }
    if (rows.count > 1) {
      this.m.batchSplits.inc({ table: this.table, class: r.class });
      const [first, second] = this.codec.halve(rows);
      const a = await this.insertWithRetry(first, `${token}/a`, span);
      const b = await this.insertWithRetry(second, `${token}/b`, span);
      return a && b;
    }
    this.onReject(this.codec.decode(rows)[0] as Row, `ClickHouse refused the row: ${errorMessage(r.error).slice(0, 500)}`);
    return true;
  }

  /** Counts and logs the retries of one insert; readiness follows how long inserts have been failing. */
  private observer(rows: number): RetryObserver {
    return {
      landed: () => {
        this.failingSince = undefined;
      },
      retrying: (attempt, cls, err, waitMs) => {
        this.failingSince ??= Date.now();
        this.m.insertRetries.inc({ table: this.table, class: cls });
        const level = attempt >= this.cfg.retry.max_attempts ? 'error' : 'warn';
        this.log[level]('insert failed; retrying', { table: this.table, rows, attempt, class: cls, in_ms: waitMs, error: errorMessage(err).slice(0, 300) });
      },
    };
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
    if (this.batcher.held === 0) return;
    await new Promise<void>((r) => this.idleResolvers.push(r));
  }

  private checkIdle(): void {
    if (this.batcher.held === 0 && this.batcher.gathered === 0) {
      const rs = this.idleResolvers;
      this.idleResolvers = [];
      for (const r of rs) r();
    }
  }

  /** Stops intake, flushes, and waits up to `timeoutMs`; what is still unwritten then is spilled. */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    this.batcher.close();
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
        this.batcher.release(b.rows.count);
        for (const a of b.acks) a();
      }
      await flushed;
    }
    this.m.queueRows.set({ table: this.table }, this.batcher.held);
  }
}
