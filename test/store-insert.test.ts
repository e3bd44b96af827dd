// The embedded store's insert: rows written to a file the engine reads, packed into arrays where a
// table declares columns that vary within runs of otherwise equal rows.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareInsert } from '../collector/store/embedded-insert.ts';
import { insertDirFor } from '../collector/store/store.ts';
import { openTestStore, tempDir, type TestStore } from './helpers/store.ts';

let t: TestStore;
beforeAll(async () => {
  t = await openTestStore();
  await t.store.command(
    'CREATE TABLE samples (ts DateTime64(3, \'UTC\'), host LowCardinality(String), dev String, field LowCardinality(String), value Float64, labels Map(String, String)) ' +
      'ENGINE = MergeTree ORDER BY (host, dev, field, ts) SETTINGS non_replicated_deduplication_window = 100',
  );
});
afterAll(async () => t?.close());

const COLUMNS = ['ts', 'host', 'dev', 'field', 'value', 'labels'];
const PACK = ['field', 'value', 'labels'];
// Strings that would break a careless encoding: quotes, backslashes, a heredoc marker, non-ASCII, a newline.
const HOST = 'node "a" \\ $$ é\n1';

function gpuRows(ts: string, devices: number, fields: number): unknown[][] {
  const rows: unknown[][] = [];
  for (let d = 0; d < devices; d++) for (let f = 0; f < fields; f++) rows.push([ts, HOST, `GPU-${d}`, `f${f}`, d * 100 + f + 0.5, f === 0 ? { k: `v${d}` } : {}]);
  return rows;
}

async function stored(ts: string): Promise<unknown[][]> {
  const rows = await t.store.queryRows<{ host: string; dev: string; field: string; value: number; labels: Record<string, string> }>(
    `SELECT host, dev, field, value, labels FROM samples WHERE ts = {ts:DateTime64(3, 'UTC')} ORDER BY dev, field`,
    { ts },
  );
  return rows.map((r) => [r.host, r.dev, r.field, r.value, r.labels]);
}

describe('embedded insert', () => {
  it('packs runs of rows that differ only in the packed columns, one line per run', () => {
    const p = prepareInsert('db.samples', { columns: COLUMNS, types: COLUMNS.map(() => 'String'), pack: PACK }, gpuRows('2026-11-01 00:00:00.000', 3, 4));
    expect(Buffer.concat(p.data).toString().trimEnd().split('\n')).toHaveLength(3);
    expect(p.statement('/x/1.ndjson')).toMatch(/ARRAY JOIN __packed_field AS field, __packed_value AS value, __packed_labels AS labels$/);
  });

  it('sends rows flat when runs average under two rows, and when the table packs nothing', () => {
    const alternating = gpuRows('2026-11-01 00:00:00.000', 4, 1);
    const p = prepareInsert('samples', { columns: COLUMNS, types: COLUMNS.map(() => 'String'), pack: PACK }, alternating);
    expect(Buffer.concat(p.data).toString().trimEnd().split('\n')).toHaveLength(4);
    expect(p.statement('/x/1.ndjson')).not.toMatch(/ARRAY JOIN/);
    const q = prepareInsert('samples', { columns: COLUMNS, types: COLUMNS.map(() => 'String') }, gpuRows('2026-11-01 00:00:00.000', 1, 4));
    expect(Buffer.concat(q.data).toString().trimEnd().split('\n')).toHaveLength(4);
  });

  it('quotes settings and file names, and refuses names that are not plain identifiers', () => {
    const p = prepareInsert('samples', { columns: ['a'], types: ['String'] }, [['x']], { insert_deduplication_token: "it's", insert_deduplicate: 1 });
    expect(p.statement("/d/it's.ndjson")).toContain("SETTINGS insert_deduplication_token = 'it\\'s', insert_deduplicate = 1 SELECT a FROM file('/d/it\\'s.ndjson'");
    expect(() => prepareInsert('samples; DROP TABLE x', { columns: ['a'], types: ['String'] }, [['x']])).toThrow(/not a plain identifier/);
    expect(() => prepareInsert('samples', { columns: ['a'], types: ['String'], pack: ['b'] }, [['x']])).toThrow(/packed column b/);
  });

  it('stores packed rows exactly as sent, awkward strings and maps included, and leaves no file behind', async () => {
    const ts = '2026-11-01 00:00:15.000';
    const rows = gpuRows(ts, 3, 5);
    await t.store.insertRows('samples', rows, undefined, { columns: COLUMNS, pack: PACK });
    expect(await stored(ts)).toEqual(rows.map((r) => r.slice(1)));
    expect(readdirSync(path.join(t.store.dataDir!, 'inserts', String(process.pid)))).toEqual([]);
  });

  it('stores a batch mixing long runs and single rows in order', async () => {
    const ts = '2026-11-01 00:00:30.000';
    const rows = [...gpuRows(ts, 2, 6), [ts, 'other', 'GPU-x', 'only', 1, {}], ...gpuRows(ts, 1, 3).map((r) => [r[0], r[1], 'GPU-z', ...r.slice(3)])];
    await t.store.insertRows('samples', rows, undefined, { columns: COLUMNS, pack: PACK });
    const expected = rows.map((r) => r.slice(1)).sort((a, b) => String(a[1]).localeCompare(String(b[1])) || String(a[2]).localeCompare(String(b[2])));
    expect(await stored(ts)).toEqual(expected);
  });

  it('a packed batch retried with its deduplication token is stored once', async () => {
    const ts = '2026-11-01 00:00:45.000';
    const rows = gpuRows(ts, 4, 4);
    for (let i = 0; i < 2; i++) await t.store.insertRows('samples', rows, { insert_deduplicate: 1, insert_deduplication_token: 'packed-1' }, { columns: COLUMNS, pack: PACK });
    expect(await stored(ts)).toHaveLength(16);
  });

  it('rejects a bad value with the engine\'s parse error and removes the file', async () => {
    const err = await t.store.insertRows('samples', [['2026-11-01 00:01:00.000', 'h', 'd', 'f', 'not a number', {}]], undefined, { columns: COLUMNS, pack: PACK }).catch((e: unknown) => e);
    expect(err).toMatchObject({ clickhouseCode: expect.any(Number) });
    expect(String((err as Error).message)).toMatch(/value/);
    expect(readdirSync(path.join(t.store.dataDir!, 'inserts', String(process.pid)))).toEqual([]);
  });

  it('clears insert files a dead process left behind and never those of a live one', () => {
    const data = tempDir();
    const dead = path.join(data, 'inserts', '999999999');
    const live = path.join(data, 'inserts', String(process.ppid));
    for (const d of [dead, live]) {
      mkdirSync(d, { recursive: true });
      writeFileSync(path.join(d, '1.ndjson'), '[]\n');
    }
    const own = insertDirFor(data);
    expect(own).toBe(path.join(data, 'inserts', String(process.pid)));
    expect(readdirSync(path.join(data, 'inserts')).sort()).toEqual([String(process.pid), String(process.ppid)].sort());
    expect(readdirSync(live)).toEqual(['1.ndjson']);
  });

  it('names a column the table lacks', async () => {
    await expect(t.store.insertRows('samples', [['x']], undefined, { columns: ['nope'] })).rejects.toThrow(/insert into samples: no column nope/);
  });
});
