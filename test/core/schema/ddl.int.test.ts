// The ClickHouse server path: DDL generated from the one table definition, for a single server and
// for a cluster. No ClickHouse server runs here, so the statements are checked as generated SQL and
// parsed by the real ClickHouse parser (chDB's formatQuery), which rejects anything a server would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaSql, ttlSql, type DdlTarget } from '../../../collector/core/schema/ddl.ts';
import { migrationsTableSql } from '../../../collector/core/schema/migrations/index.ts';
import { ALL_TABLES } from '../../../collector/core/schema/tables.ts';
import { openTestStore, type TestStore } from '../../helpers/store.ts';

const single: DdlTarget = { database: 'llmeter', rawTtlDays: 90, referenceTtlDays: 730, rollupTtlDays: 365 };
const cluster: DdlTarget = { ...single, cluster: 'fleet' };

let t: TestStore;
beforeAll(async () => {
  t = await openTestStore();
});
afterAll(async () => t?.close());

async function parses(sql: string): Promise<string> {
  const rows = await t.store.queryRows<{ f: string }>('SELECT formatQuery({q:String}) AS f', { q: sql });
  return rows[0]!.f;
}

describe('generated DDL', () => {
  it('single server: MergeTree family, no ON CLUSTER, no Distributed', async () => {
    const stmts = schemaSql(single);
    expect(stmts.some((s) => /ON CLUSTER|Replicated|Distributed/.test(s))).toBe(false);
    for (const s of stmts) await parses(s);
    const req = stmts.find((s) => s.includes('`llmeter`.`llm_requests`'))!;
    expect(req).toMatch(/ENGINE = MergeTree\(\)\nPARTITION BY toYYYYMM\(ts\)\nORDER BY \(tenant, model, ts\)\nTTL toDateTime\(ts\) \+ INTERVAL 90 DAY/);
    expect(req).toContain('non_replicated_deduplication_window = 1000');
    const prices = stmts.find((s) => s.includes('`llmeter`.`price_points`'))!;
    expect(prices).toContain('ENGINE = ReplacingMergeTree(observed_at)');
    expect(prices).toContain('`usd_per_hour` Decimal(18, 9)');
  });

  it('cluster: ReplicatedMergeTree local tables ON CLUSTER, Distributed tables over them, views on the local tables', async () => {
    const stmts = schemaSql(cluster);
    for (const s of stmts) await parses(s);
    for (const tbl of ALL_TABLES) {
      const local = stmts.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS \`llmeter\`.\`${tbl.name}_local\` ON CLUSTER \`fleet\``));
      expect(local, tbl.name).toBeDefined();
      expect(local).toContain(
        `Replicated${tbl.engine.kind === 'replacing' ? 'Replacing' : ''}MergeTree('/clickhouse/tables/{shard}/llmeter/${tbl.name}_local', '{replica}'`,
      );
      const dist = stmts.find((s) =>
        s.startsWith(`CREATE TABLE IF NOT EXISTS \`llmeter\`.\`${tbl.name}\` ON CLUSTER \`fleet\` AS \`llmeter\`.\`${tbl.name}_local\``),
      );
      expect(dist, tbl.name).toContain(`ENGINE = Distributed(\`fleet\`, \`llmeter\`, \`${tbl.name}_local\`, ${tbl.shardingKey})`);
    }
    const mv = stmts.find((s) => s.includes('llm_requests_hourly_mv'))!;
    expect(mv).toContain('TO `llmeter`.`llm_requests_hourly_local`');
    expect(mv).toContain('FROM `llmeter`.`llm_requests_local`');
    expect(stmts.some((s) => s.includes("ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/llmeter/llm_requests_hourly_local'"))).toBe(true);
    await parses(migrationsTableSql(cluster));
    for (const s of ttlSql(cluster)) await parses(s);
  });

  it('the single-server DDL is exactly what the embedded store runs', async () => {
    const created = await t.store.queryRows<{ name: string; engine: string }>(`SELECT name, engine FROM system.tables WHERE database = {db:String}`, {
      db: t.store.database,
    });
    const engines = Object.fromEntries(created.map((r) => [r.name, r.engine]));
    for (const tbl of ALL_TABLES) expect(engines[tbl.name]).toBe(tbl.engine.kind === 'replacing' ? 'ReplacingMergeTree' : 'MergeTree');
  });
});
