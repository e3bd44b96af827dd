// Migration 6 re-sorts and re-partitions gpu_metrics by copying its rows into a new table. An install
// from before it is made here as it was: the table with its old key and monthly partitions, under the
// views that read it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codecFor, storeInserter } from '../../../collector/core/pipeline/pipeline.ts';
import { validatorFor } from '../../../collector/core/records/validate.ts';
import { createTableSql, type DdlTarget } from '../../../collector/core/schema/ddl.ts';
import { RESORT_TABLE, resortGpuMetricsSql } from '../../../collector/core/schema/migrations/006-gpu-metrics-resort.ts';
import { migrate } from '../../../collector/core/schema/migrations/index.ts';
import { gpuMetrics, type GpuSampleRecord } from '../../../collector/core/schema/tables.ts';
import { openTestStore, type TestStore } from '../../helpers/store.ts';

const OLD_DEF = { ...gpuMetrics, orderBy: ['node', 'gpu_uuid', 'field', 'ts'], partitionBy: 'toYYYYMM(ts)', settings: undefined };

function samples(n: number, t0: number, node = 'node'): GpuSampleRecord[] {
  return Array.from({ length: n }, (_, i): GpuSampleRecord => ({
    ts: t0 + Math.floor(i / 6) * 15_000 * 97, // spans several days, and a month boundary below
    node: `${node}-${i % 3}`,
    gpu_uuid: `GPU-${i % 2}`,
    gpu_index: i % 2,
    gpu_model: 'NVIDIA H100 80GB HBM3',
    mig_instance: i % 7 === 0 ? '3' : '',
    mig_profile: i % 7 === 0 ? '1g.10gb' : '',
    field: ['gpu_utilization', 'power_watts', 'fb_used'][i % 3]!,
    value: (i * 13.25) % 400,
    unit: ['ratio', 'watts', 'bytes'][i % 3]!,
    namespace: i % 5 === 0 ? '' : 'team-a',
    pod: i % 5 === 0 ? '' : `pod-${i % 4}`,
    container: '',
  }));
}

async function insert(t: TestStore, records: GpuSampleRecord[], token: string): Promise<void> {
  const v = validatorFor('gpu_sample');
  const valid = records.map((r) => {
    const out = v(r);
    if (!out.ok) throw new Error(out.errors.join('; '));
    return out.row;
  });
  await storeInserter(t.store).insert('gpu_metrics', codecFor('gpu_metrics').encode(valid), token);
}

const dump = (t: TestStore) => t.store.queryRows<Record<string, unknown>>('SELECT * FROM gpu_metrics ORDER BY ts, node, gpu_uuid, mig_instance, field');

async function layout(t: TestStore): Promise<{ sorting_key: string; partition_key: string; engine_full: string }> {
  const [r] = await t.store.queryRows<{ sorting_key: string; partition_key: string; engine_full: string }>(
    `SELECT sorting_key, partition_key, engine_full FROM system.tables WHERE database = {db:String} AND name = 'gpu_metrics'`,
    { db: t.store.database },
  );
  return r!;
}

async function rollupSamples(t: TestStore): Promise<number> {
  const [r] = await t.store.queryRows<{ n: string }>(`SELECT toString(sum(samples)) AS n FROM gpu_metrics_hourly`);
  return Number(r!.n);
}

/** Puts back the table an install from before migration 6 had, with `records` in it. */
async function oldInstall(t: TestStore, records: GpuSampleRecord[]): Promise<void> {
  const target = t.store.ddlTarget();
  await t.store.command(createTableSql({ ...OLD_DEF, name: 'gpu_metrics_before' }, target));
  await t.store.command(`EXCHANGE TABLES gpu_metrics AND gpu_metrics_before`);
  await t.store.command(`DROP TABLE gpu_metrics_before`);
  await t.store.command('TRUNCATE TABLE gpu_metrics_hourly');
  await insert(t, records, `old-${records.length}`);
  await t.store.command('DELETE FROM schema_migrations WHERE version = 6');
}

