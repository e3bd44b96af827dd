// Generates ClickHouse DDL from the table definitions, for a single server (or chDB) and for a
// cluster (ReplicatedMergeTree local tables + Distributed tables over them, ON CLUSTER).
import { CHARGEBACK_ROLLUPS } from './chargeback-rollups.ts';
import { ALL_TABLES, type TableDef } from './tables.ts';

export interface DdlTarget {
  database: string;
  /** Cluster name from the configuration; absent for a single server or chDB. */
  cluster?: string;
  /** Retention of raw signal rows, in days (0 keeps them forever). */
  rawTtlDays: number;
  /** Retention of reference rows (prices, events, nodes, dead letters), in days (0 = forever). */
  referenceTtlDays: number;
  /** Retention of hourly rollups, in days (0 = forever). */
  rollupTtlDays: number;
}

/** A SQL string literal: backslash and quote escaped. */
export const sqlString = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
export const q = (ident: string) => '`' + ident.replace(/`/g, '``') + '`';

export function localName(t: string, target: DdlTarget): string {
  return target.cluster ? `${t}_local` : t;
}

export function onCluster(target: DdlTarget): string {
  return target.cluster ? ` ON CLUSTER ${q(target.cluster)}` : '';
}

function engineClause(
  kind: 'MergeTree' | 'ReplacingMergeTree' | 'AggregatingMergeTree',
  version: string | undefined,
  table: string,
  target: DdlTarget,
  shard = '{shard}',
): string {
  const args: string[] = [];
  if (target.cluster) {
    args.push(`'/clickhouse/tables/${shard}/${target.database}/${table}'`, `'{replica}'`);
  }
  if (version) args.push(version);
  return `${target.cluster ? 'Replicated' : ''}${kind}(${args.join(', ')})`;
}

function ttlClause(column: string, days: number, wrap = true): string {
  if (days <= 0) return '';
  return `\nTTL ${wrap ? `toDateTime(${column})` : column} + INTERVAL ${days} DAY`;
}

function ttlDays(t: TableDef, target: DdlTarget): number {
  return t.retention === 'raw' ? target.rawTtlDays : target.referenceTtlDays;
}

// Deduplication of retried inserts needs a window on non-replicated MergeTree (replicated tables have
// one by default) — on the rollup tables too, or a retried insert is deduplicated in the raw table but
// counted twice by the materialized view.
const SETTINGS = `\nSETTINGS index_granularity = 8192, non_replicated_deduplication_window = 1000`;

export function createTableSql(t: TableDef, target: DdlTarget): string {
  const db = q(target.database);
  const local = localName(t.name, target);
  const cols = Object.entries(t.columns)
    // ClickHouse wants COMMENT before CODEC.
    .map(([name, col]) => `  ${q(name)} ${col.type}${col.doc ? ` COMMENT ${sqlString(col.doc)}` : ''}${col.codec ? ` CODEC(${col.codec})` : ''}`)
    .join(',\n');
  const engine =
    t.engine.kind === 'replacing' ? engineClause('ReplacingMergeTree', t.engine.version, local, target) : engineClause('MergeTree', undefined, local, target);
  return `CREATE TABLE IF NOT EXISTS ${db}.${q(local)}${onCluster(target)}\n(\n${cols}\n)\nENGINE = ${engine}\nPARTITION BY ${t.partitionBy}\nORDER BY (${t.orderBy.join(', ')})${ttlClause(t.ttlColumn, ttlDays(t, target))}${SETTINGS}${t.settings ? `, ${t.settings}` : ''}`;
}

export function createDistributedSql(name: string, shardingKey: string, target: DdlTarget): string {
  if (!target.cluster) throw new Error('createDistributedSql needs a cluster');
  const db = q(target.database);
  return `CREATE TABLE IF NOT EXISTS ${db}.${q(name)}${onCluster(target)} AS ${db}.${q(localName(name, target))}\nENGINE = Distributed(${q(target.cluster)}, ${db}, ${q(localName(name, target))}, ${shardingKey})`;
}

export interface RollupView {
  /** Materialized view name. */
  name: string;
  source: string;
  select: string;
  /** Absent: one output row per inserted row, aggregated by the target's merges (see GPU_HOURLY_SELECT). */
  groupBy?: string;
}

/**
 * The GPU rollup rows are not grouped in the view: with one scrape per GPU and field in an insert (a
 * fleet of many nodes) grouping reduces almost nothing, and hashing seven string keys per row cost as
 * much as storing the raw row. AggregatingMergeTree sums the rows on insert (optimize_on_insert) and
 * on merge, by its sort key, which is the same set of columns the GROUP BY named.
 */
export const GPU_HOURLY_SELECT = `toStartOfHour(ts) AS hour, node, gpu_uuid, mig_instance, gpu_model, field, unit,
  toUInt64(1) AS samples, value AS sum_value, value AS min_value, value AS max_value`;

export interface RollupDef {
  name: string;
  doc: string;
  columns: string;
  orderBy: string;
  /** The rollup's time bucket column (partitioning and retention). */
  timeColumn: string;
  shardingKey: string;
  views: RollupView[];
  /** Default: by month of timeColumn. */
  partitionBy?: string;
  /** MergeTree for a table whose rows a refresh writes whole instead of aggregating them on merge. */
  engine?: 'MergeTree';
  /** In a cluster: one full copy on every replica, under the plain name, with no Distributed table. */
  unsharded?: boolean;
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
    doc: 'Per node and hour, the minutes in which the node was seen (any GPU sample or inventory observation), as a 60-bit mask: the up-time that node cost is charged for.',
    columns: `
  hour DateTime('UTC'),
  node LowCardinality(String),
  minutes SimpleAggregateFunction(groupBitOr, UInt64)`,
    orderBy: 'node, hour',
    timeColumn: 'hour',
    shardingKey: 'cityHash64(node)',
    views: [
      {
        name: 'node_hours_from_gpu_mv',
        source: 'gpu_metrics',
        select: 'toStartOfHour(ts) AS hour, node, groupBitOr(bitShiftLeft(toUInt64(1), toMinute(ts))) AS minutes',
        groupBy: 'hour, node',
      },
      {
        name: 'node_hours_from_nodes_mv',
        source: 'nodes',
        select: 'toStartOfHour(ts) AS hour, node, groupBitOr(bitShiftLeft(toUInt64(1), toMinute(ts))) AS minutes',
        groupBy: 'hour, node',
      },
    ],
  },
  ...CHARGEBACK_ROLLUPS,
];

