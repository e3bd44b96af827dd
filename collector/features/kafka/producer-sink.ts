// The exporters' RecordSink in scale-out mode: records are published to Kafka, one topic per signal,
// keyed so related records stay in order. Sends are batched (bounded in bytes and time) and run one
// at a time, which is what the idempotent producer needs to keep order across retries. Within a send
// batch, the records of one topic and one key are packed into NDJSON messages (framing.ts), so the
// client's per-message work is paid once per message instead of once per record. When Kafka
// cannot be reached, the packed batches go to a bounded disk spool; while the spool holds anything,
// new records go to disk behind it (every linger, not only between replay attempts), so replay keeps
// the order they were produced in and an outage does not hold records in memory. A failed batch is
// replayed with exactly its messages first, so if the broker had in fact written it, the idempotent
// producer's sequence numbers make the broker discard the copy.
//
// A send that has not finished by `producer.send_timeout_ms` goes to the spool, but the client may
// still be sending it (kafkajs cannot cancel a send): it stays "in doubt" at the head of the spool,
// and the next send waits until the client settles it, acknowledging it from the spool if it did
// reach Kafka, so two sends never run at once and a batch is never sent twice by one process.
// Meanwhile new records go to the spool, as they do after a failed send.
import { CompressionTypes, type Kafka, type Message, type Producer } from 'kafkajs';
import type { Registry } from 'prom-client';
import { errorMessage } from '../../core/errors.ts';
import { BoundedBatcher } from '../../core/lifecycle/bounded-batcher.ts';
import { once, type Component } from '../../core/lifecycle/component.ts';
import type { Logger } from '../../core/log.ts';
import type { Origin, RecordSink, SubmitResult } from '../../core/pipeline/pipeline.ts';
import type { EnqueueOptions } from '../../core/pipeline/table-writer.ts';
import type { Signal, SignalRecords } from '../../core/schema/tables.ts';
import type { KafkaConfig } from './config.ts';
import { packedHeaders, packRecords } from './framing.ts';
import { ProducerMetrics } from './metrics.ts';
import { DiskSpool, spoolRecords, type SpoolBatch, type SpoolMessage } from './spool.ts';
import { messageKey, topicName } from './topics.ts';

interface Pending {
  remaining: number;
  resolve: () => void;
  /** Some of the records went nowhere (the spool was full): `durable` resolved without keeping them. */
  lost: boolean;
}

interface Queued {
  topic: string;
  key: string;
  value: string;
  /** When submit() took the record (ms): the Kafka record timestamp, so lag includes buffering and spooling. */
  timestamp: string;
  bytes: number;
  owner: Pending;
}

type SendOutcome = 'sent' | 'failed' | 'timed_out';

/**
 * A client operation past its deadline that kafkajs is still working on: a send, whose batches head
 * the spool, or the connection at start. It resolves true if it reached Kafka after all.
 */
interface InDoubt {
  attempt: Promise<boolean>;
  /** Spool lines (batches) it stands for; 0 for the connection at start. */
  lines: number;
}

export interface KafkaSinkOptions {
  config: KafkaConfig;
  kafka: Kafka;
  registry: Registry;
  log: Logger;
  /** Runs once before the first send that reaches Kafka (topic creation or verification). */
  prepare?: () => Promise<void>;
}

const MESSAGE_OVERHEAD = 64;

export class KafkaSink implements RecordSink, Component {
  readonly name = 'kafka-producer';
  readonly metrics: ProducerMetrics;
  private readonly cfg: KafkaConfig;
  private readonly log: Logger;
  private readonly producer: Producer;
  private readonly spool: DiskSpool;
  private queue: Queued[] = [];
  /** Bytes in memory (bounded by buffer_max_bytes, with a waiting room as large) and the linger of what waits to go out. */
  private readonly batcher: BoundedBatcher;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  /** Set once the loop has returned: a submit released after that spools its records itself. */
  private loopDone = false;
  private closing = false;
  private inDoubt: InDoubt | undefined;
  private connected = false;
  private prepared = false;
  private readonly prepare?: () => Promise<void>;
  private spoolingSince = 0;
  private flushWaiters: (() => void)[] = [];

