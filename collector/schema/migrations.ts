// Versioned, idempotent schema migrations, recorded in `schema_migrations`. Every statement is
// written so that running it twice is harmless (IF NOT EXISTS, MODIFY), so a migration that stopped
// half-way is simply applied again.
import { createHash } from 'node:crypto';
import type { Store } from '../store/store.ts';
import { createDatabaseSql, schemaSql, ttlSql, type DdlTarget } from './ddl.ts';

export interface Migration {
  version: number;
  name: string;
  statements(target: DdlTarget): string[];
}

/** Append only: never edit a migration that has shipped; add a new one. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'initial schema: signal tables, dead letters, hourly rollups', statements: schemaSql },
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
  const engine = target.cluster
    ? `ReplicatedMergeTree('/clickhouse/tables/all/${target.database}/schema_migrations', '{replica}')`
    : 'MergeTree';
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
    const stmts = m.statements(target);
    for (const sql of stmts) await store.command(sql);
    await store.insert(`${target.database}.schema_migrations`, [{ version: m.version, name: m.name, checksum: checksum(stmts) }]);
    result.applied.push({ version: m.version, name: m.name, statements: stmts.length });
  }
  // Retention follows the configuration, so it is reconciled on every run, not frozen at creation.
  for (const sql of ttlSql(target)) {
    try {
      await store.command(sql);
    } catch (err) {
      // REMOVE TTL on a table that has none is already the wanted state.
      if (!/doesn't have any table TTL/i.test((err as Error).message)) throw err;
    }
  }
  return result;
}
