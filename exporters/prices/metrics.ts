// The price feeds on /metrics: whether each source answered, how many changes it brought, what it
// skipped, and how often it had to be retried.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class PricesMetrics {
  readonly syncs: Counter<'source' | 'outcome'>;
  readonly attempts: Counter<'source' | 'result'>;
  readonly points: Counter<'source'>;
  readonly unchanged: Counter<'source'>;
  readonly skipped: Counter<'source' | 'reason'>;
  readonly up: Gauge<'source'>;
  readonly lastSuccess: Gauge<'source'>;
  readonly lastFailure: Gauge<'source'>;
  readonly duration: Histogram<'source'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.syncs = new Counter({
      name: 'llmeter_prices_syncs_total',
      help: 'Price syncs by outcome (success, failure).',
      labelNames: ['source', 'outcome'],
      registers,
    });
    this.attempts = new Counter({
      name: 'llmeter_prices_fetch_attempts_total',
      help: 'Fetch attempts by result (ok, retryable, garbage, error).',
      labelNames: ['source', 'result'],
      registers,
    });
    this.points = new Counter({ name: 'llmeter_prices_points_written_total', help: 'Price changes written.', labelNames: ['source'], registers });
    this.unchanged = new Counter({
      name: 'llmeter_prices_points_unchanged_total',
      help: 'Prices seen again unchanged (not written).',
      labelNames: ['source'],
      registers,
    });
    this.skipped = new Counter({
      name: 'llmeter_prices_items_skipped_total',
      help: 'Items of an answer that were not kept, by reason.',
      labelNames: ['source', 'reason'],
      registers,
    });
    this.up = new Gauge({ name: 'llmeter_prices_source_up', help: '1 when the last sync of the source succeeded, else 0.', labelNames: ['source'], registers });
    this.lastSuccess = new Gauge({
      name: 'llmeter_prices_last_success_timestamp_seconds',
      help: 'End of the last successful sync.',
      labelNames: ['source'],
      registers,
    });
    this.lastFailure = new Gauge({
      name: 'llmeter_prices_last_failure_timestamp_seconds',
      help: 'End of the last failed sync.',
      labelNames: ['source'],
      registers,
    });
    this.duration = new Histogram({
      name: 'llmeter_prices_sync_duration_seconds',
      help: 'Time a sync took, retries included.',
      labelNames: ['source'],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300],
      registers,
    });
  }
}
