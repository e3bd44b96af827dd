// Migration 8: up-time from evidence. A store from before it is made here as it was (nodes without
// up_until, node_hours filled from every node record, no views from the other evidence), then migrated.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaSql, type DdlTarget } from '../../../collector/core/schema/ddl.ts';
import { uptimeEvidenceSql } from '../../../collector/core/schema/migrations/008-uptime-evidence.ts';
import { migrate, migrationsTableSql } from '../../../collector/core/schema/migrations/index.ts';
import { openTestStore, type TestStore } from '../../helpers/store.ts';

let t: TestStore;
beforeAll(async () => {
  t = await openTestStore();
});
afterAll(async () => t?.close());

const NEW_VIEWS = [
  'node_hours_from_server_mv',
  'node_hours_from_states_mv',
  'node_hours_from_requests_mv',
  'chargeback_inputs_server_mv',
  'chargeback_inputs_request_ends_mv',
  'chargeback_inputs_events_mv',
];

/** What the migration changes, as the engine describes it (database names taken out). */
async function shape(db: string) {
  const columns = await t.store.queryRows<{ name: string; type: string; codec: string; comment: string }>(
    `SELECT name, type, compression_codec AS codec, comment FROM system.columns WHERE database = {db:String} AND table = 'nodes' ORDER BY position`,
    { db },
  );
  const views = await t.store.queryRows<{ name: string; q: string }>(
    `SELECT name, replaceAll(as_select, {db:String}, 'DB') AS q FROM system.tables WHERE database = {db:String} AND (name LIKE 'node_hours_from_%' OR name LIKE 'chargeback_inputs_%_mv') ORDER BY name`,
    { db },
  );
  return { columns, views };
}

describe('migration 8: up-time from evidence', () => {
  it('brings a store from before it to what a fresh store has, keeping its rows and its up-time so far', async () => {
    const target: DdlTarget = { ...t.store.ddlTarget(), database: 'llmeter_v7' };
    await t.store.command(`CREATE DATABASE IF NOT EXISTS ${target.database}`);
    for (const sql of schemaSql(target)) await t.store.command(sql);
    // Back to version 7: the column and views it adds gone, node_hours fed by every node record.
    for (const v of NEW_VIEWS) await t.store.command(`DROP TABLE llmeter_v7.${v}`);
    await t.store.command(
      `ALTER TABLE llmeter_v7.node_hours_from_nodes_mv MODIFY QUERY SELECT toStartOfHour(ts) AS hour, node, groupBitOr(bitShiftLeft(toUInt64(1), toMinute(ts))) AS minutes FROM llmeter_v7.nodes GROUP BY hour, node`,
    );
    await t.store.command('ALTER TABLE llmeter_v7.nodes DROP COLUMN up_until');
    await t.store.command(migrationsTableSql(target));
    await t.store.insert(
      'llmeter_v7.schema_migrations',
      [1, 2, 3, 4, 5, 6, 7].map((version) => ({ version, name: `v${version}`, checksum: '' })),
    );
    await t.store.command(`INSERT INTO llmeter_v7.nodes (ts, node, instance_type) VALUES ('2026-03-01 10:05:00.000', 'old-node', 'g5.xlarge')`);
    expect(await t.store.queryRows('SELECT node, bitCount(groupBitOr(minutes)) AS n FROM llmeter_v7.node_hours GROUP BY node')).toEqual([
      { node: 'old-node', n: 1 },
    ]);

    const r = await migrate(t.store, target);
    expect(r.applied.map((a) => a.version)).toEqual([8]);
    expect(await shape('llmeter_v7')).toEqual(await shape('llmeter'));
    // The hour measured before keeps its up-time; a listing from now on adds none, an observation of
    // the node up adds the minutes it stands for.
    await t.store.command(
      `INSERT INTO llmeter_v7.nodes (ts, node, instance_type, up_until) VALUES ('2026-03-01 11:00:00.000', 'old-node', 'g5.xlarge', NULL), ('2026-03-01 12:00:00.000', 'old-node', 'g5.xlarge', '2026-03-01 12:10:00.000')`,
    );
    expect(await t.store.queryRows('SELECT toString(hour) AS h, bitCount(groupBitOr(minutes)) AS n FROM llmeter_v7.node_hours GROUP BY h ORDER BY h')).toEqual([
      { h: '2026-03-01 10:00:00', n: 1 },
      { h: '2026-03-01 12:00:00', n: 10 },
    ]);

    // Idempotent, even outside the bookkeeping (a migration stopped half-way).
    expect((await migrate(t.store, target)).applied).toEqual([]);
    for (const sql of uptimeEvidenceSql(target)) await t.store.command(sql);
    expect(await shape('llmeter_v7')).toEqual(await shape('llmeter'));
  });

  it('alters the local tables and views on a cluster', () => {
    const stmts = uptimeEvidenceSql({ ...t.store.ddlTarget(), cluster: 'fleet' });
    expect(stmts[0]).toMatch(/^ALTER TABLE `llmeter`\.`nodes_local` ON CLUSTER `fleet` ADD COLUMN IF NOT EXISTS `up_until` Nullable/);
    expect(stmts[1]).toBe("ALTER TABLE `llmeter`.`nodes` ON CLUSTER `fleet` ADD COLUMN IF NOT EXISTS `up_until` Nullable(DateTime64(3, 'UTC'))");
    expect(stmts[2]).toMatch(/^ALTER TABLE `llmeter`\.`node_hours_from_nodes_mv` ON CLUSTER `fleet` MODIFY QUERY SELECT .*\sFROM `llmeter`\.`nodes_local`\s/s);
    expect(stmts.slice(3)).toHaveLength(NEW_VIEWS.length);
    for (const s of stmts.slice(3)) expect(s).toMatch(/^CREATE MATERIALIZED VIEW IF NOT EXISTS .* ON CLUSTER `fleet` TO `llmeter`\.`\w+_local`/s);
  });
});