  constructor(o: KafkaSinkOptions) {
    this.cfg = o.config;
    this.log = o.log;
    this.metrics = new ProducerMetrics(o.registry);
    this.prepare = o.prepare;
    const p = o.config.producer;
    // Producers paused for room when shutdown begins are admitted: their records are in memory already.
    this.batcher = new BoundedBatcher({ capacity: p.buffer_max_bytes, waitingRoom: p.buffer_max_bytes, maxBatch: p.batch_max_bytes, onClose: 'admit' });
    this.producer = o.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: { retries: o.config.producer.retries, initialRetryTime: 100, maxRetryTime: 1_000 },
    });
    this.spool = new DiskSpool({ dir: o.config.spool_dir, maxBytes: o.config.spool_max_bytes });
    this.updateSpoolGauges();
    if (!this.spool.isEmpty)
      this.log.info('kafka spool holds records from an earlier run; they are sent first', { records: this.spool.records, bytes: this.spool.bytes });
  }

  async start(): Promise<void> {
    // Starting must not depend on Kafka being up: the spool covers an outage from the first record.
    // It waits for Kafka at most one send timeout; a connection still being tried then is the client
    // operation the first send waits for, and records go to the spool meanwhile.
    let error = '';
    const attempt = (async () => {
      try {
        await this.producer.connect();
        this.connected = true;
        await this.prepare?.();
        this.prepared = true;
        return true;
      } catch (err) {
        error = errorMessage(err);
        return false;
      }
    })();
    const ok = await within(attempt, this.cfg.producer.send_timeout_ms);
    if (ok === undefined) {
      this.inDoubt = { attempt, lines: 0 };
      error = `no answer within producer.send_timeout_ms (${this.cfg.producer.send_timeout_ms} ms)`;
    }
    if (!ok) this.log.warn('kafka unreachable at start; records will be spooled until it is back', { error });
    this.loop = this.run();
  }

  async submit<S extends Signal>(signal: S, records: readonly SignalRecords[S][], _origin: Origin, opts?: EnqueueOptions): Promise<SubmitResult> {
    const topic = topicName(this.cfg.topic_prefix, signal);
    const reasons = new Map<string, number>();
    const items: { key: string; value: string; bytes: number }[] = [];
    let bytes = 0;
    for (const rec of records) {
      let value: string | undefined;
      try {
        value = JSON.stringify(rec);
      } catch (err) {
        const reason = `not serialisable: ${errorMessage(err)}`;
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
        continue;
      }
      if (value === undefined) continue;
      const key = messageKey(signal, rec);
      const b = value.length + key.length + MESSAGE_OVERHEAD;
      items.push({ key, value, bytes: b });
      bytes += b;
    }
    const rejected = records.length - items.length;
    if (rejected > 0) this.metrics.recordsDropped.inc({ topic, reason: 'not_serialisable' }, rejected);
    const result = (accepted: number, dropped: number, durable: Promise<void>, owner?: Pending): SubmitResult => ({
      accepted,
      rejected,
      dropped,
      reasons: [...reasons].map(([reason, count]) => ({ reason, count })),
      durable,
      lost: () => owner?.lost ?? false,
    });
    if (items.length === 0) return result(0, 0, Promise.resolve());
    let admitted = this.batcher.take(bytes, { noWait: opts?.onFull === 'drop' });
    if (admitted instanceof Promise) {
      const t0 = performance.now();
      admitted = await admitted;
      this.metrics.submitWaitSeconds.inc((performance.now() - t0) / 1000);
    }
    if (admitted !== 'admitted') {
      this.metrics.recordsDropped.inc({ topic, reason: admitted === 'closed' ? 'closed' : 'buffer_full' }, items.length);
      return result(0, items.length, Promise.resolve());
    }
    let resolve!: () => void;
    const durable = new Promise<void>((r) => (resolve = r));
    const owner: Pending = { remaining: items.length, resolve, lost: false };
    const now = Date.now();
    const timestamp = String(now);
    for (const it of items) this.queue.push({ topic, key: it.key, value: it.value, timestamp, bytes: it.bytes, owner });
    this.batcher.gather(bytes, now + this.cfg.producer.linger_ms);
    this.metrics.bufferedBytes.set(this.batcher.held);
    // Released from waiting for room by a shutdown whose loop has already finished: nobody else will.
    if (this.loopDone) this.spoolQueue();
    this.wake?.();
    return result(items.length, 0, durable, owner);
  }

  private async run(): Promise<void> {
    for (;;) {
      if (!this.spool.isEmpty || this.inDoubt) {
        // Kafka did not take the last send (or has not answered yet). Order: whatever is in memory
        // goes behind what is already on disk.
        this.spoolQueue();
        // Stopping: the spool is replayed by the next run; shutdown does not wait on Kafka again.
        if (this.closing) break;
        if (await this.replayOne()) continue;
        await this.whileSpooling(undefined, this.cfg.replay_interval_ms);
        continue;
      }
      const due = this.dueIn();
      if (due === undefined) {
        this.notifyFlushed();
        if (this.closing) break;
        await this.idle();
        continue;
      }
      if (due > 0) {
        await this.idle(due);
        continue;
      }
      const batch = this.cut(this.cfg.producer.batch_max_bytes);
      const packed = this.pack(batch);
      const { outcome, attempt } = await this.send(packed);
      let kept = true;
      if (outcome !== 'sent') {
        let lines = 0;
        for (const b of packed) {
          if (this.toSpool(b)) lines++;
          else kept = false;
        }
        if (outcome === 'timed_out' && lines > 0) this.inDoubt = { attempt, lines };
      }
      for (const q of batch) settle(q.owner, kept);
    }
    // A send past its deadline may still reach Kafka; its batches stay on disk if it does not finish
    // within one more send timeout (the next run sends them again).
    if (this.inDoubt && (await within(this.inDoubt.attempt, this.cfg.producer.send_timeout_ms))) this.ackInDoubt();
    this.loopDone = true;
    this.spoolQueue();
  }

  /** Milliseconds until what is in memory is due to go out (0: now); undefined when memory is empty. */
  private dueIn(): number | undefined {
    if (this.queue.length === 0) return undefined;
    if (this.closing || this.flushWaiters.length > 0) return 0;
    return this.batcher.dueIn(Date.now());
  }

  /**
   * Waits for `work` (a send to a broker that failed before) or `maxMs`, whichever ends first, or
   * for shutdown, spooling what arrives in memory as it falls due instead of holding it until the
   * wait is over: one attempt against a dead broker takes up to the send timeout.
   */
  private async whileSpooling(work: Promise<unknown> | undefined, maxMs = Infinity): Promise<void> {
    let settled = false;
    const wake = () => {
      settled = true;
      this.wake?.();
    };
    work?.then(wake, wake);
    const until = Date.now() + maxMs;
    while (!settled && !this.closing && Date.now() < until) {
      const due = this.dueIn();
      if (due === 0) {
        this.spoolQueue();
        continue;
      }
      await this.idle(Math.min(due ?? Infinity, until - Date.now()));
    }
    if (this.closing) this.spoolQueue();
  }

  /** Takes messages off the queue up to `maxBytes` (at least one). */
  private cut(maxBytes: number): Queued[] {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && (n === 0 || bytes + this.queue[n]!.bytes <= maxBytes)) bytes += this.queue[n++]!.bytes;
    const batch = this.queue.slice(0, n);
    this.queue = this.queue.slice(n);
    // What stays in memory starts a new linger, as records that arrive now would.
    const left = this.batcher.cut() - bytes;
    if (left > 0) this.batcher.gather(left, Date.now() + this.cfg.producer.linger_ms);
    this.batcher.release(bytes);
    this.metrics.bufferedBytes.set(this.batcher.held);
    return batch;
  }

  private spoolQueue(): void {
    while (this.queue.length > 0) {
      const batch = this.cut(this.cfg.producer.batch_max_bytes);
      let kept = true;
      for (const b of this.pack(batch)) if (!this.toSpool(b)) kept = false;
      for (const q of batch) settle(q.owner, kept);
    }
    this.notifyFlushed();
  }

  private pack(batch: readonly Queued[]): SpoolBatch[] {
    const p = this.cfg.producer;
    return packBatch(batch, p.max_records_per_message, p.max_message_bytes);
  }

  /** Appends a batch to the spool; false when it did not fit and was dropped (counted, logged). */
  private toSpool(b: SpoolBatch): boolean {
    const records = spoolRecords(b);
    const kept = this.spool.append(b);
    if (kept) {
      this.metrics.recordsSpooled.inc({ topic: b.topic }, records);
      if (this.spoolingSince === 0) {
        this.spoolingSince = Date.now();
        this.metrics.spooling.set(1);
        this.log.warn('kafka unreachable; spooling records to disk', { dir: this.cfg.spool_dir });
      }
    } else {
      this.metrics.recordsDropped.inc({ topic: b.topic, reason: 'spool_full' }, records);
      this.log.error('kafka spool full; records dropped', { topic: b.topic, records, spool_bytes: this.spool.bytes });
    }
    this.updateSpoolGauges();
    return kept;
  }

  /** Sends the oldest spooled batch; false when Kafka did not take it (it stays first in the spool). */
  private async replayOne(): Promise<boolean> {
    if (this.inDoubt) {
      // Sending the spool's head again while the client may still be sending it would run two sends
      // at once; if it got through, it is acknowledged from the spool instead of being sent twice.
      const { attempt } = this.inDoubt;
      await this.whileSpooling(attempt);
      if (this.closing) return false;
      if (await attempt) {
        this.ackInDoubt();
        return true;
      }
      this.inDoubt = undefined;
    }
    const b = this.spool.peek();
    if (!b) return true;
    const pending = this.send([b]);
    await this.whileSpooling(pending);
    const { outcome, attempt } = await pending;
    if (outcome === 'timed_out') this.inDoubt = { attempt, lines: 1 };
    if (outcome !== 'sent') return false;
    this.acked(1);
    return true;
  }

  /** The in-doubt send reached Kafka after all: its batches leave the spool without being sent again. */
  private ackInDoubt(): void {
    const lines = this.inDoubt?.lines ?? 0;
    this.inDoubt = undefined;
    this.acked(lines);
  }

  /** Removes the spool's first `lines` batches, which Kafka has. */
  private acked(lines: number): void {
    for (let i = 0; i < lines; i++) {
      const b = this.spool.peek();
      if (!b) break;
      this.spool.ack();
      this.metrics.recordsReplayed.inc(spoolRecords(b));
    }
    this.updateSpoolGauges();
    if (this.spool.isEmpty && this.spoolingSince !== 0) {
      this.log.info('kafka is back; spool replayed', { spooled_for_ms: Date.now() - this.spoolingSince });
      this.spoolingSince = 0;
      this.metrics.spooling.set(0);
    }
  }

  /**
   * One send, given up after `producer.send_timeout_ms` (the client's own retries against an
   * unreachable broker can take longer). `attempt` is the client's send, which goes on past the
   * deadline and tells whether it reached Kafka in the end.
   */
  private async send(batches: readonly SpoolBatch[]): Promise<{ outcome: SendOutcome; attempt: Promise<boolean> }> {
    const failure = this.sendMessages(batches);
    const attempt = failure.then((err) => err === undefined);
    const err = await within(failure, this.cfg.producer.send_timeout_ms, 'timed_out' as const);
    if (err === undefined) return { outcome: 'sent', attempt };
    if (err === 'timed_out') {
      // Counted once, here: how the client's attempt ends later is not a second failure.
      this.metrics.sendFailures.inc({ reason: 'send_timeout' });
      this.log.debug('kafka send timed out; its records go to the spool', {
        records: batches.reduce((n, b) => n + spoolRecords(b), 0),
        send_timeout_ms: this.cfg.producer.send_timeout_ms,
      });
      return { outcome: 'timed_out', attempt };
    }
    this.metrics.sendFailures.inc({ reason: err.name || 'error' });
    return { outcome: 'failed', attempt };
  }

  /**
   * Sends packed batches as they are (also what replay sends, so a replayed batch is the same
   * messages); resolves with the error when Kafka did not take them, never rejects.
   */
  private async sendMessages(batches: readonly SpoolBatch[]): Promise<Error | undefined> {
    const t0 = performance.now();
    const topicMessages = batches.map((b) => ({ topic: b.topic, messages: b.messages.map(toMessage) }));
    try {
      if (!this.connected) {
        await this.producer.connect();
        this.connected = true;
      }
      if (!this.prepared) {
        await this.prepare?.();
        this.prepared = true;
      }
      await this.producer.sendBatch({
        topicMessages,
        acks: -1,
        timeout: this.cfg.producer.send_timeout_ms,
        compression: this.cfg.producer.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
      });
      this.metrics.sendSeconds.observe({ outcome: 'ok' }, (performance.now() - t0) / 1000);
      for (const b of batches) {
        let bytes = 0;
        for (const m of b.messages) bytes += m.value.length;
        this.metrics.recordsSent.inc({ topic: b.topic }, spoolRecords(b));
        this.metrics.messagesSent.inc({ topic: b.topic }, b.messages.length);
        this.metrics.bytesSent.inc({ topic: b.topic }, bytes);
      }
      return undefined;
    } catch (err) {
      this.metrics.sendSeconds.observe({ outcome: 'failed' }, (performance.now() - t0) / 1000);
      this.log.debug('kafka send failed', { records: batches.reduce((n, b) => n + spoolRecords(b), 0), error: errorMessage(err) });
      return err instanceof Error ? err : new Error(errorMessage(err));
    }
  }

  /**
   * Waits for a submit (or shutdown) to wake the loop, or `ms`. The timer keeps the process alive:
   * records in memory or on disk are work a command (an ingest, a last flush) waits to see done.
   */
  private idle(ms?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let t: NodeJS.Timeout | undefined;
      const done = () => {
        if (t) clearTimeout(t);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      this.wake = done;
      if (ms !== undefined && ms !== Infinity) t = setTimeout(done, Math.max(1, ms));
    });
  }

  private updateSpoolGauges(): void {
    this.metrics.spoolBytes.set(this.spool.bytes);
    this.metrics.spoolRecords.set(this.spool.records);
  }

  private notifyFlushed(): void {
    if (this.queue.length > 0) return;
    const ws = this.flushWaiters;
    this.flushWaiters = [];
    for (const w of ws) w();
  }

  /** Records that have not reached Kafka (memory + disk spool). */
  get pendingRecords(): number {
    return this.queue.length + this.spool.records;
  }

  /** Sends (or spools) everything buffered in memory. */
  async forceFlush(): Promise<void> {
    if (this.queue.length === 0) return;
    const p = new Promise<void>((r) => this.flushWaiters.push(r));
    this.wake?.();
    await p;
  }

  /**
   * Stops intake and sends what is in memory, or spools it once Kafka proved unreachable (a send
   * failed or timed out, or the spool already holds records), without trying the spool again; then
   * disconnects. Everything accepted is in Kafka or on disk when it returns, or was counted as
   * dropped (spool full) and logged. While Kafka is down this takes at most the send in flight
   * (one send timeout) and, if that one timed out, one more while the client finishes it.
   */
  shutdown = once(async () => {
    this.closing = true;
    this.batcher.close();
    this.wake?.();
    await this.loop;
    if (!this.spool.isEmpty)
      this.log.warn('kafka spool not empty at shutdown; it is replayed at the next start', { records: this.spool.records, bytes: this.spool.bytes });
    // A disconnect that fails leaves nothing to do: everything accepted is in Kafka or the spool.
    await this.producer.disconnect().catch(() => {});
  });
}

