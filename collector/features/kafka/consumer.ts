// The collector side of scale-out: one member of the collectors' consumer group. Each partition's
// messages are split into records (a packed message holds several, see framing.ts) and cut into
// insert batches at message boundaries, so an offset range always stands for the same records. Each
// batch is inserted through the pipeline with a deduplication token made from topic, partition and
// offset range, and the offsets are committed only after ClickHouse acknowledged the rows (see
// intent.ts for how a redelivered batch keeps its exact boundaries). When the table writer is full
// the partition is paused and resumed once it drains. Records that are not JSON go to dead_letters
// with their partition, offset and line, and the rest of their message and batch proceed.
import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { Registry } from 'prom-client';
import type { PipelineConfig } from '../../core/config/schema.ts';
import { errorMessage } from '../../core/errors.ts';
import type { BackgroundFailures } from '../../core/lifecycle/background.ts';
import { once, type Component } from '../../core/lifecycle/component.ts';
import type { Logger } from '../../core/log.ts';
import { Unparsable, type Pipeline } from '../../core/pipeline/pipeline.ts';
import type { Signal } from '../../core/schema/tables.ts';
import type { KafkaConfig } from './config.ts';
import { unpack, type Unpacked } from './framing.ts';
import { decodeIntent, dedupToken, encodeIntent, type Intent } from './intent.ts';
import { ConsumerMetrics } from './metrics.ts';
import { allTopics } from './topics.ts';

/** The part of the pipeline the consumer uses: submit with a token, and the writers' fill level. */
export type ConsumerTarget = Pick<Pipeline, 'submit' | 'writer'>;

export interface CommittedBatch {
  topic: string;
  partition: number;
  firstOffset: number;
  lastOffset: number;
  records: number;
  messages: number;
  /** Kafka timestamp (ms) of each record's message: when the producer sink took the message's oldest record. */
  timestamps: number[];
  /** When the offsets were committed (ms). */
  committedAt: number;
  redelivery: boolean;
}

export interface KafkaConsumerOptions {
  config: KafkaConfig;
  pipelineConfig: PipelineConfig;
  kafka: Kafka;
  target: ConsumerTarget;
  registry: Registry;
  log: Logger;
  /** Called after each commit (benchmarks and tests watch progress with it). */
  onCommitted?: (b: CommittedBatch) => void;
  /** Where a lag measurement that failed is logged and counted (it leaves the lag gauges stale). */
  failures?: BackgroundFailures;
}

interface PartitionState {
  intent?: Intent;
}

const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;

export class KafkaConsumer implements Component {
  readonly name = 'kafka-consumer';
  readonly metrics: ConsumerMetrics;
  private readonly cfg: KafkaConfig;
  private readonly capacity: number;
  private readonly maxBatch: number;
  private readonly kafka: Kafka;
  private readonly target: ConsumerTarget;
  private readonly log: Logger;
  private readonly onCommitted?: (b: CommittedBatch) => void;
  private readonly failures: BackgroundFailures | undefined;
  private readonly topics: Map<string, Signal>;
  private consumer: Consumer | undefined;
  private admin: Admin | undefined;
  /** Per-partition state, valid for one group generation (cleared at every join). */
  private states = new Map<string, PartitionState>();
  private readonly intentsLoading = new Map<string, Promise<void>>();
  private assigned: { topic: string; partitions: number[] }[] = [];
  private readonly paused = new Map<string, { topic: string; partition: number; signal: Signal }>();
  private resumeTimer: NodeJS.Timeout | undefined;
  private lagTimer: NodeJS.Timeout | undefined;
  private readonly stopping = new AbortController();
  private lagByPartition = new Map<string, number>();
  /** Records and messages fetched per partition, for the records estimate of lag. */
  private readonly density = new Map<string, { records: number; messages: number }>();

  constructor(o: KafkaConsumerOptions) {
    this.cfg = o.config;
    this.capacity = o.pipelineConfig.queue_capacity;
    this.maxBatch = Math.max(1, Math.min(o.config.consumer.max_batch_records, o.pipelineConfig.queue_capacity));
    this.kafka = o.kafka;
    this.target = o.target;
    this.log = o.log;
    this.onCommitted = o.onCommitted;
    this.failures = o.failures;
    this.metrics = new ConsumerMetrics(o.registry);
    this.topics = allTopics(o.config.topic_prefix);
  }

