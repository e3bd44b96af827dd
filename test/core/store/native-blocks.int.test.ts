// Rows as ClickHouse Native blocks: every column type the record tables use, read back by the codec
// and by the engine, and blocks joined and cut at any row without being decoded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeInsertSql } from '../../../collector/core/store/insert-sql.ts';
import { NativeBlocks, NativeCodec } from '../../../collector/core/store/native-blocks.ts';
import { openTestStore, type TestStore } from '../../helpers/store.ts';

// One column of each type the schema declares (collector/core/schema/columns.ts).
const TYPES: Record<string, string> = {
  ts: "DateTime64(3, 'UTC')",
  host: 'LowCardinality(String)',
  note: 'String',
  ok: 'Bool',
  small: 'UInt8',
  port: 'UInt16',
  tokens: 'UInt32',
  ns: 'UInt64',
  delta: 'Int64',
  value: 'Float64',
  ttft: 'Nullable(Float64)',
  ended: "Nullable(DateTime64(3, 'UTC'))",
  usd: 'Decimal(18, 9)',
  labels: 'Map(LowCardinality(String), String)',
};
const COLUMNS = Object.keys(TYPES);
const codec = new NativeCodec(COLUMNS, Object.values(TYPES));

// Strings that would break a careless encoding: quotes, a backslash, a newline, non-ASCII (two-,
// three- and four-byte UTF-8), and lengths either side of the one-byte length prefix.
const NOTES = [
  '',
  'plain',
  'quote " back \\ nl \n tab \t',
  'é'.repeat(42),
  '字'.repeat(43),
  '🚀'.repeat(30),
  'x'.repeat(127),
  'y'.repeat(128),
  'z'.repeat(5000),
];

function row(i: number): unknown[] {
  return [
    `2026-11-0${1 + (i % 3)} 0${i % 10}:00:0${i % 7}.${String(i % 1000).padStart(3, '0')}`,
    `node-${i % 4}`,
    NOTES[i % NOTES.length],
    i % 2 === 0,
    i % 256,
    (i * 7) % 65536,
    (i * 2654435761) % 4294967296,
    i % 5 === 0 ? Number.MAX_SAFE_INTEGER - i : i * 1_000_000_007,
    i % 2 === 0 ? -(i + 1) * 1_000_000_000_007 : i,
    i % 3 === 0 ? -(i + 1) / 7 : i * 0.1,
    i % 4 === 0 ? null : i / 3,
    i % 3 === 1 ? null : `2026-12-01 12:00:00.${String(i % 1000).padStart(3, '0')}`,
    i % 4 === 0 ? '0' : i % 4 === 1 ? `-${i}.000000001` : i % 4 === 2 ? '999999999.999999999' : `${i}.5`,
    i % 3 === 0 ? {} : Object.fromEntries(Array.from({ length: 1 + (i % 4) }, (_, k) => [`k${k}`, `v${i}-${k} "é"`])),
  ];
}
const ROWS = Array.from({ length: 40 }, (_, i) => row(i));

/** The row as the codec decodes it: times as epoch milliseconds, money without trailing zeros. */
function canonical(r: readonly unknown[]): unknown[] {
  const out = [...r];
  for (const c of ['ts', 'ended']) {
    const v = out[COLUMNS.indexOf(c)];
    if (typeof v === 'string') out[COLUMNS.indexOf(c)] = Date.parse(v.replace(' ', 'T') + 'Z');
  }
  const usd = COLUMNS.indexOf('usd');
  out[usd] = String(out[usd]).replace(/^(-?\d+)\.?(\d*?)0*$/, (_, w: string, f: string) => (f ? `${w}.${f}` : w));
  return out;
}

