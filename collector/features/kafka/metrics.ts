// The transport's own metrics (llmeter_kafka_*), on the registry the collector passes in.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class ProducerMetrics {
  readonly recordsSent: Counter<'topic'>;
  readonly messagesSent: Counter<'topic'>;
  readonly bytesSent: Counter<'topic'>;
  readonly sendSeconds: Histogram<'outcome'>;
  readonly sendFailures: Counter<'reason'>;
  readonly recordsDropped: Counter<'topic' | 'reason'>;
  readonly bufferedBytes: Gauge;
  readonly spoolBytes: Gauge;
  readonly spoolRecords: Gauge;
  readonly recordsSpooled: Counter<'topic'>;
  readonly recordsReplayed: Counter;
  readonly spooling: Gauge;
  readonly submitWaitSeconds: Counter;

  constructor(r: Registry) {
    this.recordsSent = new Counter({
      name: 'llmeter_kafka_producer_records_sent_total',
      help: 'Records acknowledged by Kafka.',
      labelNames: ['topic'],
      registers: [r],
    });
    this.messagesSent = new Counter({
      name: 'llmeter_kafka_producer_messages_sent_total',
      help: 'Kafka messages acknowledged (a packed message holds several records).',
      labelNames: ['topic'],
      registers: [r],
    });
    this.bytesSent = new Counter({
      name: 'llmeter_kafka_producer_bytes_sent_total',
      help: 'Uncompressed bytes of records acknowledged by Kafka.',
      labelNames: ['topic'],
      registers: [r],
    });
    this.sendSeconds = new Histogram({
      name: 'llmeter_kafka_producer_send_seconds',
      help: 'Time of one batch send, by outcome.',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [r],
    });
    this.sendFailures = new Counter({
      name: 'llmeter_kafka_producer_send_failures_total',
      help: 'Batch sends that failed after the client retries.',
      labelNames: ['reason'],
      registers: [r],
    });
    this.recordsDropped = new Counter({
      name: 'llmeter_kafka_producer_records_dropped_total',
      help: 'Records dropped: spool full, buffer full with onFull=drop, closed, or not serialisable.',
      labelNames: ['topic', 'reason'],
      registers: [r],
    });
    this.bufferedBytes = new Gauge({
      name: 'llmeter_kafka_producer_buffered_bytes',
      help: 'Bytes of records held in memory waiting to be sent.',
      registers: [r],
    });
    this.spoolBytes = new Gauge({ name: 'llmeter_kafka_spool_bytes', help: 'Bytes in the local disk spool.', registers: [r] });
    this.spoolRecords = new Gauge({ name: 'llmeter_kafka_spool_records', help: 'Records in the local disk spool.', registers: [r] });
    this.recordsSpooled = new Counter({
      name: 'llmeter_kafka_spool_records_written_total',
      help: 'Records written to the disk spool because Kafka was unreachable.',
      labelNames: ['topic'],
      registers: [r],
    });
    this.recordsReplayed = new Counter({
      name: 'llmeter_kafka_spool_records_replayed_total',
      help: 'Spooled records sent to Kafka once it was back.',
      registers: [r],
    });
    this.spooling = new Gauge({ name: 'llmeter_kafka_producer_spooling', help: '1 while records go to the disk spool instead of Kafka.', registers: [r] });
    this.submitWaitSeconds = new Counter({
      name: 'llmeter_kafka_producer_submit_wait_seconds_total',
      help: 'Time submit() waited for buffer room (backpressure).',
      registers: [r],
    });
  }
}

export class ConsumerMetrics {
  readonly recordsConsumed: Counter<'topic'>;
  readonly messagesConsumed: Counter<'topic'>;
  readonly recordsCommitted: Counter<'topic'>;
  readonly poison: Counter<'topic' | 'reason'>;
  readonly batchRecords: Histogram<'topic'>;
  readonly batchSeconds: Histogram<'topic'>;
  readonly lag: Gauge<'topic' | 'partition'>;
  readonly lagRecords: Gauge<'topic' | 'partition'>;
  readonly committedOffset: Gauge<'topic' | 'partition'>;
  readonly pausedPartitions: Gauge;
  readonly pauses: Counter<'reason'>;
  readonly commitFailures: Counter;
  readonly redeliveries: Counter<'topic'>;
  readonly rebalances: Counter;
  readonly ingestLagSeconds: Histogram;