describe('migration 6: gpu_metrics re-sorted and partitioned by day', () => {
  let t: TestStore;
  const T0 = Date.UTC(2026, 0, 30, 22);
  beforeAll(async () => {
    t = await openTestStore();
  });
  afterAll(async () => t?.close());

  it('creates a fresh install with the new layout and has nothing to copy', async () => {
    const l = await layout(t);
    expect(l.sorting_key).toBe('node, gpu_uuid, ts, field');
    expect(l.partition_key).toBe('toDate(ts)');
    expect(l.engine_full).toContain('ttl_only_drop_parts = 1, merge_selector_base = 10');
    await t.store.command('DELETE FROM schema_migrations WHERE version = 6');
    const r = await migrate(t.store, t.store.ddlTarget());
    expect(r.applied).toEqual([{ version: 6, name: expect.stringContaining('gpu_metrics'), statements: 1 }]);
  });

  it("copies an old install's rows into the new layout, and the views feed from it afterwards", async () => {
    const recs = samples(600, T0);
    await oldInstall(t, recs);
    expect((await layout(t)).sorting_key).toBe('node, gpu_uuid, field, ts');
    const before = await dump(t);
    expect(before.length).toBe(600);
    expect(await rollupSamples(t)).toBe(600);

    const r = await migrate(t.store, t.store.ddlTarget());
    expect(r.applied.map((m) => m.version)).toEqual([6]);
    const l = await layout(t);
    expect(l.sorting_key).toBe('node, gpu_uuid, ts, field');
    expect(l.partition_key).toBe('toDate(ts)');
    expect(l.engine_full).toContain('merge_selector_base = 10');
    expect(await dump(t)).toEqual(before);
    // The copy did not pass through the views: the rollup still counts each sample once.
    expect(await rollupSamples(t)).toBe(600);
    const parts = await t.store.queryRows<{ partition: string }>(
      `SELECT DISTINCT partition FROM system.parts WHERE active AND database = {db:String} AND table = 'gpu_metrics' ORDER BY partition`,
      { db: t.store.database },
    );
    const days = new Set(recs.map((x) => new Date(Number(x.ts)).toISOString().slice(0, 10)));
    expect(parts.map((p) => p.partition)).toEqual([...days].sort());
    const leftovers = await t.store.queryRows<{ name: string }>(
      `SELECT name FROM system.tables WHERE database = {db:String} AND name LIKE 'gpu_metrics%' ORDER BY name`,
      { db: t.store.database },
    );
    expect(leftovers.map((x) => x.name)).toEqual(['gpu_metrics', 'gpu_metrics_hourly', 'gpu_metrics_hourly_mv']);

    await insert(t, samples(60, T0 + 86_400_000 * 10, 'later'), 'after-migration');
    expect(await rollupSamples(t)).toBe(660);
    expect((await dump(t)).length).toBe(660);
  });

  it('starts over from a half-made copy left by an interrupted run', async () => {
    const recs = samples(300, T0 + 3_600_000);
    await oldInstall(t, recs);
    const before = await dump(t);
    // A run that stopped during its copy: the new table exists with some of the rows.
    await t.store.command(createTableSql({ ...gpuMetrics, name: RESORT_TABLE }, t.store.ddlTarget()));
    await t.store.command(`INSERT INTO ${RESORT_TABLE} SELECT * FROM gpu_metrics LIMIT 100`);
    await migrate(t.store, t.store.ddlTarget());
    expect((await layout(t)).sorting_key).toBe('node, gpu_uuid, ts, field');
    expect(await dump(t)).toEqual(before);

    // A run that stopped after the exchange: the old rows' table is still there, and is dropped.
    await t.store.command(createTableSql({ ...OLD_DEF, name: RESORT_TABLE }, t.store.ddlTarget()));
    await t.store.command('DELETE FROM schema_migrations WHERE version = 6');
    await migrate(t.store, t.store.ddlTarget());
    expect(await dump(t)).toEqual(before);
    const left = await t.store.queryRows<{ n: string }>(
      `SELECT toString(count()) AS n FROM system.tables WHERE database = {db:String} AND name = {name:String}`,
      { db: t.store.database, name: RESORT_TABLE },
    );
    expect(left[0]!.n).toBe('0');
  });

  it("copies a cluster's rows through Distributed tables and exchanges every shard's table", () => {
    const cluster: DdlTarget = { database: 'llmeter', cluster: 'c1', rawTtlDays: 90, referenceTtlDays: 365, rollupTtlDays: 0 };
    const sql = resortGpuMetricsSql(cluster, ['ts', 'node', 'value']);
    expect(
      sql.some(
        (s) =>
          s.startsWith('CREATE TABLE IF NOT EXISTS `llmeter`.`gpu_metrics_v6_local` ON CLUSTER `c1`') &&
          s.includes('ReplicatedMergeTree') &&
          s.includes('ORDER BY (node, gpu_uuid, ts, field)'),
      ),
    ).toBe(true);
    expect(sql).toContain(
      'INSERT INTO `llmeter`.`gpu_metrics_v6` (`ts`, `node`, `value`) SELECT `ts`, `node`, `value` FROM `llmeter`.`gpu_metrics` SETTINGS distributed_foreground_insert = 1',
    );
    expect(sql).toContain('EXCHANGE TABLES `llmeter`.`gpu_metrics_local` AND `llmeter`.`gpu_metrics_v6_local` ON CLUSTER `c1`');
    expect(sql.at(-1)).toBe('DROP TABLE IF EXISTS `llmeter`.`gpu_metrics_v6_local` ON CLUSTER `c1` SYNC');
  });
});
