import { localName, onCluster, q, type DdlTarget } from '../ddl.ts';
import type { Migration } from './migration.ts';

/** Same columns and results as before: the rollup's sort key is the view's former GROUP BY. */
export function gpuHourlyUngroupedSql(target: DdlTarget): string[] {
  const db = q(target.database);
  return [
    `ALTER TABLE ${db}.\`gpu_metrics_hourly_mv\`${onCluster(target)} MODIFY QUERY SELECT toStartOfHour(ts) AS hour, node, gpu_uuid, mig_instance, gpu_model, field, unit,\n  toUInt64(1) AS samples, value AS sum_value, value AS min_value, value AS max_value\nFROM ${db}.\`${localName('gpu_metrics', target)}\``,
  ];
}

export const gpuHourlyUngrouped: Migration = {
  version: 4,
  name: 'gpu_metrics_hourly_mv: rows aggregated by the rollup table, not grouped in the view (insert cost)',
  statements: gpuHourlyUngroupedSql,
};