/** What `p` resolves to if it settles within `ms`, else `late` (the timer does not outlive the wait). */
async function within<T, L = undefined>(p: Promise<T>, ms: number, late?: L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<L>((resolve) => (timer = setTimeout(() => resolve(late as L), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** One record of `p` is done with; `kept` false when its batch did not fit the spool (which batch of a cut did not fit is not known, so every submit in the cut is marked). */
function settle(p: Pending, kept = true): void {
  if (!kept) p.lost = true;
  if (--p.remaining === 0) p.resolve();
}

interface OpenMessage {
  message: SpoolMessage;
  values: string[];
  bytes: number;
}

/**
 * Groups a send batch by topic and packs the records of one key into messages of at most
 * `maxRecords` records and `maxBytes` characters (at least one record each). A key's records keep
 * their order: within a message by line, across messages by position. A message carries the
 * timestamp of its first (oldest) record, so measured lag never flatters. With `maxRecords` 1 every
 * record is its own unframed message, as older producers sent them.
 */
export function packBatch(batch: readonly Pick<Queued, 'topic' | 'key' | 'value' | 'timestamp'>[], maxRecords: number, maxBytes: number): SpoolBatch[] {
  const topics = new Map<string, { messages: SpoolMessage[]; open: Map<string, OpenMessage> }>();
  for (const q of batch) {
    let t = topics.get(q.topic);
    if (!t) topics.set(q.topic, (t = { messages: [], open: new Map() }));
    if (maxRecords <= 1) {
      t.messages.push({ key: q.key, value: q.value, timestamp: q.timestamp });
      continue;
    }
    let o = t.open.get(q.key);
    if (o && (o.values.length >= maxRecords || o.bytes + 1 + q.value.length > maxBytes)) {
      seal(o);
      o = undefined;
    }
    if (!o) {
      o = { message: { key: q.key, value: '', timestamp: q.timestamp }, values: [], bytes: 0 };
      t.messages.push(o.message);
      t.open.set(q.key, o);
    }
    o.bytes += (o.values.length > 0 ? 1 : 0) + q.value.length;
    o.values.push(q.value);
  }
  const out: SpoolBatch[] = [];
  for (const [topic, t] of topics) {
    for (const o of t.open.values()) seal(o);
    out.push({ topic, messages: t.messages });
  }
  return out;
}

function seal(o: OpenMessage): void {
  if (o.values.length === 0 || o.message.records !== undefined) return;
  o.message.value = packRecords(o.values);
  o.message.records = o.values.length;
}

function toMessage(m: SpoolMessage): Message {
  const msg: Message = { key: m.key, value: m.value, timestamp: m.timestamp };
  if (m.records !== undefined) msg.headers = packedHeaders(m.records);
  return msg;
}
