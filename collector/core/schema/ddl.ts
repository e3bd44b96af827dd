// Generates ClickHouse DDL from the table and rollup definitions, for a single server (or chDB) and for a
// cluster (ReplicatedMergeTree local tables + Distributed tables over them, ON CLUSTER).
import type { RollupDef, RollupView } from './rollup-def.ts';
import { ROLLUPS } from './rollups.ts';
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

function ttlClause(column: string, days: number): string {
  if (days <= 0) return '';
  return `\nTTL toDateTime(${column}) + INTERVAL ${days} DAY`;
}

/** The retention settings a table's TTL is made from. */
export type Retention = Pick<DdlTarget, 'rawTtlDays' | 'referenceTtlDays'>;

/** Days after which `t`'s TTL deletes a row (0: no TTL). */
export function ttlDays(t: TableDef, target: Retention): number {
  if (t.inForceKey) return 0;
  return t.retention === 'raw' ? target.rawTtlDays : target.referenceTtlDays;
}

/** A rollup's TTL expression, or '' when it keeps its rows. */
function rollupTtl(r: RollupDef, target: DdlTarget): string {
  if (target.rollupTtlDays <= 0 || r.retention === 'none') return '';
  const where = r.retention?.deleteWhere ? ` DELETE WHERE ${r.retention.deleteWhere}` : '';
  return `${r.timeColumn} + INTERVAL ${target.rollupTtlDays} DAY${where}`;
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

/** The table a rollup's rows live in: the shard-local table in a cluster, unless it is unsharded. */
export function rollupTable(r: RollupDef, target: DdlTarget): string {
  return r.unsharded ? r.name : localName(r.name, target);
}

/** A rollup view's SELECT over `source` (a qualified table name): the view's body, or a backfill. */
export function viewSelectSql(v: RollupView, source: string): string {
  return `SELECT ${v.select}\nFROM ${source}${v.arrayJoin ? `\nARRAY JOIN ${v.arrayJoin}` : ''}${v.where ? `\nWHERE ${v.where}` : ''}${v.groupBy ? `\nGROUP BY ${v.groupBy}` : ''}`;
}

/** A view's body as it reads its source: the local table, so that in a cluster each shard rolls up its own rows. */
export function viewQuerySql(v: RollupView, target: DdlTarget): string {
  return viewSelectSql(v, `${q(target.database)}.${q(localName(v.source, target))}`);
}

/** One materialized view of a rollup, into the rollup's table. */
export function createViewSql(r: RollupDef, v: RollupView, target: DdlTarget): string {
  const db = q(target.database);
  return `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${q(v.name)}${onCluster(target)} TO ${db}.${q(rollupTable(r, target))}\nAS ${viewQuerySql(v, target)}`;
}

export function createRollupSql(r: RollupDef, target: DdlTarget): string[] {
  const db = q(target.database);
  const local = rollupTable(r, target);
  const engine = engineClause(r.engine ?? 'AggregatingMergeTree', undefined, local, target, r.unsharded ? 'all' : '{shard}');
  const stmts = [
    `CREATE TABLE IF NOT EXISTS ${db}.${q(local)}${onCluster(target)}\n(${r.columns}\n)\nENGINE = ${engine}\nPARTITION BY ${r.partitionBy ?? `toYYYYMM(${r.timeColumn})`}\nORDER BY (${r.orderBy})${rollupTtl(r, target) ? `\nTTL ${rollupTtl(r, target)}` : ''}${SETTINGS}`,
  ];
  for (const v of r.views) stmts.push(createViewSql(r, v, target));
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
    const ttl = rollupTtl(r, target);
    out.push(ttl ? `ALTER TABLE ${tbl} MODIFY TTL ${ttl}` : `ALTER TABLE ${tbl} REMOVE TTL`);
  }
  return out;
}
