// Versioned, idempotent schema migrations, recorded in `schema_migrations`. Every statement is
// written so that running it twice is harmless (IF NOT EXISTS, MODIFY), so a migration that stopped
// half-way is simply applied again.
import { createHash } from 'node:crypto';
import { errorMessage } from '../errors.ts';
import type { Store } from '../store/store.ts';
import { chargebackRollupsSql } from './chargeback-migration.ts';
import { resortGpuMetrics } from './gpu-metrics-resort.ts';
import { createDatabaseSql, localName, onCluster, q, schemaSql, ttlSql, type DdlTarget } from './ddl.ts';

export interface Migration {
  version: number;
  name: string;
  /** Statements that do not depend on what the store holds. */
  statements?(target: DdlTarget): string[];
  /** A migration that must look at the store first (a data copy); returns the statements it ran. */
  run?(store: Store, target: DdlTarget): Promise<string[]>;
}

/** Append only: never edit a migration that has shipped; add a new one. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'initial schema: signal tables, dead letters, hourly rollups', statements: schemaSql },
  { version: 2, name: 'frontend_events: idempotency_key and event_seq (Faro retries stored once)', statements: frontendIdempotencySql },
  { version: 3, name: 'chargeback rollups: node inventory and input counts per hour, the cost split per hour and day', statements: chargebackRollupsSql },
  { version: 4, name: 'gpu_metrics_hourly_mv: rows aggregated by the rollup table, not grouped in the view (insert cost)', statements: gpuHourlyUngroupedSql },
  {
    version: 5,
    name: "frontend_events: the Faro payload meta (app, SDK, browser, view, page and user ids) in columns of its own, not in every row's attributes",
    statements: frontendMetaSql,
  },
  {
    version: 6,
    name: 'gpu_metrics: sorted by (node, gpu_uuid, ts, field), partitioned by day, merging about ten parts at a time (merge cost; whole days dropped by the retention); rows copied into the new table',
    run: resortGpuMetrics,
  },
  { version: 7, name: 'gpu_metrics: pci_bus_id, the GPU as node-level tools name it', statements: gpuPciBusIdSql },
];

/** Same columns and results as before: the rollup's sort key is the view's former GROUP BY. */
export function gpuHourlyUngroupedSql(target: DdlTarget): string[] {
  const db = q(target.database);
  return [
    `ALTER TABLE ${db}.\`gpu_metrics_hourly_mv\`${onCluster(target)} MODIFY QUERY SELECT toStartOfHour(ts) AS hour, node, gpu_uuid, mig_instance, gpu_model, field, unit,\n  toUInt64(1) AS samples, value AS sum_value, value AS min_value, value AS max_value\nFROM ${db}.\`${localName('gpu_metrics', target)}\``,
  ];
}

// Written out rather than derived from the table definition, so that this migration stays what it
// was when the definition changes later; a test compares the result with a freshly created table.
const FRONTEND_IDEMPOTENCY_COLUMNS = [
  "`idempotency_key` String COMMENT 'The payload\\'s Idempotency-Key (empty without one); with event_seq it names the row, the same on a retried payload.' CODEC(ZSTD(1))",
  "`event_seq` UInt32 COMMENT 'Position of the row among the rows of its payload.' CODEC(T64, ZSTD(1))",
];

/**
 * Adds columns (full definitions, `name` first) to a signal table. In a cluster the shards' local
 * tables get them first, then the Distributed table over them: a Distributed table that named a
 * column its shards lack would fail every insert in between. The Distributed table stores nothing,
 * so there the plain type is enough.
 */
function addColumnsSql(table: string, columns: readonly string[], target: DdlTarget): string[] {
  const add = (cols: readonly string[]) => cols.map((c) => `ADD COLUMN IF NOT EXISTS ${c}`).join(', ');
  const stmts = [`ALTER TABLE ${q(target.database)}.${q(localName(table, target))}${onCluster(target)} ${add(columns)}`];
  if (target.cluster) {
    const plain = columns.map((c) => c.replace(/ (COMMENT|CODEC)\b.*$/, ''));
    stmts.push(`ALTER TABLE ${q(target.database)}.${q(table)}${onCluster(target)} ${add(plain)}`);
  }
  return stmts;
}

export function frontendIdempotencySql(target: DdlTarget): string[] {
  return addColumnsSql('frontend_events', FRONTEND_IDEMPOTENCY_COLUMNS, target);
}

// Written out for the same reason as FRONTEND_IDEMPOTENCY_COLUMNS.
const FRONTEND_META_COLUMNS = [
  "`app_version` LowCardinality(String) COMMENT 'meta.app.version: the page\\'s build.'",
  "`app_environment` LowCardinality(String) COMMENT 'meta.app.environment, e.g. production.'",
  "`app_release` LowCardinality(String) COMMENT 'meta.app.release.'",
  "`sdk_version` LowCardinality(String) COMMENT 'meta.sdk.version: the Faro web SDK\\'s version.'",
  "`browser_name` LowCardinality(String) COMMENT 'meta.browser.name, e.g. Chrome.'",
  "`browser_version` LowCardinality(String) COMMENT 'meta.browser.version.'",
  "`browser_os` LowCardinality(String) COMMENT 'meta.browser.os.'",
  "`browser_mobile` LowCardinality(String) COMMENT 'meta.browser.mobile: \\'true\\', \\'false\\' or empty.'",
  "`view_name` LowCardinality(String) COMMENT 'meta.view.name: the view of a single-page app.'",
  "`page_id` String COMMENT 'meta.page.id.' CODEC(ZSTD(1))",
  "`user_id` String COMMENT 'meta.user.id (opaque; no e-mail or user name is stored).' CODEC(ZSTD(1))",
  "`user_hash` String COMMENT 'meta.user.hash.' CODEC(ZSTD(1))",
];

/** Rows stored before keep their meta in `attributes`; the new columns are empty on them. */
export function frontendMetaSql(target: DdlTarget): string[] {
  return addColumnsSql('frontend_events', FRONTEND_META_COLUMNS, target);
}

// Written out for the same reason as FRONTEND_IDEMPOTENCY_COLUMNS.
const GPU_PCI_BUS_ID_COLUMNS = [
  "`pci_bus_id` LowCardinality(String) COMMENT 'PCI bus id of the GPU (00000000:3B:00.0), as node-level tools name it; empty when the exporter does not say.'",
];

/** Rows stored before have an empty pci_bus_id. */
export function gpuPciBusIdSql(target: DdlTarget): string[] {
  return addColumnsSql('gpu_metrics', GPU_PCI_BUS_ID_COLUMNS, target);
}

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
