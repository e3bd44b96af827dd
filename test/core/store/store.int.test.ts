import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore, type TestStore } from '../../helpers/store.ts';

let t: TestStore;
beforeAll(async () => {
  t = await openTestStore();
});
afterAll(async () => t?.close());

describe('embedded store', () => {
  it('per-request settings do not leak into later requests (a dedup token used once is not reused)', async () => {
    await t.store.command('CREATE TABLE leak (a UInt32) ENGINE = MergeTree ORDER BY a SETTINGS non_replicated_deduplication_window = 100');
    await t.store.insert('leak', [{ a: 1 }], { insert_deduplication_token: 'T1' });
    await t.store.insert('leak', [{ a: 2 }]);
    await t.store.insert('leak', [{ a: 3 }], { insert_deduplication_token: 'T2' });
    await t.store.insert('leak', [{ a: 4 }], { insert_deduplication_token: 'T1' });
    const rows = await t.store.queryRows<{ a: number }>('SELECT a FROM leak ORDER BY a');
    expect(rows.map((r) => r.a)).toEqual([1, 2, 3]);
    const s = await t.store.queryRows<{ tok: string }>("SELECT getSetting('insert_deduplication_token') AS tok");
    expect(s[0]!.tok).toBe('');
  });

  it('refuses readonly per request in embedded mode rather than locking the session', async () => {
    await expect(t.store.queryRows('SELECT 1', undefined, { readonly: '2' })).rejects.toThrow(/readonly cannot be set per request/);
    await t.store.command('CREATE TABLE still_writable (a UInt8) ENGINE = Memory');
  });

  it('a query that fails part-way through its output leaves nothing in the next answer', async () => {
    const tooMany = "SELECT number FROM numbers(2000000) SETTINGS max_result_rows = 1000000, result_overflow_mode = 'throw'";
    await expect(t.store.queryText(tooMany, 'TabSeparated')).rejects.toThrow(/Limit for result exceeded/);
    expect(await t.store.queryRows('SELECT 42 AS x')).toEqual([{ x: 42 }]);
    await expect(t.store.queryRows(tooMany)).rejects.toThrow(/Limit for result exceeded/);
    expect(await t.store.queryText('SELECT 43 AS x', 'TabSeparated')).toBe('43\n');
  });

  it('returns decimals and 64-bit integers as strings, never floats', async () => {
    const r = await t.store.queryRows<{ d: string; big: string }>("SELECT toDecimal64('0.123456789', 9) AS d, toUInt64(9007199254740993) AS big");
    expect(r[0]).toEqual({ d: '0.123456789', big: '9007199254740993' });
  });
});
