// The pipeline's own metrics. Every queue reports its length, what came in and went out, batch
// sizes, insert latency, retries, pauses, drops and dead letters.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class PipelineMetrics {
  readonly queueRows: Gauge<'table'>;
  readonly queueCapacity: Gauge<'table'>;
  readonly inflightInserts: Gauge<'table'>;
  readonly rowsReceived: Counter<'signal' | 'source'>;
  readonly rowsRejected: Counter<'signal' | 'source'>;
  readonly rowsWritten: Counter<'table'>;
  readonly rowsDropped: Counter<'table' | 'reason'>;
  readonly rowsSpilled: Counter<'table'>;
  readonly batchRows: Histogram<'table'>;
  readonly insertSeconds: Histogram<'table'>;
  readonly queueWaitSeconds: Histogram<'table'>;
  readonly insertRetries: Counter<'table' | 'class'>;
  readonly batchSplits: Counter<'table' | 'class'>;
  readonly producerPauses: Counter<'table'>;
  readonly producerPausedSeconds: Counter<'table'>;
  readonly deadLetters: Counter<'signal' | 'source'>;
  readonly duplicates: Counter<'table' | 'stage'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.queueRows = new Gauge({
      name: 'llmeter_queue_rows',
      help: 'Rows held by a table queue (buffered, batched, in flight).',
      labelNames: ['table'],
      registers,
    });
    this.queueCapacity = new Gauge({
      name: 'llmeter_queue_capacity_rows',
      help: 'Rows a table queue may hold before producers are paused.',
      labelNames: ['table'],
      registers,
    });
    this.inflightInserts = new Gauge({ name: 'llmeter_inserts_in_flight', help: 'Inserts currently running per table.', labelNames: ['table'], registers });
    this.rowsReceived = new Counter({
      name: 'llmeter_records_received_total',
      help: 'Records offered to the collector, by signal and source.',
      labelNames: ['signal', 'source'],
      registers,
    });
    this.rowsRejected = new Counter({
      name: 'llmeter_records_rejected_total',
      help: 'Records that failed validation (sent to dead_letters).',
      labelNames: ['signal', 'source'],
      registers,
    });
    this.duplicates = new Counter({
      name: 'llmeter_records_duplicate_total',
      help: "Records the insert left out because the same record (by its table's identity) was already stored (stage store; counted in embedded mode).",
      labelNames: ['table', 'stage'],
      registers,
    });
    this.rowsWritten = new Counter({
      name: 'llmeter_rows_written_total',
      help: 'Rows stored: ClickHouse acknowledged them, and (embedded mode) none was already stored.',
      labelNames: ['table'],
      registers,
    });
    this.rowsDropped = new Counter({
      name: 'llmeter_rows_dropped_total',
      help: 'Rows dropped because a queue and its waiting room were full, or intake was closed.',
      labelNames: ['table', 'reason'],
      registers,
    });
    this.rowsSpilled = new Counter({
      name: 'llmeter_rows_spilled_total',
      help: 'Rows written to the spill directory because shutdown could not insert them in time.',
      labelNames: ['table'],
      registers,
    });
    this.batchRows = new Histogram({
      name: 'llmeter_batch_rows',
      help: 'Rows per insert batch.',
      labelNames: ['table'],
      buckets: [1, 10, 100, 1000, 5000, 10000, 20000, 50000, 100000],
      registers,
    });
    this.insertSeconds = new Histogram({
      name: 'llmeter_insert_duration_seconds',
      help: 'Time of one insert call into ClickHouse.',
      labelNames: ['table'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.queueWaitSeconds = new Histogram({
      name: 'llmeter_queue_wait_seconds',
      help: 'Time from a batch being cut to ClickHouse acknowledging it.',
      labelNames: ['table'],
      buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers,
    });
    this.insertRetries = new Counter({
      name: 'llmeter_insert_retries_total',
      help: 'Insert attempts retried, by error class.',
      labelNames: ['table', 'class'],
      registers,
    });
    this.batchSplits = new Counter({
      name: 'llmeter_batch_splits_total',
      help: 'Batches split in two after a too-large or bad-data error.',
      labelNames: ['table', 'class'],
      registers,
    });
    this.producerPauses = new Counter({
      name: 'llmeter_producer_pauses_total',
      help: 'Times a producer waited because a queue was full.',
      labelNames: ['table'],
      registers,
    });
    this.producerPausedSeconds = new Counter({
      name: 'llmeter_producer_paused_seconds_total',
      help: 'Seconds producers spent waiting for queue space.',
      labelNames: ['table'],
      registers,
    });
    this.deadLetters = new Counter({
      name: 'llmeter_dead_letters_total',
      help: 'Records written to the dead_letters table.',
      labelNames: ['signal', 'source'],
      registers,
    });
  }
}
