// Every hourly rollup of the schema, the cost engine's included (chargeback-rollups.ts).
import { CHARGEBACK_ROLLUPS } from './chargeback-rollups.ts';
import { REQUEST_END, type RollupDef } from './rollup-def.ts';

/**
 * The GPU rollup rows are not grouped in the view: with one scrape per GPU and field in an insert (a
 * fleet of many nodes) grouping reduces almost nothing, and hashing seven string keys per row cost as
 * much as storing the raw row. AggregatingMergeTree sums the rows on insert (optimize_on_insert) and
 * on merge, by its sort key, which is the same set of columns the GROUP BY named.
 */
export const GPU_HOURLY_SELECT = `toStartOfHour(ts) AS hour, node, gpu_uuid, mig_instance, gpu_model, field, unit,
  toUInt64(1) AS samples, value AS sum_value, value AS min_value, value AS max_value`;

/** A sample's minute, as a bit of its hour's mask. */
const MINUTE_OF_SAMPLE = 'toStartOfHour(ts) AS hour, node, groupBitOr(bitShiftLeft(toUInt64(1), toMinute(ts))) AS minutes';

/**
 * The minutes from `from` to `last` (both in), as (hour, 60-bit mask of its minutes) pairs, one for
 * each hour the span touches.
 */
function minuteMasks(from: string, last: string): string {
  const first = `toStartOfHour(${from})`;
  const end = `toStartOfHour(${last})`;
  return `arrayMap(h -> (toDateTime(h, 'UTC'), bitShiftLeft(toUInt64(1), if(h = ${end}, toMinute(${last}), 59) + 1) - bitShiftLeft(toUInt64(1), if(h = ${first}, toMinute(${from}), 0))),
  arrayMap(i -> ${first} + toIntervalHour(i), range(toUInt32(greatest(0, dateDiff('hour', ${first}, ${end})) + 1))))`;
}

// Rollups filled by materialized views on insert. AggregatingMergeTree with SimpleAggregateFunction
// for sums/min/max (readable without -Merge) and quantile states for latency.
export const ROLLUPS: readonly RollupDef[] = [
  {
    name: 'llm_requests_hourly',
    doc: 'Requests per hour by tenant, model, backend and node.',
    columns: `
  hour DateTime('UTC'),
  tenant LowCardinality(String),
  model LowCardinality(String),
  backend LowCardinality(String),
  node LowCardinality(String),
  requests SimpleAggregateFunction(sum, UInt64),
  errors SimpleAggregateFunction(sum, UInt64),
  input_tokens SimpleAggregateFunction(sum, UInt64),
  output_tokens SimpleAggregateFunction(sum, UInt64),
  cached_tokens SimpleAggregateFunction(sum, UInt64),
  load_ns SimpleAggregateFunction(sum, UInt64),
  prompt_eval_ns SimpleAggregateFunction(sum, UInt64),
  eval_ns SimpleAggregateFunction(sum, UInt64),
  duration_ms_sum SimpleAggregateFunction(sum, Float64),
  ttft_ms_q AggregateFunction(quantiles(0.5, 0.95, 0.99), Float64),
  duration_ms_q AggregateFunction(quantiles(0.5, 0.95, 0.99), Float64)`,
    orderBy: 'tenant, model, backend, node, hour',
    timeColumn: 'hour',
    shardingKey: 'cityHash64(tenant)',
    views: [
      {
        name: 'llm_requests_hourly_mv',
        source: 'llm_requests',
        select: `toStartOfHour(ts) AS hour, tenant, model, backend, node,
  count() AS requests,
  countIf(error != '' OR status >= 400) AS errors,
  sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cached_tokens) AS cached_tokens,
  sum(load_duration_ns) AS load_ns, sum(prompt_eval_duration_ns) AS prompt_eval_ns, sum(eval_duration_ns) AS eval_ns,
  sum(duration_ms) AS duration_ms_sum,
  quantilesStateIf(0.5, 0.95, 0.99)(assumeNotNull(ttft_ms), ttft_ms IS NOT NULL) AS ttft_ms_q,
  quantilesState(0.5, 0.95, 0.99)(duration_ms) AS duration_ms_q`,
        groupBy: 'hour, tenant, model, backend, node',
      },
    ],
  },
  {
    name: 'gpu_metrics_hourly',
    doc: 'Per GPU (or MIG slice) and field: min, max, sum and count of samples per hour.',
    columns: `
  hour DateTime('UTC'),
  node LowCardinality(String),
  gpu_uuid LowCardinality(String),
  mig_instance LowCardinality(String),
  gpu_model LowCardinality(String),
  field LowCardinality(String),
  unit LowCardinality(String),
  samples SimpleAggregateFunction(sum, UInt64),
  sum_value SimpleAggregateFunction(sum, Float64),
  min_value SimpleAggregateFunction(min, Float64),
  max_value SimpleAggregateFunction(max, Float64)`,
    orderBy: 'node, gpu_uuid, mig_instance, field, gpu_model, unit, hour',
    timeColumn: 'hour',
    shardingKey: 'cityHash64(node)',
    views: [
      {
        name: 'gpu_metrics_hourly_mv',
        source: 'gpu_metrics',
        select: GPU_HOURLY_SELECT,
      },
    ],
  },
  {
    name: 'node_hours',
    doc: 'Per node and hour, the minutes in which something showed the node running, as a 60-bit mask: a GPU sample (a DCGM scrape of it), a model server sample (a vLLM scrape), a model resident in its Ollama, a request it answered (the minutes from its arrival to its end), an inventory observation that saw it up until its next refresh (Kubernetes Ready, the host itself). The up-time that node cost is charged for.',
    columns: `
  hour DateTime('UTC'),
  node LowCardinality(String),
  minutes SimpleAggregateFunction(groupBitOr, UInt64)`,
    orderBy: 'node, hour',
    timeColumn: 'hour',
    shardingKey: 'cityHash64(node)',
    views: [
      { name: 'node_hours_from_gpu_mv', source: 'gpu_metrics', select: MINUTE_OF_SAMPLE, groupBy: 'hour, node' },
      {
        name: 'node_hours_from_nodes_mv',
        source: 'nodes',
        // An observation stands for at most a day, whatever it claims.
        arrayJoin: `${minuteMasks('ts', 'least(assumeNotNull(up_until), ts + toIntervalDay(1)) - toIntervalMillisecond(1)')} AS span`,
        select: 'span.1 AS hour, node, groupBitOr(span.2) AS minutes',
        where: 'up_until IS NOT NULL AND up_until > ts',
        groupBy: 'hour, node',
      },
      { name: 'node_hours_from_server_mv', source: 'model_server_metrics', select: MINUTE_OF_SAMPLE, where: "node != ''", groupBy: 'hour, node' },
      { name: 'node_hours_from_states_mv', source: 'model_states', select: MINUTE_OF_SAMPLE, where: "node != ''", groupBy: 'hour, node' },
      {
        name: 'node_hours_from_requests_mv',
        source: 'llm_requests',
        arrayJoin: `${minuteMasks('ts', `${REQUEST_END} - toIntervalMillisecond(1)`)} AS span`,
        select: 'span.1 AS hour, node, groupBitOr(span.2) AS minutes',
        // Answered by the node: it sent a first byte, or reported its own timing or tokens. A request
        // the proxy refused, or that found the node down, shows nothing about the node.
        where: "node != '' AND (ttfb_ms IS NOT NULL OR total_duration_ns > 0 OR output_tokens > 0)",
        groupBy: 'hour, node',
      },
    ],
  },
  ...CHARGEBACK_ROLLUPS,
];
