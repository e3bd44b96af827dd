// The schema's migrations, one file each (NNN-name.ts), applied in order and recorded in
// `schema_migrations`. Append only: never edit a migration that has shipped; add a new one.
import { createHash } from 'node:crypto';
import { errorMessage } from '../../errors.ts';
import type { Store } from '../../store/store.ts';
import { createDatabaseSql, ttlSql, type DdlTarget } from '../ddl.ts';
import { initialSchema } from './001-initial-schema.ts';
import { frontendIdempotency } from './002-frontend-idempotency.ts';
import { chargebackRollups } from './003-chargeback-rollups.ts';
import { gpuHourlyUngrouped } from './004-gpu-hourly-ungrouped.ts';
import { frontendMeta } from './005-frontend-meta.ts';
import { gpuMetricsResort } from './006-gpu-metrics-resort.ts';
import { gpuPciBusId } from './007-gpu-pci-bus-id.ts';
import { uptimeEvidence } from './008-uptime-evidence.ts';
import type { Migration } from './migration.ts';

export type { Migration } from './migration.ts';

export const MIGRATIONS: readonly Migration[] = [
  initialSchema,
  frontendIdempotency,
  chargebackRollups,
  gpuHourlyUngrouped,
  frontendMeta,
  gpuMetricsResort,
  gpuPciBusId,
  uptimeEvidence,
];

export interface MigrationResult {
  applied: { version: number; name: string; statements: number }[];
  alreadyApplied: number[];
}

function checksum(stmts: string[]): string {
  return createHash('sha256').update(stmts.join(';\n')).digest('hex').slice(0, 16);
}

export function migrationsTableSql(target: DdlTarget): string {
  const db = '`' + target.database + '`';
  const cluster = target.cluster ? ` ON CLUSTER \`${target.cluster}\`` : '';
  const engine = target.cluster ? `ReplicatedMergeTree('/clickhouse/tables/all/${target.database}/schema_migrations', '{replica}')` : 'MergeTree';
  return `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations${cluster}\n(\n  version UInt32,\n  name String,\n  checksum String,\n  applied_at DateTime64(3, 'UTC') DEFAULT now64(3)\n)\nENGINE = ${engine}\nORDER BY version`;
}

export async function migrate(store: Store, target: DdlTarget): Promise<MigrationResult> {
  await store.command(createDatabaseSql(target));
  await store.command(migrationsTableSql(target));
  const done = new Set(
    (await store.queryRows<{ version: number }>(`SELECT version FROM \`${target.database}\`.schema_migrations`)).map((r) => Number(r.version)),
  );
  const result: MigrationResult = { applied: [], alreadyApplied: [] };
  for (const m of MIGRATIONS) {
    if (done.has(m.version)) {
      result.alreadyApplied.push(m.version);
      continue;
    }
    let stmts: string[] = [];
    if (m.statements) {
      stmts = m.statements(target);
      for (const sql of stmts) await store.command(sql);
    }
    if (m.run) stmts.push(...(await m.run(store, target)));
    await store.insert(`${target.database}.schema_migrations`, [{ version: m.version, name: m.name, checksum: checksum(stmts) }]);
    result.applied.push({ version: m.version, name: m.name, statements: stmts.length });
  }
  // Retention follows the configuration, so it is reconciled on every run, not frozen at creation.
  for (const sql of ttlSql(target)) {
    try {
      await store.command(sql);
    } catch (err) {
      // REMOVE TTL on a table that has none is already the wanted state.
      if (!/doesn't have any table TTL/i.test(errorMessage(err))) throw err;
    }
  }
  return result;
}