  async start(): Promise<void> {
    const c = this.cfg.consumer;
    this.admin = this.kafka.admin();
    await this.admin.connect();
    const consumer = this.kafka.consumer({
      groupId: this.cfg.group_id,
      sessionTimeout: c.session_timeout_ms,
      heartbeatInterval: c.heartbeat_interval_ms,
      maxBytesPerPartition: c.max_bytes_per_partition,
      allowAutoTopicCreation: false,
      // kafkajs restarts a crashed consumer (Kafka unreachable) on a timer of its own, also when the
      // crash comes while or after shutdown disconnects it; such a restart kept a stopped collector
      // running, so none is made once shutdown has begun.
      retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 5_000, restartOnFailure: async () => !this.stopping.signal.aborted },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      if (this.stopping.signal.aborted) {
        // A restart that began before shutdown and joined after it disconnected: leave again once
        // kafkajs has marked it running (right after this event), or it would keep the process alive.
        // Best effort: shutdown has already disconnected (and logged a failure to); this only leaves
        // the group a late restart joined.
        setImmediate(() => void consumer.disconnect().catch(() => {}));
        return;
      }
      this.metrics.rebalances.inc();
      this.states = new Map();
      this.intentsLoading.clear();
      // Paused partitions stay in `paused`: kafkajs keeps them paused across the rejoin, and the
      // resume check releases them (resuming one this member no longer owns does nothing).
      this.assigned = Object.entries(e.payload.memberAssignment).map(([topic, partitions]) => ({ topic, partitions }));
      this.metrics.lag.reset();
      this.metrics.lagRecords.reset();
      this.metrics.committedOffset.reset();
      this.log.info('kafka consumer joined the group', { group: this.cfg.group_id, partitions: this.assigned.reduce((n, a) => n + a.partitions.length, 0) });
    });
    consumer.on(consumer.events.CRASH, (e) => {
      if (e.payload.restart) this.log.error('kafka consumer crashed; kafkajs restarts it', { error: e.payload.error.message });
      else if (!this.stopping.signal.aborted) this.log.error('kafka consumer crashed and is not restarted', { error: e.payload.error.message });
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.topics.keys()], fromBeginning: c.from_beginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: c.partitions_concurrently,
      eachBatch: (p) => this.eachBatch(p),
    });
    this.resumeTimer = setInterval(() => this.resumeDrained(), c.resume_check_ms);
    this.resumeTimer.unref();
    const lagFailed =
      this.failures?.handler('kafka-consumer-lag', 'kafka lag not measured') ??
      ((err: unknown) => this.log.debug('kafka lag measurement failed', { error: errorMessage(err) }));
    this.lagTimer = setInterval(() => void this.measureLag().catch(lagFailed), c.lag_interval_ms);
    this.lagTimer.unref();
  }

  private async eachBatch(p: EachBatchPayload): Promise<void> {
    const { batch } = p;
    const topic = batch.topic;
    const partition = batch.partition;
    const signal = this.topics.get(topic);
    if (!signal || batch.messages.length === 0) return;
    // Heartbeats continue while an insert waits on ClickHouse, so a slow store does not cost the
    // partition its place in the group.
    // A heartbeat refused in a rebalance needs no handling here: the batch's commit finds the
    // partition gone, and the next heartbeat tries again.
    const hb = setInterval(() => void p.heartbeat().catch(() => {}), Math.max(500, this.cfg.consumer.heartbeat_interval_ms));
    hb.unref();
    try {
      await this.loadIntents(topic);
      const state = this.states.get(key(topic, partition)) ?? {};
      this.states.set(key(topic, partition), state);
      const msgs = batch.messages;
      const unpacked = msgs.map(unpack);
      const d = this.density.get(key(topic, partition)) ?? { records: 0, messages: 0 };
      for (const u of unpacked) d.records += u.texts.length;
      d.messages += msgs.length;
      // Halved now and then, so the estimate follows a change of the producers' packing.
      if (d.messages > 100_000) {
        d.records /= 2;
        d.messages /= 2;
      }
      this.density.set(key(topic, partition), d);
      let i = 0;
      while (i < msgs.length) {
        if (!p.isRunning() || p.isStale() || this.stopping.signal.aborted) return;
        const first = Number(msgs[i]!.offset);
        // Whole messages up to max_batch_records records (at least one message): a batch boundary
        // inside a message would make the offset range, and so the token, ambiguous.
        let end = i + 1;
        let records = this.recordsOf(unpacked[i]!);
        while (end < msgs.length && records + this.recordsOf(unpacked[end]!) <= this.maxBatch) records += this.recordsOf(unpacked[end++]!);
        let redelivery = false;
        if (state.intent && state.intent.end < first) state.intent = undefined;
        if (state.intent && state.intent.start === first) {
          // Re-insert exactly the range an earlier attempt may have inserted.
          let j = i;
          while (j < msgs.length && Number(msgs[j]!.offset) <= state.intent.end) j++;
          // The fetch stopped inside the recorded range: leave it unresolved so it is fetched again
          // (from `first`) with the rest. Fetch sizes only shrink this far if max_bytes_per_partition
          // was lowered between the crash and the restart.
          if (Number(msgs[j - 1]!.offset) < state.intent.end && j === msgs.length) return;
          end = j;
          redelivery = true;
          records = 0;
          for (let k = i; k < end; k++) records += this.recordsOf(unpacked[k]!);
        }
        const writer = this.target.writer(signal);
        if (writer.isFull || (writer.heldRows > 0 && writer.heldRows + records > this.capacity)) {
          this.pause(topic, partition, signal, 'writer_full');
          return;
        }
        const slice = msgs.slice(i, end);
        const done = await this.insertAndCommit(signal, topic, partition, slice, unpacked.slice(i, end), records, redelivery, state);
        if (!done) return;
        p.resolveOffset(slice[slice.length - 1]!.offset);
        i = end;
      }
    } finally {
      clearInterval(hb);
    }
  }

  /**
   * Records a message hands to the pipeline. A message with more lines than the table queue can hold
   * could never be inserted; it becomes one dead letter instead of stalling its partition.
   */
  private recordsOf(u: Unpacked): number {
    return u.texts.length > this.capacity ? 1 : u.texts.length;
  }

  /** Inserts one batch and commits its offsets; false when it must be tried again later. */
  private async insertAndCommit(
    signal: Signal,
    topic: string,
    partition: number,
    slice: KafkaMessage[],
    unpacked: Unpacked[],
    n: number,
    redelivery: boolean,
    state: PartitionState,
  ): Promise<boolean> {
    const consumer = this.consumer!;
    const t0 = performance.now();
    const start = Number(slice[0]!.offset);
    const end = Number(slice[slice.length - 1]!.offset);
    if (!redelivery) {
      await consumer.commitOffsets([{ topic, partition, offset: String(start), metadata: encodeIntent({ start, end }) }]);
      state.intent = { start, end };
    } else {
      this.metrics.redeliveries.inc({ topic });
    }
    const records: unknown[] = new Array(n);
    const offsets: number[] = new Array(n);
    // Line of each record in its message and the message's line count; 0 for a single-record message.
    const lineOf = new Uint32Array(n);
    const linesIn = new Uint32Array(n);
    const where = (i: number) => (lineOf[i] ? `line ${lineOf[i]} of ${linesIn[i]}` : '');
    let r = 0;
    for (let k = 0; k < slice.length; k++) {
      const m = slice[k]!;
      const u = unpacked[k]!;
      const offset = Number(m.offset);
      const lines = u.texts.length;
      if (lines > this.capacity) {
        const reason = `packed message of ${lines} records is more than pipeline.queue_capacity (${this.capacity}) holds`;
        this.metrics.poison.inc({ topic, reason: 'too_many_records' });
        offsets[r] = offset;
        records[r++] = new Unparsable(u.texts.join('\n'), reason);
        continue;
      }
      for (let l = 0; l < lines; l++) {
        const text = u.texts[l]!;
        offsets[r] = offset;
        if (u.packed) {
          lineOf[r] = l + 1;
          linesIn[r] = lines;
        }
        try {
          records[r] = JSON.parse(text);
        } catch (err) {
          // Handed on in the record's place: dead-lettered with its offset (and line) under the
          // batch's token; the other lines of its message go on.
          records[r] = new Unparsable(text, `not valid JSON: ${errorMessage(err)}`);
          this.metrics.poison.inc({ topic, reason: 'not_json' });
        }
        r++;
      }
    }
    const res = await this.target.submit(
      signal,
      records as never[],
      { source: 'kafka', topic, partition, offsets, locate: where },
      { token: dedupToken(topic, partition, start, end), onFull: 'drop' },
    );
    if (res.dropped > 0) {
      // The writer refused the rows (full or closing): nothing is committed and the same range is
      // inserted again later under the same token.
      this.pause(topic, partition, signal, 'writer_refused');
      return false;
    }
    this.metrics.recordsConsumed.inc({ topic }, n);
    this.metrics.messagesConsumed.inc({ topic }, slice.length);
    this.metrics.batchRecords.observe({ topic }, n);
    const landed = await Promise.race([res.durable.then(() => true), aborted(this.stopping.signal)]);
    if (!landed) return false;
    try {
      await consumer.commitOffsets([{ topic, partition, offset: String(end + 1), metadata: null }]);
    } catch (err) {
      // Lost the partition in a rebalance: the next owner re-inserts [start, end] under the same
      // token (the intent is still committed), and ClickHouse discards the copy.
      this.metrics.commitFailures.inc();
      this.log.warn('kafka offset commit failed; the batch will be redelivered and deduplicated', {
        topic,
        partition,
        start,
        end,
        error: errorMessage(err),
      });
      return false;
    }
    state.intent = undefined;
    const now = Date.now();
    // Once per message: its records share its timestamp, and a histogram observation costs about as
    // much as decoding a small record.
    for (const m of slice) this.metrics.ingestLagSeconds.observe(Math.max(0, now - Number(m.timestamp)) / 1000);
    this.metrics.recordsCommitted.inc({ topic }, n);
    this.metrics.committedOffset.set({ topic, partition: String(partition) }, end + 1);
    this.metrics.batchSeconds.observe({ topic }, (performance.now() - t0) / 1000);
    if (this.onCommitted) {
      // Each record's message timestamp (one record stands for a message too large to split).
      const timestamps: number[] = [];
      for (let k = 0; k < slice.length; k++) {
        const lines = unpacked[k]!.texts.length;
        for (let l = lines > this.capacity ? 1 : lines; l > 0; l--) timestamps.push(Number(slice[k]!.timestamp));
      }
      this.onCommitted({ topic, partition, firstOffset: start, lastOffset: end, records: n, messages: slice.length, timestamps, committedAt: now, redelivery });
    }
    return true;
  }

  /** Reads the committed intents of a topic once per group generation. */
  private loadIntents(topic: string): Promise<void> {
    let p = this.intentsLoading.get(topic);
    if (!p) {
      const states = this.states;
      p = this.admin!.fetchOffsets({ groupId: this.cfg.group_id, topics: [topic] }).then((res) => {
        for (const t of res) {
          for (const part of t.partitions) {
            const intent = decodeIntent(part.metadata);
            if (intent && Number(part.offset) === intent.start) states.set(key(topic, part.partition), { intent });
          }
        }
      });
      // The batch that awaits the load gets its failure; this only forgets it, so the next batch asks again.
      p.catch(() => this.intentsLoading.delete(topic));
      this.intentsLoading.set(topic, p);
    }
    return p;
  }

  private pause(topic: string, partition: number, signal: Signal, reason: string): void {
    const k = key(topic, partition);
    if (this.paused.has(k)) return;
    this.consumer!.pause([{ topic, partitions: [partition] }]);
    this.paused.set(k, { topic, partition, signal });
    this.metrics.pauses.inc({ reason });
    this.metrics.pausedPartitions.set(this.paused.size);
  }

  private resumeDrained(): void {
    for (const [k, p] of this.paused) {
      const w = this.target.writer(p.signal);
      if (w.heldRows + this.maxBatch > this.capacity && w.heldRows > 0) continue;
      this.paused.delete(k);
      this.consumer?.resume([{ topic: p.topic, partitions: [p.partition] }]);
    }
    this.metrics.pausedPartitions.set(this.paused.size);
  }

  /** Lag per assigned partition in messages: the high watermark minus the group's committed offset. */
  async measureLag(): Promise<Map<string, number>> {
    const admin = this.admin;
    if (!admin) return this.lagByPartition;
    const lag = new Map<string, number>();
    for (const { topic, partitions } of this.assigned) {
      const [high, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId: this.cfg.group_id, topics: [topic] })]);
      const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
      for (const h of high) {
        if (!partitions.includes(h.partition)) continue;
        const c = done.get(h.partition) ?? -1;
        const value = Math.max(0, Number(h.high) - (c >= 0 ? c : Number(h.low)));
        lag.set(`${topic}/${h.partition}`, value);
        this.metrics.lag.set({ topic, partition: String(h.partition) }, value);
        const d = this.density.get(key(topic, h.partition));
        this.metrics.lagRecords.set({ topic, partition: String(h.partition) }, Math.round(value * (d && d.messages > 0 ? d.records / d.messages : 1)));
      }
    }
    this.lagByPartition = lag;
    return lag;
  }

  async forceFlush(): Promise<void> {}

  /** Stops fetching, lets the running batches finish (or abandons them uncommitted), leaves the group. */
  shutdown = once(async () => {
    if (this.resumeTimer) clearInterval(this.resumeTimer);
    if (this.lagTimer) clearInterval(this.lagTimer);
    this.stopping.abort();
    await this.consumer?.disconnect().catch((err: unknown) => this.log.warn('kafka consumer disconnect failed', { error: errorMessage(err) }));
    // Best effort at shutdown: the admin client only measured lag and read intents.
    await this.admin?.disconnect().catch(() => {});
  });
}

function aborted(signal: AbortSignal): Promise<false> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    signal.addEventListener('abort', () => resolve(false), { once: true });
  });
}
