// Migration 7 adds gpu_metrics.pci_bus_id. A store from before it is made here as it was (the whole
// schema with gpu_metrics lacking the column, versions 1–6 recorded), then migrated.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validatorFor } from '../../../collector/core/records/validate.ts';
import { createTableSql, schemaSql, type DdlTarget } from '../../../collector/core/schema/ddl.ts';
import { gpuPciBusIdSql } from '../../../collector/core/schema/migrations/007-gpu-pci-bus-id.ts';
import { migrate, MIGRATIONS, migrationsTableSql } from '../../../collector/core/schema/migrations/index.ts';
import { gpuMetrics, type TableDef } from '../../../collector/core/schema/tables.ts';
import { openTestStore, type TestStore } from '../../helpers/store.ts';

let t: TestStore;

beforeAll(async () => {
  t = await openTestStore();
});
afterAll(async () => {
  await t?.close();
});

function columnsOf(db: string) {
  return t.store.queryRows<{ name: string; type: string; position: number; codec: string; comment: string }>(
    `SELECT name, type, position, compression_codec AS codec, comment FROM system.columns WHERE database = {db:String} AND table = 'gpu_metrics' ORDER BY position`,
    { db },
  );
}

describe('migration 7: gpu_metrics.pci_bus_id', () => {
  it('adds the column to a store created before it, the same as a fresh store has it, keeping old rows', async () => {
    const target: DdlTarget = { ...t.store.ddlTarget(), database: 'llmeter_v6' };
    const { pci_bus_id: _p, ...v6Columns } = gpuMetrics.columns;
    const v6: TableDef = { ...gpuMetrics, columns: v6Columns };
    await t.store.command(`CREATE DATABASE IF NOT EXISTS ${target.database}`);
    const current = createTableSql(gpuMetrics, target);
    for (const sql of schemaSql(target)) await t.store.command(sql === current ? createTableSql(v6, target) : sql);
    await t.store.command(migrationsTableSql(target));
    await t.store.insert(
      `${target.database}.schema_migrations`,
      [1, 2, 3, 4, 5, 6].map((version) => ({ version, name: `v${version}`, checksum: '' })),
    );
    await t.store.command(
      `INSERT INTO llmeter_v6.gpu_metrics (ts, node, gpu_uuid, field, value) VALUES ('2026-03-01 00:00:00.000', 'old-node', 'GPU-old', 'gpu_temp', 40)`,
    );
    expect((await columnsOf('llmeter_v6')).map((c) => c.name)).not.toContain('pci_bus_id');

    const r = await migrate(t.store, target);
    expect(r.applied.map((a) => a.version)).toEqual(MIGRATIONS.filter((m) => m.version >= 7).map((m) => m.version));
    expect(await columnsOf('llmeter_v6')).toEqual(await columnsOf('llmeter'));
    expect(await t.store.queryRows(`SELECT node, pci_bus_id FROM llmeter_v6.gpu_metrics`)).toEqual([{ node: 'old-node', pci_bus_id: '' }]);

    // The pipeline's positional rows fit the migrated table.
    const v = validatorFor('gpu_sample')({
      ts: '2026-03-01T00:00:15Z',
      node: 'new-node',
      gpu_uuid: 'GPU-new',
      field: 'gpu_temp',
      value: 41,
      pci_bus_id: '00000000:3B:00.0',
    });
    if (!v.ok) throw new Error(v.errors.join('; '));
    await t.store.insertRows('llmeter_v6.gpu_metrics', [v.row]);
    expect(await t.store.queryRows(`SELECT pci_bus_id FROM llmeter_v6.gpu_metrics WHERE node = 'new-node'`)).toEqual([{ pci_bus_id: '00000000:3B:00.0' }]);

    // Idempotent, even outside the bookkeeping (a migration stopped half-way).
    expect((await migrate(t.store, target)).applied).toEqual([]);
    for (const sql of gpuPciBusIdSql(target)) await t.store.command(sql);
    expect(await columnsOf('llmeter_v6')).toEqual(await columnsOf('llmeter'));
  });

  it('alters the local tables, then the Distributed table, on a cluster', async () => {
    const stmts = gpuPciBusIdSql({ ...t.store.ddlTarget(), cluster: 'fleet' });
    expect(stmts).toEqual([
      expect.stringMatching(
        /^ALTER TABLE `llmeter`\.`gpu_metrics_local` ON CLUSTER `fleet` ADD COLUMN IF NOT EXISTS `pci_bus_id` LowCardinality\(String\) COMMENT /,
      ),
      'ALTER TABLE `llmeter`.`gpu_metrics` ON CLUSTER `fleet` ADD COLUMN IF NOT EXISTS `pci_bus_id` LowCardinality(String)',
    ]);
    for (const sql of stmts) {
      const f = await t.store.queryRows<{ f: string }>('SELECT formatQuery({q:String}) AS f', { q: sql });
      expect(f[0]!.f).toContain('ADD COLUMN IF NOT EXISTS');
    }
  });
});