describe('Native blocks', () => {
  it('encode and decode every column type the record tables use', () => {
    const blocks = codec.encode(ROWS);
    expect(blocks.blockCount).toBe(1);
    expect(blocks.count).toBe(ROWS.length);
    expect(codec.decode(blocks)).toEqual(ROWS.map(canonical));
  });

  it('halves blocks between blocks, or a single block at its middle row, without changing a row', () => {
    const many = NativeBlocks.concat([codec.encode(ROWS.slice(0, 7)), codec.encode(ROWS.slice(7, 8)), codec.encode(ROWS.slice(8))]);
    const [a, b] = codec.halve(many);
    expect([a.blockCount, b.blockCount, a.count, b.count]).toEqual([1, 2, 7, 33]);
    // One block narrowed down to single rows, as a refused batch is: every piece decodes to its rows.
    const pieces: NativeBlocks[] = [];
    const narrow = (blocks: NativeBlocks): void => {
      if (blocks.count <= 1) return void pieces.push(blocks);
      for (const half of codec.halve(blocks)) narrow(half);
    };
    narrow(codec.encode(ROWS));
    expect(pieces.map((p) => p.count)).toEqual(ROWS.map(() => 1));
    expect(pieces.flatMap((p) => codec.decode(p))).toEqual(ROWS.map(canonical));
    // Large submits are encoded a few thousand rows a block.
    const many10k = Array.from({ length: 10_000 }, (_, i) => row(i));
    const big = codec.encode(many10k);
    expect(big.blocks.map((x) => x.rows)).toEqual([4096, 4096, 1808]);
    expect(codec.decode(big)).toEqual(many10k.map(canonical));
  });

  it('indexes a LowCardinality column with two bytes once its dictionary outgrows one', () => {
    const rows = Array.from({ length: 600 }, (_, i) => {
      const r = row(i);
      r[COLUMNS.indexOf('host')] = `host-${i % 300}`;
      return r;
    });
    const blocks = codec.encode(rows);
    expect(blocks.blocks[0]!.dicts[COLUMNS.indexOf('host')]).toHaveLength(301);
    expect(codec.decode(blocks)).toEqual(rows.map(canonical));
    const [head, tail] = codec.halve(blocks);
    expect([...codec.decode(head), ...codec.decode(tail)]).toEqual(rows.map(canonical));
    expect(() => codec.encode([[...rows[0]!.slice(0, 1), 7, ...rows[0]!.slice(2)]])).toThrow(/column host: expected a string, got number/);
  });

  it('refuses a column type it has no encoding for, naming it', () => {
    expect(() => new NativeCodec(['a'], ['Array(String)'])).toThrow(/no Native encoding for column type Array\(String\)/);
    expect(() => new NativeCodec(['a'], ['Nullable(String)'])).toThrow(/Nullable\(String\)/);
  });
});

describe('Native blocks into ClickHouse', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore();
    for (const name of ['native_rows', 'json_rows']) {
      await t.store.command(`CREATE TABLE ${name} (${COLUMNS.map((c) => `${c} ${TYPES[c]}`).join(', ')}) ENGINE = MergeTree ORDER BY tuple()`);
    }
  });
  afterAll(async () => t?.close());

  it('stores exactly the rows a JSONEachRow insert of the same rows stores', async () => {
    // Halved, as a refused batch is, so the copied parts are what lands; and a dictionary past 256 keys.
    const wide = Array.from({ length: 400 }, (_, i) => {
      const r = row(i);
      r[COLUMNS.indexOf('host')] = `wide-${i}`;
      return r;
    });
    const [head, tail] = codec.halve(codec.encode([...ROWS, ...wide]));
    await t.store.insertBlocks('native_rows', NativeBlocks.concat([head, tail]), COLUMNS);
    // The reference: the same rows as JSON objects through the client's JSONEachRow insert.
    await t.store.insert(
      'json_rows',
      [...ROWS, ...wide].map((r) => Object.fromEntries(COLUMNS.map((c, i) => [c, r[i]]))),
    );
    expect(await t.store.queryRows('SELECT count() AS n, uniqExact(host) AS hosts FROM native_rows')).toEqual([{ n: '440', hosts: '404' }]);
    const read = (table: string) => t.store.queryRows<Record<string, unknown>>(`SELECT ${COLUMNS.join(', ')} FROM ${table} ORDER BY ts, small, note`);
    const viaNative = await read('native_rows');
    expect(viaNative).toHaveLength(440);
    expect(viaNative).toEqual(await read('json_rows'));
    // And what the engine holds is what was meant, not only the same on both paths.
    const first = viaNative.find((r) => r.small === 1)!;
    expect(first).toMatchObject({
      ts: '2026-11-02 01:00:01.001',
      note: NOTES[1],
      ok: false,
      ns: '1000000007',
      delta: '1',
      ttft: 1 / 3,
      ended: null,
      usd: '-1.000000001',
      labels: { k0: 'v1-0 "é"', k1: 'v1-1 "é"' },
    });
  });

  it('names the columns it inserts, for a file or a request body', () => {
    expect(nativeInsertSql('db.t', ['a', 'b'], { file: '/x/1.native' }, { insert_deduplication_token: 'k' })).toBe(
      "INSERT INTO `db`.`t` (a, b) SETTINGS insert_deduplication_token = 'k' SELECT a, b FROM file('/x/1.native', Native)",
    );
    expect(nativeInsertSql('t', ['a'], 'request body')).toBe('INSERT INTO `t` (a) FORMAT Native');
    expect(() => nativeInsertSql('t', ['a; DROP'], 'request body')).toThrow(/not a plain identifier/);
  });
});
