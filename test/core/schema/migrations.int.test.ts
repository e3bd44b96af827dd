import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, MIGRATIONS } from '../../../collector/core/schema/migrations/index.ts';
import { ALL_TABLES } from '../../../collector/core/schema/tables.ts';
import { ROLLUPS } from '../../../collector/core/schema/rollups.ts';
import { openTestStore, type TestStore } from '../../helpers/store.ts';

describe('migrations on embedded ClickHouse', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore({ store: { ttl_days: { raw: 90 } } });
  });
  afterAll(async () => t?.close());

  it('creates every table and rollup, and records the migration once', async () => {
    const tables = await t.store.queryRows<{ name: string }>(`SELECT name FROM system.tables WHERE database = {db:String}`, { db: t.store.database });
    const names = new Set(tables.map((r) => r.name));
    for (const tbl of ALL_TABLES) expect(names, tbl.name).toContain(tbl.name);
    for (const r of ROLLUPS) {
      expect(names).toContain(r.name);
      for (const v of r.views) expect(names).toContain(v.name);
    }
    const applied = await t.store.queryRows<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(applied.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('runs twice in a row without changing anything', async () => {
    const before = await t.store.queryRows<{ name: string; create_table_query: string }>(
      `SELECT name, create_table_query FROM system.tables WHERE database = {db:String} ORDER BY name`,
      { db: t.store.database },
    );
    const again = await migrate(t.store, t.store.ddlTarget());
    const third = await migrate(t.store, t.store.ddlTarget());
    expect(again.applied).toEqual([]);
    expect(third.alreadyApplied).toEqual(MIGRATIONS.map((m) => m.version));
    const after = await t.store.queryRows<{ name: string; create_table_query: string }>(
      `SELECT name, create_table_query FROM system.tables WHERE database = {db:String} ORDER BY name`,
      { db: t.store.database },
    );
    expect(after).toEqual(before);
    const n = await t.store.queryRows<{ n: string }>('SELECT count() AS n FROM schema_migrations');
    expect(Number(n[0]!.n)).toBe(MIGRATIONS.length);
  });

  it('applies the configured TTL', async () => {
    const rows = await t.store.queryRows<{ q: string }>(
      `SELECT create_table_query AS q FROM system.tables WHERE database = {db:String} AND name = 'llm_requests'`,
      { db: t.store.database },
    );
    expect(rows[0]!.q).toContain('TTL toDateTime(ts) + toIntervalDay(90)');
  });
});
