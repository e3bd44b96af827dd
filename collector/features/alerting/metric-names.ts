// The metric names the alert rules in alerts/*.rules.yml are written against, in one place. Names
// produced by the alerting component (collector/features/alerting/gauges.ts) are computed from the store, so
// the rules work whichever exporter wrote the rows (scraper, Kafka consumer, `llmeter ingest`). The
// others are produced by other parts of the collector; a rule that uses them names them from here,
// and test/alerts checks that every metric a rule file uses is listed in this module.

/** Gauges the alerting component computes from the store. */
export const STORE_GAUGES = {
  gpuTemperature: 'llmeter_gpu_temperature_celsius',
  gpuMemoryUsedRatio: 'llmeter_gpu_memory_used_ratio',
  gpuLastSample: 'llmeter_gpu_last_sample_timestamp_seconds',
  gpuXidEvents: 'llmeter_gpu_xid_events',
  modelRequests: 'llmeter_model_window_requests',
  modelLatencyP95: 'llmeter_model_latency_p95_seconds',
  modelTtftP95: 'llmeter_model_ttft_p95_seconds',
  modelErrorRatio: 'llmeter_model_error_ratio',
  modelQueueFull: 'llmeter_model_queue_full_requests',
  deadLetters: 'llmeter_store_dead_letters_window',
  capacityNotice: 'llmeter_capacity_notice_action_timestamp_seconds',
  nodeDown: 'llmeter_node_down',
  refreshSeconds: 'llmeter_alerting_refresh_duration_seconds',
  refreshFailures: 'llmeter_alerting_refresh_failures_total',
  lastRefresh: 'llmeter_alerting_last_refresh_timestamp_seconds',
} as const;

/** Metrics of other parts of llmeter that rules read (names as those parts publish them). */
export const FOREIGN_METRICS = {
  /** exporters/scrape: 1 when the last scrape of a dcgm/vLLM target succeeded. */
  scrapeUp: 'llmeter_scrape_up',
  /** collector/features/kafka: records not yet committed, per partition (estimated from message lag). */
  kafkaConsumerLagRecords: 'llmeter_kafka_consumer_lag_records',
  /** collector/core/pipeline: rows written to dead_letters by this process. */
  deadLettersTotal: 'llmeter_dead_letters_total',
  /** collector/core/pipeline: rows dropped (queue_full, closed). */
  rowsDropped: 'llmeter_rows_dropped_total',
  /** exporters/proxy: requests by status. */
  proxyRequests: 'llmeter_proxy_requests_total',
  /** exporters/prices: 1 when the last sync of a price source succeeded. */
  pricesSourceUp: 'llmeter_prices_source_up',
  /** collector/features/cost/budgets.ts: spend so far / budget per tenant and period (day, month). */
  budgetBurnRatio: 'llmeter_budget_burn_ratio',
  /** Prometheus itself: 1 when the scrape of a target succeeded. */
  up: 'up',
} as const;

/**
 * XIDs after which NVIDIA's XID catalogue says the GPU needs a reset (or a node reboot) before it
 * can be trusted again: double-bit ECC (48), internal micro-controller halt (61, 62), row remapping
 * (63, 64), NVLink (74), fallen off the bus (79), contained/uncontained ECC (94, 95), GSP RPC timeout
 * and error (119, 120), unrecovered ECC (140).
 */
export const XIDS_NEEDING_RESET = [48, 61, 62, 63, 64, 74, 79, 94, 95, 119, 120, 140] as const;

/** The PromQL regular expression alerts/gpu.rules.yml uses for {@link XIDS_NEEDING_RESET}. */
export const XID_RESET_REGEX = XIDS_NEEDING_RESET.join('|');

/** Capacity event kinds that announce the loss of a node. */
export const CAPACITY_NOTICE_KINDS = ['spot_interruption', 'preemption', 'rebalance_recommendation', 'scheduled_event'] as const;
