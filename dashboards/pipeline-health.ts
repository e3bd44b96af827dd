// Dashboard 5: the pipeline's own health — Prometheus metrics of the collector (queues, inserts,
// drops, Kafka lag, scrape targets) and what reached ClickHouse (rows, dead letters, freshness).
import { dashboard, where } from './lib/build.ts';

/** Rows per table per interval, one branch per raw table with its time column. */
const TABLE_TIMES: readonly [string, string][] = [
  ['llm_requests', 'ts'],
  ['gpu_metrics', 'ts'],
  ['model_server_metrics', 'ts'],
  ['model_states', 'ts'],
  ['capacity_events', 'ts'],
  ['nodes', 'ts'],
  ['frontend_events', 'ts'],
  ['price_points', 'effective_from'],
];

export const pipelineHealth = dashboard({
  uid: 'llmeter-pipeline-health',
  title: 'llmeter / Pipeline health',
  description:
    "The collector's queues, inserts, drops and retries, Kafka consumer lag, scrape targets, and what reached ClickHouse: rows per table, freshness, dead letters.",
  tags: ['pipeline', 'operations'],
  time: { from: 'now-6h', to: 'now' },
  panels: [
    {
      type: 'stat',
      title: 'Scrape targets down',
      w: 6,
      h: 4,
      unit: 'none',
      description: 'dcgm-exporter and vLLM pages whose last scrape failed.',
      query: { promql: 'count(llmeter_scrape_up == 0) or vector(0)', legend: 'down' },
    },
    {
      type: 'stat',
      title: 'Collectors up',
      w: 6,
      h: 4,
      unit: 'none',
      description: 'llmeter processes Prometheus can scrape.',
      query: { promql: 'sum(up{job=~"llmeter.*"})', legend: 'up' },
    },
    {
      type: 'stat',
      title: 'Rows dropped (range)',
      w: 6,
      h: 4,
      unit: 'short',
      description: 'Rows the pipeline dropped (queue full, closed) in the range.',
      query: { promql: 'sum(increase(llmeter_rows_dropped_total[$__range])) or vector(0)', legend: 'dropped' },
    },
    {
      type: 'stat',
      title: 'Dead letters (range)',
      w: 6,
      h: 4,
      unit: 'short',
      description: 'Records refused into dead_letters in the range (all writers).',
      query: { format: 'table', sql: 'SELECT count() AS dead_letters FROM dead_letters WHERE $__timeFilter(ts)' },
    },
    {
      type: 'timeseries',
      title: 'Queue fill',
      w: 12,
      unit: 'percentunit',
      min: 0,
      max: 1,
      description: 'Rows held per table queue as a share of its capacity; at 1 producers are paused.',
      query: { promql: 'sum by (table) (llmeter_queue_rows) / sum by (table) (llmeter_queue_capacity_rows)', legend: '{{table}}' },
    },
    {
      type: 'timeseries',
      title: 'Rows written per second',
      w: 12,
      unit: 'rowsps',
      description: 'Rows ClickHouse acknowledged per second per table.',
      query: { promql: 'sum by (table) (rate(llmeter_rows_written_total[$__rate_interval]))', legend: '{{table}}' },
    },
    {
      type: 'timeseries',
      title: 'Insert latency p95',
      w: 8,
      unit: 's',
      description: 'p95 of one insert call into ClickHouse per table.',
      query: { promql: 'histogram_quantile(0.95, sum by (table, le) (rate(llmeter_insert_duration_seconds_bucket[$__rate_interval])))', legend: '{{table}}' },
    },
    {
      type: 'timeseries',
      title: 'Drops and retries',
      w: 8,
      unit: 'rowsps',
      description: 'Rows dropped per second by reason, and insert retries by class.',
      query: {
        promql:
          'sum by (table, reason) (rate(llmeter_rows_dropped_total[$__rate_interval])) or sum by (table, class) (rate(llmeter_insert_retries_total[$__rate_interval]))',
        legend: '{{table}} {{reason}}{{class}}',
      },
    },
    {
      type: 'timeseries',
      title: 'Kafka consumer lag',
      w: 8,
      unit: 'short',
      description: 'Records not yet committed per topic (scale-out mode).',
      query: { promql: 'sum by (topic) (llmeter_kafka_consumer_lag_records)', legend: '{{topic}}' },
    },
    {
      type: 'timeseries',
      title: 'Scrape targets up',
      w: 12,
      unit: 'none',
      min: 0,
      max: 1,
      description: '1 when the last scrape of a dcgm-exporter / vLLM page succeeded.',
      query: { promql: 'llmeter_scrape_up', legend: '{{kind}} {{target}}' },
    },
    {
      type: 'timeseries',
      title: 'Rows stored per table',
      w: 12,
      unit: 'short',
      description: 'Rows that reached ClickHouse per table and interval, by their own time column.',
      query: {
        format: 'time_series',
        sql: `
        SELECT time, table, sum(rows) AS rows FROM (
          ${TABLE_TIMES.map(([t, c]) => `SELECT $__timeInterval(${c}) AS time, '${t}' AS table, count() AS rows FROM ${t} WHERE $__timeFilter(${c}) GROUP BY time`).join('\n          UNION ALL ')}
        ) GROUP BY time, table ORDER BY time`,
      },
    },
    {
      type: 'timeseries',
      title: 'Dead letters per signal',
      w: 12,
      unit: 'short',
      description: 'Records refused per signal and interval.',
      query: {
        format: 'time_series',
        sql: `
        SELECT $__timeInterval(ts) AS time, signal, count() AS dead_letters
        FROM dead_letters WHERE $__timeFilter(ts)
        GROUP BY time, signal ORDER BY time`,
      },
    },
    {
      type: 'table',
      title: 'Why records were refused',
      w: 12,
      unit: 'short',
      columnUnits: { last_seen: 'dateTimeAsIso' },
      description: 'Dead letters by signal, source and reason in the range.',
      query: {
        format: 'table',
        sql: `
        SELECT signal, source, substring(reason, 1, 200) AS reason, count() AS records, max(ts) AS last_seen
        FROM dead_letters WHERE $__timeFilter(ts)
        GROUP BY signal, source, reason ORDER BY records DESC LIMIT 100`,
      },
    },
    {
      type: 'table',
      title: 'Freshness per node',
      w: 12,
      unit: 's',
      columnUnits: { last_gpu_sample: 'dateTimeAsIso' },
      description: 'Per node, seconds from its newest GPU sample to the end of the range: a scraper that stopped shows here first.',
      query: {
        format: 'table',
        sql: `
        SELECT node, max(ts) AS last_gpu_sample, greatest(dateDiff('second', max(ts), $__toTime), 0) AS age
        FROM gpu_metrics WHERE $__timeFilter(ts) AND ${where.nodeAndPool()}
        GROUP BY node ORDER BY age DESC`,
      },
    },
  ],
});
