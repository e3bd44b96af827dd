// Retention with the defaults a user gets: a price stays while it is in force, whatever its age; a
// price that a newer one replaced before the retention horizon goes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PricePointRecord } from '../../../collector/core/schema/tables.ts';
import { Registry } from 'prom-client';
import { BackgroundFailures } from '../../../collector/core/lifecycle/background.ts';
import { silentLogger } from '../../../collector/core/log.ts';
import { pricePoints } from '../../../collector/core/schema/tables.ts';
import { RetentionSweep, supersededDeleteSql, sweepRetention } from '../../../collector/core/store/retention.ts';
import { priceAtFromStore } from '../../../collector/features/cost/asof-sql.ts';
import { insertPoints } from '../../helpers/prices.ts';
import { openTestStore, type TestStore } from '../../helpers/store.ts';

const NOW = Date.parse('2026-12-07T12:00:00Z');
const spot = { provider: 'aws', instance_type: 'g5.xlarge', region: 'us-east-1', zone: 'us-east-1a', capacity_type: 'spot' } as const;
const pricePoint = (p: Omit<PricePointRecord, 'source' | 'os'>): PricePointRecord => ({ source: p.provider, os: 'linux', ...p });

describe('retention of prices on the default configuration', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore();
  });
  afterAll(async () => t?.close());

  const prices = async (instanceType: string) =>
    (
      await t.store.queryRows<{ f: string }>(
        `SELECT toString(effective_from) AS f FROM price_points FINAL WHERE instance_type = {it:String} ORDER BY effective_from`,
        { it: instanceType },
      )
    ).map((r) => r.f.slice(0, 10));

  it('uses the default retention (the test sets none)', () => {
    expect(t.config.store.ttl_days.reference).toBe(730);
  });

  it('keeps a price set long ago that is still in force, through merges and the retention sweep', async () => {
    const book: PricePointRecord = pricePoint({
      provider: 'book',
      instance_type: 'dgx-a100',
      region: '',
      zone: '',
      capacity_type: 'on_prem',
      usd_per_hour: '25',
      effective_from: '2000-01-01T00:00:00Z',
    });
    const old: PricePointRecord = pricePoint({ ...spot, usd_per_hour: '0.4', effective_from: '2023-05-01T00:00:00Z' });
    await insertPoints(t.store, [book, old]);
    // Merges apply a TTL; run them now rather than waiting for the engine to.
    await t.store.command('OPTIMIZE TABLE price_points FINAL');
    await sweepRetention(t.store, t.store.ddlTarget(), NOW);
    expect(await prices('dgx-a100')).toEqual(['2000-01-01']);
    expect(await prices('g5.xlarge')).toEqual(['2023-05-01']);
    const at = await priceAtFromStore(
      t.store,
      { provider: 'book', instance_type: 'dgx-a100', region: '', zone: '', capacity_type: 'on_prem' },
      '2026-12-01T00:00:00Z',
    );
    expect(at?.usd_per_hour).toBe('25');
  });

  it('deletes a price that a newer one replaced before the retention horizon, and keeps the one in force at the horizon', async () => {
    const series = ['2021-01-01', '2022-01-01', '2024-06-01', '2025-06-01', '2026-11-01'].map((d, i) =>
      pricePoint({ ...spot, instance_type: 'g5.2xlarge', usd_per_hour: `0.${i + 1}`, effective_from: `${d}T00:00:00Z` }),
    );
    await insertPoints(t.store, series);
    await sweepRetention(t.store, t.store.ddlTarget(), NOW);
    // The horizon is 2024-12-07: the 2024-06-01 price was in force then, so it and everything after stay.
    expect(await prices('g5.2xlarge')).toEqual(['2024-06-01', '2025-06-01', '2026-11-01']);
    // The sweep is idempotent.
    await sweepRetention(t.store, t.store.ddlTarget(), NOW);
    expect(await prices('g5.2xlarge')).toEqual(['2024-06-01', '2025-06-01', '2026-11-01']);
  });

  it("deletes in a cluster from each shard's own rows", () => {
    const sql = supersededDeleteSql(pricePoints, { database: 'llmeter', cluster: 'llm', rawTtlDays: 90, referenceTtlDays: 730, rollupTtlDays: 730 }, NOW);
    expect(sql).toMatch(/^DELETE FROM `llmeter`\.`price_points_local` ON CLUSTER `llm` WHERE/);
    expect(sql).toContain('FROM `llmeter`.`price_points_local` WHERE');
    // The key's versions are on one shard only if the sharding key is made of the key's columns.
    expect(pricePoints.shardingKey).toBe('cityHash64(instance_type)');
    expect(pricePoints.inForceKey).toContain('instance_type');
  });

  it("is swept by a running collector's sweep component, at start", async () => {
    await insertPoints(t.store, [
      pricePoint({ ...spot, instance_type: 'g6.xlarge', usd_per_hour: '1', effective_from: '2020-01-01T00:00:00Z' }),
      pricePoint({ ...spot, instance_type: 'g6.xlarge', usd_per_hour: '2', effective_from: '2021-01-01T00:00:00Z' }),
    ]);
    const sweep = new RetentionSweep(t.store, new BackgroundFailures(new Registry(), silentLogger));
    await sweep.start();
    await sweep.shutdown();
    expect(await prices('g6.xlarge')).toEqual(['2021-01-01']);
  });

  it('keeps the chargeback state rows and input counts, which say what each kept day was computed from, past the rollup retention', async () => {
    const ddl = await t.store.queryRows<{ name: string; q: string }>(
      `SELECT name, create_table_query AS q FROM system.tables WHERE database = {db:String} AND name IN ('chargeback_inputs', 'chargeback_rollup', 'price_points')`,
      { db: t.store.database },
    );
    const of = (n: string) => ddl.find((r) => r.name === n)!.q;
    expect(of('price_points')).not.toMatch(/\bTTL\b/);
    expect(of('chargeback_inputs')).not.toMatch(/\bTTL\b/);
    expect(of('chargeback_rollup')).toMatch(/TTL .* WHERE kind != 'state'/);
  });
});
