// gpu_metrics gets the sort key and partitioning it has now (see its definition in
// tables.ts). ClickHouse changes neither in place, so the rows are copied into a new table that then
// takes the old one's name in one step (EXCHANGE TABLES). The materialized views that read
// gpu_metrics name it, not its storage, so after the exchange they feed from the new table; the copy
// itself does not go through them, since the rollups already hold those rows.
//
// Idempotent without a record of progress: the table's own sort key says whether the exchange
// happened. Before it, a half-made copy is dropped and made again; after it, only the old rows'
// table is left to drop. An install created with the current definition has nothing to do.
//
// Unlike the migrations that write their statements out, this one copies into the table as the
// definition is now (like migration 1, which creates it): an install that skips versions gets the
// newest layout in one copy, and a later migration to that layout, run with the same check, then
// has nothing to copy.
import type { Store } from '../../store/store.ts';
import { createDistributedSql, createTableSql, localName, onCluster, q, type DdlTarget } from '../ddl.ts';
import { gpuMetrics } from '../tables.ts';
import type { Migration } from './migration.ts';

// Named for the migration: in a cluster the table's Keeper path keeps this name after the exchange, so a
// later copy of the same kind needs a name of its own.
export const RESORT_TABLE = 'gpu_metrics_v6';

/** The statements of the copy and exchange, for the columns the existing table has. */
export function resortGpuMetricsSql(target: DdlTarget, columns: readonly string[]): string[] {
  const db = q(target.database);
  const oldLocal = `${db}.${q(localName(gpuMetrics.name, target))}`;
  const newLocal = `${db}.${q(localName(RESORT_TABLE, target))}`;
  const cols = columns.map(q).join(', ');
  const stmts = [...dropResortSql(target), createTableSql({ ...gpuMetrics, name: RESORT_TABLE }, target)];
  if (target.cluster) {
    // Every shard's rows are copied through Distributed tables, sharded by the same key, so each
    // lands on the shard it came from; the insert returns once every shard has its rows.
    stmts.push(createDistributedSql(RESORT_TABLE, gpuMetrics.shardingKey, target));
    stmts.push(`INSERT INTO ${db}.${q(RESORT_TABLE)} (${cols}) SELECT ${cols} FROM ${db}.${q(gpuMetrics.name)} SETTINGS distributed_foreground_insert = 1`);
  } else {
    stmts.push(`INSERT INTO ${newLocal} (${cols}) SELECT ${cols} FROM ${oldLocal}`);
  }
  stmts.push(`EXCHANGE TABLES ${oldLocal} AND ${newLocal}${onCluster(target)}`);
  stmts.push(...dropResortSql(target));
  return stmts;
}

function dropResortSql(target: DdlTarget): string[] {
  const db = q(target.database);
  const stmts = [`DROP TABLE IF EXISTS ${db}.${q(localName(RESORT_TABLE, target))}${onCluster(target)}${target.cluster ? ' SYNC' : ''}`];
  if (target.cluster) stmts.unshift(`DROP TABLE IF EXISTS ${db}.${q(RESORT_TABLE)}${onCluster(target)} SYNC`);
  return stmts;
}

/** ClickHouse's spelling of the definition's sort key, as system.tables reports it. */
const WANTED_KEY = gpuMetrics.orderBy.join(', ');

/** Runs the migration against the store; returns the statements it ran. */
async function resortGpuMetrics(store: Store, target: DdlTarget): Promise<string[]> {
  const local = localName(gpuMetrics.name, target);
  const [t] = await store.queryRows<{ sorting_key: string; partition_key: string }>(
    'SELECT sorting_key, partition_key FROM system.tables WHERE database = {db:String} AND name = {name:String}',
    { db: target.database, name: local },
  );
  if (!t) throw new Error(`migration 6: table ${target.database}.${local} does not exist`);
  const stmts =
    t.sorting_key === WANTED_KEY && t.partition_key === gpuMetrics.partitionBy
      ? dropResortSql(target)
      : resortGpuMetricsSql(target, await columnsOf(store, target.database, local));
  for (const sql of stmts) await store.command(sql);
  return stmts;
}

async function columnsOf(store: Store, db: string, table: string): Promise<string[]> {
  const wanted = new Set(Object.keys(gpuMetrics.columns));
  const rows = await store.queryRows<{ name: string }>(
    'SELECT name FROM system.columns WHERE database = {db:String} AND table = {table:String} ORDER BY position',
    { db, table },
  );
  // A column the old table lacks gets its default in the copy.
  return rows.map((r) => r.name).filter((n) => wanted.has(n));
}

export const gpuMetricsResort: Migration = {
  version: 6,
  name: 'gpu_metrics: sorted by (node, gpu_uuid, ts, field), partitioned by day, merging about ten parts at a time (merge cost; whole days dropped by the retention); rows copied into the new table',
  run: resortGpuMetrics,
};
