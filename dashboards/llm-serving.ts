// Dashboard 2: LLM serving (llm_requests, model_states, model_server_metrics).
import { COLD_START_DEFINITION, coldStartSql } from '../exporters/proxy/cold-start.ts';
import { dashboard, where } from './lib/build.ts';

const filter = where.all();
const ERROR = "(status >= 500 OR error_kind IN ('stream_error', 'upstream_down', 'timeout'))";

export const llmServing = dashboard({
  uid: 'llmeter-llm-serving',
  title: 'llmeter / LLM serving',
  description:
    'Requests through the metering proxy: traffic, errors, latency and time to first token per model, tokens per second, queueing, cold starts, and the models resident in VRAM.',
  tags: ['serving', 'proxy'],
  panels: [
    {
      type: 'stat',
      title: 'Requests',
      w: 4,
      h: 4,
      unit: 'none',
      description: 'Requests in the range.',
      query: { format: 'table', sql: `SELECT count() AS requests FROM llm_requests WHERE $__timeFilter(ts) AND ${filter}` },
    },
    {
      type: 'stat',
      title: 'Error rate',
      w: 4,
      h: 4,
      unit: 'percentunit',
      description: '5xx, stream errors, upstream down and timeouts as a share of requests (client aborts and 4xx excluded).',
      query: { format: 'table', sql: `SELECT countIf(${ERROR}) / greatest(count(), 1) AS error_rate FROM llm_requests WHERE $__timeFilter(ts) AND ${filter}` },
    },
    {
      type: 'stat',
      title: 'p95 latency',
      w: 4,
      h: 4,
      unit: 's',
      description: 'p95 of request duration. Alert: over 3 s for 5 minutes.',
      query: { format: 'table', sql: `SELECT quantile(0.95)(duration_ms) / 1000 AS p95 FROM llm_requests WHERE $__timeFilter(ts) AND ${filter}` },
    },
    {
      type: 'stat',
      title: 'p95 time to first token',
      w: 4,
      h: 4,
      unit: 's',
      description: 'p95 of time to first token over streamed requests.',
      query: {
        format: 'table',
        sql: `SELECT quantileIf(0.95)(assumeNotNull(ttft_ms), ttft_ms IS NOT NULL) / 1000 AS ttft_p95 FROM llm_requests WHERE $__timeFilter(ts) AND ${filter}`,
      },
    },
    {
      type: 'stat',
      title: 'Output tokens',
      w: 4,
      h: 4,
      unit: 'short',
      description: 'Completion tokens generated in the range.',
      query: { format: 'table', sql: `SELECT sum(output_tokens) AS output_tokens FROM llm_requests WHERE $__timeFilter(ts) AND ${filter}` },
    },
    {
      type: 'stat',
      title: 'Cold starts',
      w: 4,
      h: 4,
      unit: 'none',
      description: `Requests that waited for a model load (${COLD_START_DEFINITION}, as the proxy's cold-start counter counts them).`,
      query: { format: 'table', sql: `SELECT countIf(${coldStartSql()}) AS cold_starts FROM llm_requests WHERE $__timeFilter(ts) AND ${filter}` },
    },
    {
      type: 'timeseries',
      title: 'Requests per second',
      w: 12,
      unit: 'reqps',
      description: 'Requests per second per model.',
      query: {
        format: 'time_series',
        sql: `
        SELECT $__timeInterval(ts) AS time, model, count() / $__interval_s AS rps
        FROM llm_requests WHERE $__timeFilter(ts) AND ${filter}
        GROUP BY time, model ORDER BY time`,
      },
    },
    {
      type: 'timeseries',
      title: 'Errors per second',
      w: 12,
      unit: 'reqps',
      description: 'Failed requests per second by error kind (5xx, stream errors, upstream down, timeouts, 503 queue full).',
      query: {
        format: 'time_series',
        sql: `
        SELECT $__timeInterval(ts) AS time, if(error_kind = '', toString(status), error_kind) AS kind, count() / $__interval_s AS errors
        FROM llm_requests WHERE $__timeFilter(ts) AND ${ERROR} AND ${filter}
        GROUP BY time, kind ORDER BY time`,
      },
    },
    {
      type: 'timeseries',
      title: 'Latency p50 / p95 / p99',
      w: 12,
      unit: 's',
      description: 'Request duration percentiles per model.',
      query: {
        format: 'time_series',
        sql: `
        SELECT $__timeInterval(ts) AS time, model,
               quantile(0.5)(duration_ms) / 1000 AS p50, quantile(0.95)(duration_ms) / 1000 AS p95, quantile(0.99)(duration_ms) / 1000 AS p99
        FROM llm_requests WHERE $__timeFilter(ts) AND ${filter}
        GROUP BY time, model ORDER BY time`,
      },
    },
    {
      type: 'timeseries',
      title: 'Time to first token p50 / p95 / p99',
      w: 12,
      unit: 's',
      description: 'Time to first token percentiles per model (streamed requests).',
      query: {
        format: 'time_series',
        sql: `
        SELECT $__timeInterval(ts) AS time, model,
               quantile(0.5)(ttft_ms) / 1000 AS p50, quantile(0.95)(ttft_ms) / 1000 AS p95, quantile(0.99)(ttft_ms) / 1000 AS p99
        FROM llm_requests WHERE $__timeFilter(ts) AND ttft_ms IS NOT NULL AND ${filter}
        GROUP BY time, model ORDER BY time`,
      },
    },
    {
      type: 'timeseries',
      title: 'Output tokens per second',
      w: 8,
      unit: 'suffix: tok/s',
      description: 'Generated tokens per second per model (throughput of the fleet).',
      query: {
        format: 'time_series',
        sql: `
        SELECT $__timeInterval(ts) AS time, model, sum(output_tokens) / $__interval_s AS tokens_per_second
        FROM llm_requests WHERE $__timeFilter(ts) AND ${filter}
        GROUP BY time, model ORDER BY time`,
      },
    },
    {
      type: 'timeseries',
      title: 'Decode speed',
      w: 8,
      unit: 'suffix: tok/s',
      description: 'Tokens per second while decoding (output tokens / eval duration), per model: what one user sees.',
      query: {
        format: 'time_series',
        sql: `
        SELECT $__timeInterval(ts) AS time, model, sum(output_tokens) / (sum(eval_duration_ns) / 1e9) AS decode_tokens_per_second
        FROM llm_requests WHERE $__timeFilter(ts) AND eval_duration_ns > 0 AND ${filter}
        GROUP BY time, model ORDER BY time`,
      },
    },
    {
      type: 'timeseries',
      title: 'Queue wait p95',
      w: 8,
      unit: 's',
      description: 'Time requests were held by the proxy before forwarding (limits, scale from zero), p95 per model.',
      query: {
        format: 'time_series',
        sql: `
        SELECT $__timeInterval(ts) AS time, model, quantile(0.95)(queue_ms) / 1000 AS queue_p95
        FROM llm_requests WHERE $__timeFilter(ts) AND ${filter}
        GROUP BY time, model ORDER BY time`,
      },
    },
    {
      type: 'timeseries',
      title: 'vLLM requests running / waiting',
      w: 12,
      unit: 'short',
      description: "vLLM's own gauges: requests in the batch and in its queue.",
      query: {
        format: 'time_series',
        sql: `
        SELECT $__timeInterval(ts) AS time, concat(server, ' ', replaceOne(metric, 'vllm:num_requests_', '')) AS series, avg(value) AS requests
        FROM model_server_metrics
        WHERE $__timeFilter(ts) AND metric IN ('vllm:num_requests_running', 'vllm:num_requests_waiting') AND ${where.model()} AND ${where.nodeAndPool()}
        GROUP BY time, series ORDER BY time`,
      },
    },
    {
      type: 'timeseries',
      title: 'Cold starts',
      w: 12,
      unit: 'short',
      description: 'Requests that waited for a model load, per model and interval.',
      query: {
        format: 'time_series',
        sql: `
        SELECT $__timeInterval(ts) AS time, model, countIf(${coldStartSql()}) AS cold_starts
        FROM llm_requests WHERE $__timeFilter(ts) AND ${filter}
        GROUP BY time, model ORDER BY time`,
      },
    },
    {
      type: 'table',
      title: 'Models resident in VRAM',
      w: 24,
      unit: 'bytes',
      columnUnits: { context_length: 'none', last_seen: 'dateTimeAsIso' },
      description: 'Models loaded in each Ollama server at its newest /api/ps poll in the range, with VRAM held.',
      query: {
        format: 'table',
        sql: `
        SELECT server, node, model, argMax(size_vram_bytes, ts) AS vram, argMax(size_bytes, ts) AS size,
               argMax(context_length, ts) AS context_length, max(ts) AS last_seen
        FROM model_states
        WHERE $__timeFilter(ts) AND ${where.model()} AND ${where.nodeAndPool()}
        GROUP BY server, node, model ORDER BY vram DESC`,
      },
    },
  ],
});
