// The chargeback's own rollups for stores created before them. Creating them is
// idempotent; so is filling them from the rows already stored: inventory is an argMax (the same rows
// twice give the same state), and a counter counted twice only differs from what the refresh saw,
// which marks its hours for one more recomputation and changes no result.
import { CHARGEBACK_ROLLUPS } from '../chargeback-rollups.ts';
import { createRollupSql, q, viewSelectSql, type DdlTarget } from '../ddl.ts';
import type { Migration } from './migration.ts';

export function chargebackRollupsSql(target: DdlTarget): string[] {
  const db = q(target.database);
  const out: string[] = [];
  for (const r of CHARGEBACK_ROLLUPS) out.push(...createRollupSql(r, target));
  // In a cluster these read and write through the Distributed tables, so every shard's rows count.
  for (const r of CHARGEBACK_ROLLUPS) {
    for (const v of r.views) out.push(`INSERT INTO ${db}.${q(r.name)} ${viewSelectSql(v, `${db}.${q(v.source)}`)}`);
  }
  return out;
}

export const chargebackRollups: Migration = {
  version: 3,
  name: 'chargeback rollups: node inventory and input counts per hour, the cost split per hour and day',
  statements: chargebackRollupsSql,
};
