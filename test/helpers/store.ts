// Test helpers: a real embedded ClickHouse (chDB) in a temporary directory, migrated. chDB binds one
// data directory per process and vitest runs each test file in its own process, so each file opens
// one store and shares it between its tests.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configSchema, type Config } from '../../collector/app/config-schema.ts';
import { migrate } from '../../collector/core/schema/migrations/index.ts';
import { openStore, type Store } from '../../collector/core/store/store.ts';

export function tempDir(prefix = 'llmeter-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A validated configuration with an isolated data directory; `patch` is a partial raw config. */
export function testConfig(patch: Record<string, unknown> = {}, dataDir = tempDir()): Config {
  const raw = structuredClone(patch) as Record<string, Record<string, unknown>>;
  // Fixtures carry fixed dates and the raw retention refuses records older than it, so tests keep raw
  // rows forever unless a test sets ttl_days itself; prices, events, nodes and rollups keep the
  // retention a user gets.
  raw.store = { data_dir: dataDir, ttl_days: { raw: 0 }, ...(raw.store ?? {}) };
  raw.http = { listen: '127.0.0.1:0', ...(raw.http ?? {}) };
  return configSchema.parse(raw);
}

export interface TestStore {
  store: Store;
  config: Config;
  close(): Promise<void>;
}

export async function openTestStore(patch: Record<string, unknown> = {}): Promise<TestStore> {
  const config = testConfig(patch);
  const store = await openStore(config.store);
  await migrate(store, store.ddlTarget());
  return {
    store,
    config,
    async close() {
      await store.close();
      rmSync(config.store.data_dir, { recursive: true, force: true });
    },
  };
}

/** Number of rows in a table (FINAL for replacing tables is up to the caller's SQL). */
export async function count(store: Store, sql: string): Promise<number> {
  const rows = await store.queryRows<{ n: string | number }>(`SELECT count() AS n FROM ${sql}`);
  return Number(rows[0]?.n ?? 0);
}