/** The table a rollup's rows live in: the shard-local table in a cluster, unless it is unsharded. */
export function rollupTable(r: RollupDef, target: DdlTarget): string {
  return r.unsharded ? r.name : localName(r.name, target);
}

/** A rollup view's SELECT over `source` (a qualified table name): the view's body, or a backfill. */
export function viewSelectSql(v: RollupView, source: string): string {
  return `SELECT ${v.select}\nFROM ${source}${v.groupBy ? `\nGROUP BY ${v.groupBy}` : ''}`;
}

export function createRollupSql(r: RollupDef, target: DdlTarget): string[] {
  const db = q(target.database);
  const local = rollupTable(r, target);
  const engine = engineClause(r.engine ?? 'AggregatingMergeTree', undefined, local, target, r.unsharded ? 'all' : '{shard}');
  const stmts = [
    `CREATE TABLE IF NOT EXISTS ${db}.${q(local)}${onCluster(target)}\n(${r.columns}\n)\nENGINE = ${engine}\nPARTITION BY ${r.partitionBy ?? `toYYYYMM(${r.timeColumn})`}\nORDER BY (${r.orderBy})${ttlClause(r.timeColumn, target.rollupTtlDays, false)}${SETTINGS}`,
  ];
  for (const v of r.views) {
    // The view reads the local source table so that, in a cluster, each shard rolls up its own rows.
    stmts.push(
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${q(v.name)}${onCluster(target)} TO ${db}.${q(local)}\nAS ${viewSelectSql(v, `${db}.${q(localName(v.source, target))}`)}`,
    );
  }
  if (target.cluster && !r.unsharded) stmts.push(createDistributedSql(r.name, r.shardingKey, target));
  return stmts;
}

export function createDatabaseSql(target: DdlTarget): string {
  return `CREATE DATABASE IF NOT EXISTS ${q(target.database)}${onCluster(target)}`;
}

/** Every statement of the current schema, in dependency order. */
export function schemaSql(target: DdlTarget): string[] {
  const out: string[] = [];
  for (const t of ALL_TABLES) {
    out.push(createTableSql(t, target));
    if (target.cluster) out.push(createDistributedSql(t.name, t.shardingKey, target));
  }
  for (const r of ROLLUPS) out.push(...createRollupSql(r, target));
  return out;
}

/** Brings TTLs in line with the configuration; run on every migrate, harmless when unchanged. */
export function ttlSql(target: DdlTarget): string[] {
  const db = q(target.database);
  const out: string[] = [];
  for (const t of ALL_TABLES) {
    const days = ttlDays(t, target);
    const tbl = `${db}.${q(localName(t.name, target))}${onCluster(target)}`;
    out.push(days > 0 ? `ALTER TABLE ${tbl} MODIFY TTL toDateTime(${t.ttlColumn}) + INTERVAL ${days} DAY` : `ALTER TABLE ${tbl} REMOVE TTL`);
  }
  for (const r of ROLLUPS) {
    const tbl = `${db}.${q(rollupTable(r, target))}${onCluster(target)}`;
    out.push(
      target.rollupTtlDays > 0 ? `ALTER TABLE ${tbl} MODIFY TTL ${r.timeColumn} + INTERVAL ${target.rollupTtlDays} DAY` : `ALTER TABLE ${tbl} REMOVE TTL`,
    );
  }
  return out;
}
