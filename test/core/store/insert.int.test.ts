// The embedded store's insert: Native blocks written to a file the engine reads, removed afterwards;
// the statement for a server, which reads them from the request body.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyInsertError } from '../../../collector/core/store/errors.ts';
import { nativeInsertSql } from '../../../collector/core/store/insert-sql.ts';
import { NativeCodec } from '../../../collector/core/store/native-blocks.ts';
import { insertDirFor } from '../../../collector/core/store/store.ts';
import { openTestStore, tempDir, type TestStore } from '../../helpers/store.ts';

let t: TestStore;
beforeAll(async () => {
  t = await openTestStore();
  await t.store.command(
    "CREATE TABLE samples (ts DateTime64(3, 'UTC'), host LowCardinality(String), dev String, field LowCardinality(String), value Float64, labels Map(String, String)) " +
      'ENGINE = MergeTree ORDER BY (host, dev, field, ts) SETTINGS non_replicated_deduplication_window = 100',
  );
});
afterAll(async () => t?.close());

const COLUMNS = ['ts', 'host', 'dev', 'field', 'value', 'labels'];
// Strings that would break a careless encoding: quotes, backslashes, a heredoc marker, non-ASCII, a newline.
const HOST = 'node "a" \\ $$ é\n1';

function gpuRows(ts: string, devices: number, fields: number): unknown[][] {
  const rows: unknown[][] = [];
  for (let d = 0; d < devices; d++)
    for (let f = 0; f < fields; f++) rows.push([ts, HOST, `GPU-${d}`, `f${f}`, d * 100 + f + 0.5, f === 0 ? { k: `v${d}` } : {}]);
  return rows;
}

async function stored(ts: string): Promise<unknown[][]> {
  const rows = await t.store.queryRows<{ host: string; dev: string; field: string; value: number; labels: Record<string, string> }>(
    `SELECT host, dev, field, value, labels FROM samples WHERE ts = {ts:DateTime64(3, 'UTC')} ORDER BY dev, field`,
    { ts },
  );
  return rows.map((r) => [r.host, r.dev, r.field, r.value, r.labels]);
}

const insertFiles = () => readdirSync(path.join(t.store.dataDir!, 'inserts', String(process.pid)));

describe('insert statements', () => {
  it('quote settings and file names, and refuse names that are not plain identifiers', () => {
    expect(nativeInsertSql('samples', ['a'], { file: "/d/it's.native" }, { insert_deduplication_token: "it's", insert_deduplicate: 1 })).toBe(
      "INSERT INTO `samples` (a) SETTINGS insert_deduplication_token = 'it\\'s', insert_deduplicate = 1 SELECT a FROM file('/d/it\\'s.native', Native)",
    );
    expect(() => nativeInsertSql('samples; DROP TABLE x', ['a'], 'request body')).toThrow(/not a plain identifier/);
    expect(() => nativeInsertSql('samples', ['a'], 'request body', { 'x; DROP': 1 })).toThrow(/not a plain identifier/);
  });
});

describe('embedded insert', () => {
  it('stores rows exactly as sent, awkward strings and maps included, and leaves no file behind', async () => {
    const ts = '2026-11-01 00:00:15.000';
    const rows = gpuRows(ts, 3, 5);
    await t.store.insertRows('samples', rows, undefined, COLUMNS);
    expect(await stored(ts)).toEqual(rows.map((r) => r.slice(1)));
    expect(insertFiles()).toEqual([]);
  });

  it('a batch retried with its deduplication token is stored once', async () => {
    const ts = '2026-11-01 00:00:45.000';
    const rows = gpuRows(ts, 4, 4);
    for (let i = 0; i < 2; i++) await t.store.insertRows('samples', rows, { insert_deduplicate: 1, insert_deduplication_token: 'batch-1' }, COLUMNS);
    expect(await stored(ts)).toHaveLength(16);
  });

  it('refuses a value of the wrong type before anything is written, naming the column', async () => {
    await expect(t.store.insertRows('samples', [['2026-11-01 00:01:00.000', 7, 'd', 'f', 1, {}]], undefined, COLUMNS)).rejects.toThrow(
      /column host: expected a string, got number/,
    );
    await expect(t.store.insertRows('samples', [['2026-11-01 00:01:00.000', 'h', 'd', 'f', '1', {}]], undefined, COLUMNS)).rejects.toThrow(
      /column value: expected a number, got string/,
    );
    await expect(t.store.insertRows('samples', [['2026-11-01 00:01:00.000', 'h', null, 'f', 1, {}]], undefined, COLUMNS)).rejects.toThrow(
      /column dev: expected a string, got null/,
    );
    expect(insertFiles()).toEqual([]);
  });

  it("passes on the engine's error for a block it cannot convert, and removes the file", async () => {
    // A block whose `value` is text: the engine converts String to Float64 and fails on this one.
    const codec = new NativeCodec(COLUMNS, ["DateTime64(3, 'UTC')", 'String', 'String', 'String', 'String', 'Map(String, String)']);
    const err = await t.store
      .insertBlocks('samples', codec.encode([['2026-11-01 00:01:00.000', 'h', 'd', 'f', 'not a number', {}]]), COLUMNS)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ clickhouseCode: expect.any(Number) });
    expect(String((err as Error).message)).toMatch(/converting column "value" from type String to type Float64/);
    expect(classifyInsertError(err)).toBe('bad_data');
    expect(insertFiles()).toEqual([]);
  });

  it('clears insert files a dead process left behind and never those of a live one', () => {
    const data = tempDir();
    const dead = path.join(data, 'inserts', '999999999');
    const live = path.join(data, 'inserts', String(process.ppid));
    for (const d of [dead, live]) {
      mkdirSync(d, { recursive: true });
      writeFileSync(path.join(d, '1.native'), '');
    }
    const own = insertDirFor(data);
    expect(own).toBe(path.join(data, 'inserts', String(process.pid)));
    expect(readdirSync(path.join(data, 'inserts')).sort()).toEqual([String(process.pid), String(process.ppid)].sort());
    expect(readdirSync(live)).toEqual(['1.native']);
  });

  it('names a column the table lacks', async () => {
    await expect(t.store.insertRows('samples', [['x']], undefined, ['nope'])).rejects.toThrow(/insert into samples: no column nope/);
  });
});
