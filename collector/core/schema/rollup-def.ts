// The shape of an hourly rollup: a target table and the materialized views that fill it.

export interface RollupView {
  /** Materialized view name. */
  name: string;
  source: string;
  select: string;
  /** Absent: one output row per inserted row, aggregated by the target's merges (see GPU_HOURLY_SELECT). */
  groupBy?: string;
  /** `<array expression> AS <alias>`: each source row becomes one row per element (ARRAY JOIN). */
  arrayJoin?: string;
  /** Only the source rows this condition selects. */
  where?: string;
}

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
  /**
   * Default: rows older than the rollup retention are deleted. `none`: kept forever (a small table
   * that other rows' meaning depends on); `deleteWhere`: only the rows the condition selects are.
   */
  retention?: 'none' | { deleteWhere: string };
}

/**
 * When a request stopped occupying its node, in SQL over `llm_requests`: its arrival plus its duration
 * (at least a millisecond, at most a day), as evidence of the node running and as an input count.
 */
export const REQUEST_END = 'ts + toIntervalMillisecond(least(greatest(duration_ms, 1), 86400000))';
