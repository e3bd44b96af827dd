// Rows as insert lines, packed into arrays where a table declares columns that vary within runs of
// otherwise equal rows, and the embedded store's insert: the lines written to a file the engine reads.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertSelectSql } from '../collector/store/insert-sql.ts';
import { RowCodec, RowLines } from '../collector/store/row-lines.ts';
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

describe('rows as lines', () => {
  const packed = new RowCodec(COLUMNS, PACK);

  it('packs runs of rows that differ only in the packed columns, one line per run, and reads them back', () => {
    const rows = gpuRows('2026-11-01 00:00:00.000', 3, 4);
    const lines = packed.encode(rows);
    expect(lines.lineCount).toBe(3);
    expect(lines.runs).toEqual([4, 4, 4]);
    expect(lines.count).toBe(12);
    expect(packed.decode(lines)).toEqual(rows);
    expect(Buffer.concat(lines.chunks).toString()).toBe(lines.lines().join('\n') + '\n');
  });

  it('keeps a run of one as a line of one-element arrays, and a flat table one row per line', () => {
    const alternating = gpuRows('2026-11-01 00:00:00.000', 4, 1);
    const lines = packed.encode(alternating);
    expect(lines.runs).toEqual([1, 1, 1, 1]);
    expect(packed.decode(lines)).toEqual(alternating);
    const flat = new RowCodec(COLUMNS);
    const f = flat.encode(gpuRows('2026-11-01 00:00:00.000', 1, 4));
    expect(f.runs).toBeUndefined();
    expect(f.lines().map((l) => JSON.parse(l) as unknown)).toEqual(gpuRows('2026-11-01 00:00:00.000', 1, 4));
  });

  it('splits a packed line into one line per row, so a refused run can be retried row by row', () => {
    const rows = gpuRows('2026-11-01 00:00:00.000', 1, 3);
    const one = packed.encode(rows);
    const split = packed.splitLine(one.lines()[0]!);
    expect(split.lineCount).toBe(3);
    expect(split.count).toBe(3);
    expect(split.lines().map((l) => packed.decodeLine(l))).toEqual(rows.map((r) => [r]));
    expect(split.slice(1).count).toBe(2);
  });

  it('slices lines across the buffers of joined parts, sharing their memory, and counts packed rows by run', () => {
    const flat = new RowCodec(COLUMNS);
    const rows = Array.from({ length: 30 }, (_, i) => ['2026-11-01 00:00:00.000', HOST, `GPU-${i}`, 'f', i, {}]);
    const joined = RowLines.concat([flat.encode(rows.slice(0, 10)), flat.encode(rows.slice(10, 25)), flat.encode(rows.slice(25))]);
    expect(joined.chunks).toHaveLength(3);
    expect(joined.count).toBe(30);
    for (const [from, to] of [[0, 30], [3, 7], [8, 12], [9, 26], [25, 30], [29, 30], [12, 12]] as const) {
      const part = joined.slice(from, to);
      expect(part.count).toBe(to - from);
      expect(flat.decode(part)).toEqual(rows.slice(from, to));
      for (const c of part.chunks) expect(c.at(-1)).toBe(10);
    }
    expect(joined.slice(4).chunks[0]!.buffer).toBe(joined.chunks[0]!.buffer);
    const many = RowLines.concat(rows.map((r) => flat.encode([r])).concat(rows.map((r) => flat.encode([r])), rows.map((r) => flat.encode([r]))));
    expect(many.chunks).toHaveLength(90);
    const one = many.compacted();
    expect(one.chunks).toHaveLength(1);
    expect(flat.decode(one)).toEqual(flat.decode(many));
    expect(joined.compacted()).toBe(joined);
    // A whole batch read back as lines (a spill, a refused batch) in one chunk.
    const big = flat.encode(Array.from({ length: 300_000 }, (_, i) => [i]));
    expect(big.lines()).toHaveLength(300_000);
    const runs = packed.encode([...gpuRows('2026-11-01 00:00:00.000', 2, 3), ...gpuRows('2026-11-01 00:00:15.000', 1, 5)]);
    expect(runs.runs).toEqual([3, 3, 5]);
    expect([runs.linesFor(1), runs.linesFor(3), runs.linesFor(4), runs.linesFor(100)]).toEqual([1, 1, 2, 3]);
    expect(runs.slice(1).count).toBe(8);
  });
});

describe('insert statements', () => {
  it('reads a file on the embedded engine and the request body on a server, packed runs expanded by ARRAY JOIN', () => {
    const codec = new RowCodec(COLUMNS, PACK);
    const types = ['DateTime64(3)', 'String', 'String', 'String', 'Float64', 'Map(String, String)'];
    const file = insertSelectSql('db.samples', codec, types, { file: '/x/1.ndjson' });
    expect(file).toBe(
      "INSERT INTO `db`.`samples` (ts, host, dev, field, value, labels) SELECT ts, host, dev, field, value, labels FROM file('/x/1.ndjson', JSONCompactEachRow, " +
        "'ts DateTime64(3), host String, dev String, __packed_field Array(String), __packed_value Array(Float64), __packed_labels Array(Map(String, String))') " +
        'ARRAY JOIN __packed_field AS field, __packed_value AS value, __packed_labels AS labels',
    );
    expect(insertSelectSql('samples', new RowCodec(['a']), ['String'], 'request body')).toBe("INSERT INTO `samples` (a) SELECT a FROM input('a String') FORMAT JSONCompactEachRow");
  });

  it('quotes settings and file names, and refuses names that are not plain identifiers', () => {
    const a = new RowCodec(['a']);
    expect(insertSelectSql('samples', a, ['String'], { file: "/d/it's.ndjson" }, { insert_deduplication_token: "it's", insert_deduplicate: 1 })).toContain(
      "SETTINGS insert_deduplication_token = 'it\\'s', insert_deduplicate = 1 SELECT a FROM file('/d/it\\'s.ndjson'",
    );
    expect(() => insertSelectSql('samples; DROP TABLE x', a, ['String'], 'request body')).toThrow(/not a plain identifier/);
    expect(() => new RowCodec(['a'], ['b'])).toThrow(/packed column b/);
  });
});

describe('embedded insert', () => {
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