  constructor(r: Registry) {
    this.recordsConsumed = new Counter({
      name: 'llmeter_kafka_consumer_records_total',
      help: 'Records read from Kafka and handed to the pipeline.',
      labelNames: ['topic'],
      registers: [r],
    });
    this.messagesConsumed = new Counter({
      name: 'llmeter_kafka_consumer_messages_total',
      help: 'Kafka messages read and handed to the pipeline (a packed message holds several records).',
      labelNames: ['topic'],
      registers: [r],
    });
    this.recordsCommitted = new Counter({
      name: 'llmeter_kafka_consumer_records_committed_total',
      help: 'Records whose offsets were committed after ClickHouse acknowledged them.',
      labelNames: ['topic'],
      registers: [r],
    });
    this.poison = new Counter({
      name: 'llmeter_kafka_consumer_poison_messages_total',
      help: 'Records (lines of a packed message, or whole messages) that were not JSON, or packed messages too large to insert, sent to dead_letters with their offset.',
      labelNames: ['topic', 'reason'],
      registers: [r],
    });
    this.batchRecords = new Histogram({
      name: 'llmeter_kafka_consumer_batch_records',
      help: 'Records in one insert batch.',
      labelNames: ['topic'],
      buckets: [1, 10, 100, 500, 1000, 2000, 5000, 10000, 20000],
      registers: [r],
    });
    this.batchSeconds = new Histogram({
      name: 'llmeter_kafka_consumer_batch_seconds',
      help: 'From receiving a batch to committing its offsets.',
      labelNames: ['topic'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [r],
    });
    this.lag = new Gauge({
      name: 'llmeter_kafka_consumer_lag',
      help: 'Messages not yet committed, per assigned partition (high watermark − committed offset).',
      labelNames: ['topic', 'partition'],
      registers: [r],
    });
    this.lagRecords = new Gauge({
      name: 'llmeter_kafka_consumer_lag_records',
      help: 'Records not yet committed, per assigned partition, estimated: message lag × records per message this member consumed from it (1 before any).',
      labelNames: ['topic', 'partition'],
      registers: [r],
    });
    this.committedOffset = new Gauge({
      name: 'llmeter_kafka_consumer_committed_offset',
      help: 'Last committed offset, per assigned partition.',
      labelNames: ['topic', 'partition'],
      registers: [r],
    });
    this.pausedPartitions = new Gauge({
      name: 'llmeter_kafka_consumer_paused_partitions',
      help: 'Partitions paused because the table writer is full.',
      registers: [r],
    });
    this.pauses = new Counter({ name: 'llmeter_kafka_consumer_pauses_total', help: 'Times a partition was paused.', labelNames: ['reason'], registers: [r] });
    this.commitFailures = new Counter({
      name: 'llmeter_kafka_consumer_commit_failures_total',
      help: 'Offset commits that failed (rebalance); the batch is redelivered and deduplicated.',
      registers: [r],
    });
    this.redeliveries = new Counter({
      name: 'llmeter_kafka_consumer_redelivered_batches_total',
      help: 'Batches re-inserted with the token of an earlier attempt (ClickHouse discards the copy).',
      labelNames: ['topic'],
      registers: [r],
    });
    this.rebalances = new Counter({ name: 'llmeter_kafka_consumer_rebalances_total', help: 'Group joins (start and rebalances).', registers: [r] });
    this.ingestLagSeconds = new Histogram({
      name: 'llmeter_kafka_consumer_ingest_lag_seconds',
      help: 'From the Kafka message timestamp (when the producer took its oldest record) to its commit after the ClickHouse insert, one observation per message.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [r],
    });
  }
}
