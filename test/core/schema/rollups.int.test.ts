// The GPU hourly rollup is filled by a view that does not group: the rollup table's own aggregation
// (on insert and on merge) must give exactly what grouping the raw rows gives.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codecFor, storeInserter } from '../../../collector/core/pipeline/pipeline.ts';
import { validatorFor } from '../../../collector/core/records/validate.ts';
import type { NativeBlocks } from '../../../collector/core/store/native-blocks.ts';
import { migrate } from '../../../collector/core/schema/migrations/index.ts';
import type { GpuSampleRecord } from '../../../collector/core/schema/tables.ts';
import { openTestStore, type TestStore } from '../../helpers/store.ts';

const T0 = Date.UTC(2026, 2, 1, 10);

function rows(records: GpuSampleRecord[]): NativeBlocks {
  const v = validatorFor('gpu_sample');
  const valid = records.map((r) => {
    const out = v(r);
    if (!out.ok) throw new Error(out.errors.join('; '));
    return out.row;
  });
  return codecFor('gpu_metrics').encode(valid);
}

interface HourRow {
  hour: string;
  node: string;
  gpu_uuid: string;
  mig_instance: string;
  field: string;
  samples: string;
  sum_value: number;
  min_value: number;
  max_value: number;
}

const ROLLUP_SQL = `SELECT toString(hour) AS hour, node, gpu_uuid, mig_instance, field, toString(sum(samples)) AS samples,
  sum(sum_value) AS sum_value, min(min_value) AS min_value, max(max_value) AS max_value
FROM gpu_metrics_hourly GROUP BY hour, node, gpu_uuid, mig_instance, field ORDER BY hour, node, gpu_uuid, mig_instance, field`;

const viewQuery = async (t: TestStore) =>
  (
    await t.store.queryRows<{ q: string }>(
      `SELECT create_table_query AS q FROM system.tables WHERE database = {db:String} AND name = 'gpu_metrics_hourly_mv'`,
      { db: t.store.database },
    )
  )[0]!.q;

describe('gpu_metrics_hourly from an ungrouped view', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore();
  });
  afterAll(async () => t?.close());

  it('holds per hour, GPU (or MIG slice) and field exactly the count, sum, min and max of the raw samples', async () => {
    // Repeated keys inside one insert and across inserts, two hours, a MIG slice, negative values.
    const recs: GpuSampleRecord[] = [];
    for (let i = 0; i < 600; i++) {
      recs.push({
        ts: T0 + (i % 150) * 30_000,
        node: `node-${i % 3}`,
        gpu_uuid: `GPU-${i % 2}`,
        mig_instance: i % 5 === 0 ? '1' : '',
        mig_profile: i % 5 === 0 ? '1g.10gb' : '',
        gpu_model: 'NVIDIA A100-SXM4-80GB',
        field: i % 4 === 0 ? 'power_watts' : 'gpu_utilization',
        value: ((i * 37) % 101) - 20 + i / 8,
        unit: i % 4 === 0 ? 'watts' : 'ratio',
      });
    }
    const insert = storeInserter(t.store);
    for (let b = 0; b < 4; b++) await insert.insert('gpu_metrics', rows(recs.slice(b * 150, (b + 1) * 150)), `rollup-${b}`);

    const expected = new Map<string, { samples: number; sum: number; min: number; max: number }>();
    for (const r of recs) {
      const hour = new Date(Math.floor(Number(r.ts) / 3_600_000) * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
      const k = [hour, r.node, r.gpu_uuid, r.mig_instance, r.field].join('|');
      const e = expected.get(k) ?? { samples: 0, sum: 0, min: Infinity, max: -Infinity };
      const value = Number(r.value);
      e.samples++;
      e.sum += value;
      e.min = Math.min(e.min, value);
      e.max = Math.max(e.max, value);
      expected.set(k, e);
    }
    const got = await t.store.queryRows<HourRow>(ROLLUP_SQL);
    expect(got.length).toBe(expected.size);
    for (const g of got) {
      const e = expected.get([g.hour, g.node, g.gpu_uuid, g.mig_instance, g.field].join('|'));
      expect(e, `${g.hour} ${g.node} ${g.gpu_uuid} ${g.field}`).toBeDefined();
      expect(Number(g.samples)).toBe(e!.samples);
      expect(g.sum_value).toBeCloseTo(e!.sum, 6);
      expect(g.min_value).toBe(e!.min);
      expect(g.max_value).toBe(e!.max);
    }
    // The same from the raw table, grouped by ClickHouse.
    const raw = await t.store.queryRows<HourRow>(`SELECT toString(toStartOfHour(ts)) AS hour, node, gpu_uuid, mig_instance, field, toString(count()) AS samples,
  sum(value) AS sum_value, min(value) AS min_value, max(value) AS max_value
FROM gpu_metrics GROUP BY hour, node, gpu_uuid, mig_instance, field ORDER BY hour, node, gpu_uuid, mig_instance, field`);
    expect(got.map((r) => ({ ...r, sum_value: r.sum_value.toFixed(6) }))).toEqual(raw.map((r) => ({ ...r, sum_value: r.sum_value.toFixed(6) })));
  });

  it('collapses the rows of one insert by the rollup key as the insert is written', async () => {
    await t.store.command('TRUNCATE TABLE gpu_metrics_hourly');
    const same = Array.from({ length: 50 }, (_, i): GpuSampleRecord => ({
      ts: T0 + i * 1000,
      node: 'node-x',
      gpu_uuid: 'GPU-x',
      field: 'gpu_utilization',
      value: i,
      unit: 'ratio',
    }));
    await storeInserter(t.store).insert('gpu_metrics', rows(same), 'collapse-1');
    const n = await t.store.queryRows<{ n: string; samples: string }>(
      `SELECT toString(count()) AS n, toString(sum(samples)) AS samples FROM gpu_metrics_hourly WHERE node = 'node-x'`,
    );
    expect(n[0]).toEqual({ n: '1', samples: '50' });
  });

  it('migrates a view that still groups to the ungrouped one', async () => {
    const fresh = await viewQuery(t);
    expect(fresh).not.toMatch(/GROUP BY/i);
    // An install from before migration 4: the view grouped in its own query.
    await t.store
      .command(`ALTER TABLE gpu_metrics_hourly_mv MODIFY QUERY SELECT toStartOfHour(ts) AS hour, node, gpu_uuid, mig_instance, gpu_model, field, unit,
  count() AS samples, sum(value) AS sum_value, min(value) AS min_value, max(value) AS max_value
FROM ${t.store.database}.gpu_metrics GROUP BY hour, node, gpu_uuid, mig_instance, gpu_model, field, unit`);
    await t.store.command('DELETE FROM schema_migrations WHERE version = 4');
    expect(await viewQuery(t)).toMatch(/GROUP BY/i);
    const result = await migrate(t.store, t.store.ddlTarget());
    expect(result.applied.map((m) => m.version)).toEqual([4]);
    expect(await viewQuery(t)).toBe(fresh);
  });
});
