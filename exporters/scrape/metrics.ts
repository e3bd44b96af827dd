// The scrapers' own metrics (`llmeter_scrape_*`), on the registry the collector gives them.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class ScrapeMetrics {
  readonly up: Gauge<'target' | 'kind'>;
  readonly duration: Histogram<'target' | 'kind'>;
  readonly lastSuccess: Gauge<'target' | 'kind'>;
  readonly scrapes: Counter<'target' | 'kind' | 'result'>;
  readonly failures: Counter<'target' | 'kind' | 'reason'>;
  readonly bytes: Counter<'target' | 'kind'>;
  readonly samples: Counter<'target' | 'kind'>;
  readonly invalidLines: Counter<'target' | 'kind'>;
  readonly emptyPages: Counter<'target' | 'kind'>;
  readonly records: Counter<'target' | 'kind' | 'signal'>;
  readonly rejected: Counter<'target' | 'kind' | 'signal'>;
  readonly ignored: Counter<'target' | 'kind' | 'reason'>;
  readonly skippedTicks: Counter<'target' | 'kind'>;
  readonly trackedSeries: Gauge<'target' | 'kind'>;
  readonly counterResets: Counter<'target' | 'kind'>;
  readonly inventoryNodes: Gauge<'source'>;
  readonly inventoryErrors: Counter<'source'>;

  constructor(registry: Registry) {
    const registers = [registry];
    const existing = registry.getSingleMetric('llmeter_scrape_up');
    if (existing) throw new Error('scrape metrics already registered on this registry');
    this.up = new Gauge({
      name: 'llmeter_scrape_up',
      help: '1 when the last scrape of the target succeeded, else 0.',
      labelNames: ['target', 'kind'],
      registers,
    });
    this.duration = new Histogram({
      name: 'llmeter_scrape_duration_seconds',
      help: 'Time to fetch, parse, map and submit one page.',
      labelNames: ['target', 'kind'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.lastSuccess = new Gauge({
      name: 'llmeter_scrape_last_success_timestamp_seconds',
      help: 'Unix time of the last successful scrape.',
      labelNames: ['target', 'kind'],
      registers,
    });
    this.scrapes = new Counter({
      name: 'llmeter_scrape_scrapes_total',
      help: 'Scrapes by result (ok, error).',
      labelNames: ['target', 'kind', 'result'],
      registers,
    });
    this.failures = new Counter({
      name: 'llmeter_scrape_failures_total',
      help: 'Failed scrapes by reason (timeout, connect, http_status, too_large, body, submit).',
      labelNames: ['target', 'kind', 'reason'],
      registers,
    });
    this.bytes = new Counter({ name: 'llmeter_scrape_bytes_total', help: 'Bytes of pages read.', labelNames: ['target', 'kind'], registers });
    this.samples = new Counter({ name: 'llmeter_scrape_samples_total', help: 'Samples parsed from pages.', labelNames: ['target', 'kind'], registers });
    this.invalidLines = new Counter({
      name: 'llmeter_scrape_invalid_lines_total',
      help: 'Page lines that were not readable samples (skipped).',
      labelNames: ['target', 'kind'],
      registers,
    });
    this.emptyPages = new Counter({
      name: 'llmeter_scrape_empty_pages_total',
      help: 'Pages read without a single sample (an exporter that lost its GPUs or its DCGM connection).',
      labelNames: ['target', 'kind'],
      registers,
    });
    this.records = new Counter({
      name: 'llmeter_scrape_records_total',
      help: 'Records accepted by the pipeline, by signal.',
      labelNames: ['target', 'kind', 'signal'],
      registers,
    });
    this.rejected = new Counter({
      name: 'llmeter_scrape_records_rejected_total',
      help: 'Records the pipeline rejected or dropped, by signal.',
      labelNames: ['target', 'kind', 'signal'],
      registers,
    });
    this.ignored = new Counter({
      name: 'llmeter_scrape_samples_ignored_total',
      help: 'Samples not turned into records, by reason (blank_sentinel, not_finite, unknown_gpu, non_gpu_entity, shared_gpu_duplicate, duplicate_series, other_metric, series_limit, first_sight, deprecated_duplicate).',
      labelNames: ['target', 'kind', 'reason'],
      registers,
    });
    this.skippedTicks = new Counter({
      name: 'llmeter_scrape_skipped_ticks_total',
      help: 'Scrapes skipped because the previous one of the target was still running.',
      labelNames: ['target', 'kind'],
      registers,
    });
    this.trackedSeries = new Gauge({
      name: 'llmeter_scrape_tracked_series',
      help: 'Series whose state (counter values, last XID) is kept for the target.',
      labelNames: ['target', 'kind'],
      registers,
    });
    this.counterResets = new Counter({
      name: 'llmeter_scrape_counter_resets_total',
      help: 'Counter resets detected (value went down or _created changed).',
      labelNames: ['target', 'kind'],
      registers,
    });
    this.inventoryNodes = new Gauge({ name: 'llmeter_scrape_inventory_nodes', help: 'Nodes in the last inventory read.', labelNames: ['source'], registers });
    this.inventoryErrors = new Counter({ name: 'llmeter_scrape_inventory_errors_total', help: 'Failed inventory reads.', labelNames: ['source'], registers });
  }
}
