// Rollups the chargeback reads instead of the raw tables: node inventory per hour and input counters
// per hour (both filled by materialized views), and the per-hour and per-day results of the cost split
// (written by the chargeback refresh, collector/features/cost/rollup-refresh.ts, a day partition at a time).
import { REQUEST_END, type RollupDef } from './rollup-def.ts';

/** Inputs of the cost split whose rows are counted per hour; a changed count marks the hour dirty. */
export const CHARGEBACK_INPUTS = ['requests', 'up', 'nodes', 'states', 'prices', 'events'] as const;

const INVENTORY_TUPLE = 'Tuple(String, String, String, String, String, UInt16, String, String)';
const counter = (input: string, time: string) => `toStartOfHour(${time}) AS hour, '${input}' AS input, count() AS rows, max(now64(3)) AS last_insert`;

export const CHARGEBACK_ROLLUPS: readonly RollupDef[] = [
  {
    name: 'node_inventory_hourly',
    doc: "Per node and hour, the node's last inventory observation in that hour (instance type, provider, region, zone, capacity type, GPU count, pool, tier): the attributes cost is computed with.",
    columns: `
  hour DateTime('UTC'),
  node LowCardinality(String),
  info AggregateFunction(argMax, ${INVENTORY_TUPLE}, DateTime64(3, 'UTC'))`,
    orderBy: 'node, hour',
    timeColumn: 'hour',
    shardingKey: 'cityHash64(node)',
    views: [
      {
        name: 'node_inventory_hourly_mv',
        source: 'nodes',
        select: `toStartOfHour(ts) AS hour, node,
  argMaxState(CAST((instance_type, provider, region, zone, capacity_type, gpu_count, pool, tier), '${INVENTORY_TUPLE}'), ts) AS info`,
        groupBy: 'hour, node',
      },
    ],
  },
  {
    name: 'chargeback_inputs',
    doc: 'Rows inserted per hour into each input of the cost split (requests, up-time, inventory, model residency, prices by effective hour) and when the last arrived: the chargeback refresh recomputes the hours whose counts changed.',
    columns: `
  hour DateTime('UTC'),
  input LowCardinality(String),
  rows SimpleAggregateFunction(sum, UInt64),
  last_insert SimpleAggregateFunction(max, DateTime64(3, 'UTC'))`,
    orderBy: 'input, hour',
    timeColumn: 'hour',
    shardingKey: 'cityHash64(input)',
    // Compared with the counts each kept day was computed from (its state rows): deleting one side
    // before the other would make days look changed. A price set long ago is counted at its old hour.
    retention: 'none',
    views: [
      { name: 'chargeback_inputs_requests_mv', source: 'llm_requests', select: counter('requests', 'ts'), groupBy: 'hour' },
      { name: 'chargeback_inputs_gpu_mv', source: 'gpu_metrics', select: counter('up', 'ts'), groupBy: 'hour' },
      { name: 'chargeback_inputs_nodes_mv', source: 'nodes', select: counter('nodes', 'ts'), groupBy: 'hour' },
      { name: 'chargeback_inputs_states_mv', source: 'model_states', select: counter('states', 'ts'), groupBy: 'hour' },
      { name: 'chargeback_inputs_prices_mv', source: 'price_points', select: counter('prices', 'effective_from'), groupBy: 'hour' },
      // Up-time evidence beyond the GPU samples: a vLLM scrape, and a request's end (its start is
      // counted with the requests).
      { name: 'chargeback_inputs_server_mv', source: 'model_server_metrics', select: counter('up', 'ts'), groupBy: 'hour' },
      { name: 'chargeback_inputs_request_ends_mv', source: 'llm_requests', select: counter('up', REQUEST_END), groupBy: 'hour' },
      // A node that left stops costing at the event, in the event's hour.
      { name: 'chargeback_inputs_events_mv', source: 'capacity_events', select: counter('events', 'coalesce(action_at, ts)'), groupBy: 'hour' },
    ],
  },
  {
    name: 'chargeback_rollup',
    doc: "The cost split, kept by the chargeback refresh (not a materialized view): per hour and per day, node cost and idle (kind node_hour, node_day) and each tenant's usage and cost (usage_hour, usage_day), plus the input counts it was computed from (state). A day is replaced whole, atomically.",
    columns: `
  kind LowCardinality(String),
  hour DateTime('UTC'),
  node LowCardinality(String),
  tenant LowCardinality(String),
  model LowCardinality(String),
  pool LowCardinality(String),
  tier LowCardinality(String),
  priced UInt8,
  bases UInt8,
  requests UInt64,
  errors UInt64,
  input_tokens UInt64,
  output_tokens UInt64,
  cached_tokens UInt64,
  gpu_seconds Float64,
  load_seconds Float64,
  usage_cost Decimal128(20),
  devices UInt32,
  up_minutes UInt32,
  resident_minutes UInt32,
  device_minutes UInt64,
  cost Decimal128(20),
  used_cost Decimal128(20),
  idle_resident Decimal128(20),
  fallback_minutes UInt64,
  unpriced_minutes UInt64,
  input LowCardinality(String),
  input_rows UInt64,
  settled UInt8`,
    orderBy: 'kind, hour, node, tenant, model, pool, tier, priced, input',
    timeColumn: 'hour',
    partitionBy: 'toYYYYMMDD(hour)',
    engine: 'MergeTree',
    unsharded: true,
    // State rows stay with the input counts they are compared with (chargeback_inputs keeps its rows).
    retention: { deleteWhere: "kind != 'state'" },
    shardingKey: 'rand()',
    views: [],
  },
];
