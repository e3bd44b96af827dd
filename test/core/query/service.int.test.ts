// /api/sql of a running collector on the embedded default, attacked the ways a user's SQL can reach
// past reading the store: several statements, writes, table functions and functions that read files
// or URLs, INTO OUTFILE, SETTINGS that lower readonly, session state, and queries that never end.
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { tempDir, testConfig } from '../../helpers/store.ts';

let collector: Collector;
let base: string;
const outDir = tempDir();

async function sql(query: string, format = 'JSONEachRow', init: RequestInit = {}) {
  const res = await fetch(`${base}/api/sql?format=${format}`, { method: 'POST', body: query, headers: { 'content-type': 'application/sql' }, ...init });
  return { status: res.status, text: await res.text() };
}

async function requests(tenant: string): Promise<number> {
  const r = await sql(`SELECT count() AS n FROM llm_requests WHERE tenant = '${tenant}'`);
  expect(r.status, r.text).toBe(200);
  return Number(JSON.parse(r.text).n);
}

function rows(tenant: string, n: number): string {
  return (
    Array.from({ length: n }, (_, i) =>
      JSON.stringify({ ts: Date.now() - 60_000 + i, request_id: `${tenant}-${i}`, tenant, model: 'm', output_tokens: 1 }),
    ).join('\n') + '\n'
  );
}

async function ingest(body: string) {
  const res = await fetch(`${base}/api/v1/ingest/llm_request`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  // The defaults a user gets, but for a short query time limit so the limit's test is quick.
  collector = await startCollector(testConfig({ query: { timeout_ms: 3_000 } }), createLogger({ level: 'error' }));
  base = `http://${collector.address}`;
  expect((await ingest(rows('t1', 5))).status).toBe(200);
  expect(await requests('t1')).toBe(5);
});

afterAll(async () => {
  await collector?.shutdown();
});

describe('/api/sql runs one reading statement and nothing else', () => {
  it('refuses a second statement hidden behind a quote in an identifier', async () => {
    const r = await sql(`SELECT 1 AS "x'"; ALTER TABLE llmeter.llm_requests DELETE WHERE tenant='t1' SETTINGS mutations_sync=1; SELECT '1'`);
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/Multi-statements are not allowed/);
    expect(await requests('t1')).toBe(5);
  });

  it('refuses a second statement behind a comment', async () => {
    const r = await sql(`SELECT 1 /* ' */; DROP TABLE llm_requests`);
    expect(r.status).toBe(400);
    expect(await requests('t1')).toBe(5);
  });

  it.each([
    ['CREATE TABLE', 'CREATE TABLE llmeter.evil (a UInt8) ENGINE = Memory', /CREATE statement/],
    ['INSERT', "INSERT INTO llm_requests (ts, request_id, tenant) VALUES (now(), 'x', 'fake')", /INSERT statement/],
    ['SET', 'SET readonly = 1', /SET statement/],
    ['USE', 'USE system', /USE statement/],
    ['KILL', 'KILL QUERY WHERE 1', /KILL/],
    ['OPTIMIZE', 'OPTIMIZE TABLE llm_requests FINAL', /OPTIMIZE/],
    ['EXPLAIN of a write', "EXPLAIN AST ALTER TABLE llm_requests DELETE WHERE tenant = 't1'", /EXPLAIN is allowed only of a SELECT/],
  ])('refuses %s', async (_name, query, why) => {
    const r = await sql(query);
    expect(r.status, r.text).toBe(400);
    expect(r.text).toMatch(why);
    expect(await requests('t1')).toBe(5);
  });

  it.each([
    ['file() table function', "SELECT * FROM file('/etc/passwd', 'LineAsString')", /table function file\(\)/],
    ['file() as a function', "SELECT file('/etc/hostname')", /function file\(\)/],
    ['file() inside a subquery', "SELECT count() FROM (SELECT * FROM file('/etc/passwd', 'LineAsString'))", /table function file\(\)/],
    ['url() (a request to any address)', "SELECT * FROM url('http://127.0.0.1:1/x', 'LineAsString')", /table function url\(\)/],
    ['remote()', "SELECT * FROM remote('127.0.0.1:9000', system.one)", /table function remote\(\)/],
    ['executable()', "SELECT * FROM executable('id', 'TSV', 'x String')", /table function executable\(\)/],
    ['describe of a file', "DESCRIBE TABLE file('/etc/passwd')", /table function file\(\)/],
    ['SETTINGS in a subquery lowering readonly', "SELECT * FROM (SELECT getSetting('readonly') SETTINGS readonly = 0)", /SETTINGS clauses are not allowed/],
    ['a SETTINGS clause', 'SELECT 1 SETTINGS max_execution_time = 100000', /SETTINGS clauses are not allowed/],
    ['another database', 'SELECT * FROM default.anything', /database default is not readable/],
  ])('refuses %s', async (_name, query, why) => {
    const r = await sql(query);
    expect(r.status, r.text).toBe(400);
    expect(r.text).toMatch(why);
  });

  it('refuses INTO OUTFILE and writes no file', async () => {
    const target = path.join(outDir, 'out.txt');
    const r = await sql(`SELECT * FROM llm_requests INTO OUTFILE '${target}'`);
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/INTO OUTFILE is not allowed/);
    expect(existsSync(target)).toBe(false);
  });

  it('never fetches a URL: nothing reaches a server the query names', async () => {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      res.end('secret\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      for (const q of [
        `SELECT * FROM url('http://127.0.0.1:${port}/x', 'LineAsString')`,
        `SELECT * FROM urlCluster('default', 'http://127.0.0.1:${port}/x', 'LineAsString')`,
        `SELECT * FROM s3('http://127.0.0.1:${port}/bucket/x', 'LineAsString')`,
      ]) {
        expect((await sql(q)).status).toBe(400);
      }
      expect(hits).toBe(0);
    } finally {
      server.close();
    }
  });

  it('reads: SELECT, WITH, UNION, SHOW, DESCRIBE, EXISTS, EXPLAIN, harmless table functions and the system catalogue', async () => {
    for (const q of [
      'SELECT tenant, count() AS n FROM llm_requests GROUP BY tenant',
      'WITH 2 AS x SELECT x',
      'SELECT 1 AS a UNION ALL SELECT 2',
      'SHOW TABLES',
      'DESCRIBE TABLE llm_requests',
      'EXISTS TABLE llm_requests',
      'EXPLAIN SELECT count() FROM llm_requests',
      'SELECT sum(number) AS s FROM numbers(10)',
      "SELECT name FROM system.tables WHERE database = 'llmeter' LIMIT 1",
      'SHOW CREATE TABLE llmeter.llm_requests',
    ]) {
      const r = await sql(q);
      expect(r.status, `${q}: ${r.text}`).toBe(200);
    }
    expect(JSON.parse((await sql('SELECT sum(number) AS s FROM numbers(10)')).text)).toEqual({ s: '45' });
  });

  it('a FORMAT clause in the statement picks the output format', async () => {
    const r = await sql('SELECT 1 AS one FORMAT JSONCompactEachRow', 'TabSeparated');
    expect(r.status).toBe(200);
    expect(r.text.trim()).toBe('[1]');
  });
});

describe('limits and cancellation', () => {
  const heavy = 'SELECT count() FROM numbers(100000000000) WHERE sipHash64(number) % 7 = 1';

  it('stops a query at the time limit while inserts go on', async () => {
    const t0 = Date.now();
    const running = sql(heavy);
    await new Promise((r) => setTimeout(r, 300));
    const ins0 = Date.now();
    expect((await ingest(rows('during', 3))).status).toBe(200);
    expect(Date.now() - ins0).toBeLessThan(2_000);
    const r = await running;
    expect(r.status, r.text).toBe(504);
    expect(r.text).toMatch(/Timeout exceeded|time limit/i);
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(await requests('during')).toBe(3);
  });

  it('stops the query when its client goes away', async () => {
    // The collector runs in this process: a query still running would use a core's worth of CPU.
    const ac = new AbortController();
    const p = fetch(`${base}/api/sql?format=JSONEachRow`, {
      method: 'POST',
      body: heavy,
      headers: { 'content-type': 'application/sql' },
      signal: ac.signal,
    }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    await p;
    await new Promise((r) => setTimeout(r, 200));
    const cpu0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 1_000));
    const cpu = process.cpuUsage(cpu0);
    expect((cpu.user + cpu.system) / 1000).toBeLessThan(400);
    const m = await (await fetch(`${base}/metrics`)).text();
    expect(m).toMatch(/llmeter_queries_total\{outcome="cancelled"\} [1-9]/);
  });

  it('refuses a result larger than the limit with a message naming it', async () => {
    const r = await sql('SELECT number FROM numbers(2000000)', 'TabSeparated');
    expect(r.status).toBe(413);
    expect(r.text).toMatch(/max_result_rows|Limit for result exceeded/);
  });

  it('a query that failed part-way through its output leaves nothing behind for the next one', async () => {
    expect((await sql('SELECT number FROM numbers(2000000)', 'TabSeparated')).status).toBe(413);
    for (let i = 0; i < 4; i++) {
      const r = await sql('SELECT 42 AS x');
      expect(r.status).toBe(200);
      expect(r.text).toBe('{"x":42}\n');
    }
  });

  it('a refused SET leaves inserts working and readiness up', async () => {
    expect((await sql('SET readonly = 1')).status).toBe(400);
    expect((await sql('SELECT 1 SETTINGS readonly = 1')).status).toBe(400);
    expect((await ingest(rows('after-set', 2))).status).toBe(200);
    expect(await requests('after-set')).toBe(2);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });

  it('still reads /etc/passwd nowhere: the file content never appears in an answer', async () => {
    const passwd = readFileSync('/etc/passwd', 'utf8').split('\n')[0]!;
    for (const q of [
      "SELECT * FROM file('/etc/passwd', 'LineAsString')",
      "SELECT file('/etc/passwd')",
      "SELECT * FROM (SELECT * FROM file('/etc/passwd', 'LineAsString') SETTINGS readonly = 0)",
    ]) {
      expect((await sql(q)).text).not.toContain(passwd);
    }
  });
});

describe("a tenant's query and a client's settings", () => {
  const run = (sql: string, o: { tenant?: string; settings?: Record<string, string> } = {}) =>
    collector.queries.run({ sql, format: 'TabSeparated', ...o }).then((a) => a.body.toString());

  beforeAll(async () => {
    expect((await ingest(rows('t2', 2))).status).toBe(200);
  });

  it('reads only the tenant’s rows of every table with a tenant column, however the statement reaches them', async () => {
    expect(await run('SELECT DISTINCT tenant FROM llm_requests ORDER BY tenant')).toMatch(/^(.*\n)*t1\nt2\n$/);
    expect(await run('SELECT DISTINCT tenant FROM llm_requests ORDER BY tenant', { tenant: 't2' })).toBe('t2\n');
    expect(await run("SELECT count() FROM llmeter.llm_requests WHERE tenant = 't1'", { tenant: 't2' })).toBe('0\n');
    expect(await run('SELECT count() FROM (SELECT * FROM view(SELECT * FROM llm_requests))', { tenant: 't2' })).toBe('2\n');
    expect(await run('SELECT DISTINCT tenant FROM llm_requests_hourly', { tenant: 't2' })).toBe('t2\n');
    expect(await run('SELECT count() FROM dead_letters', { tenant: 't2' })).toBe('0\n');
  });

  it('cannot lift the filter', async () => {
    await expect(run('SELECT count() FROM llm_requests SETTINGS additional_table_filters = {}', { tenant: 't2' })).rejects.toMatchObject({
      clickhouseCode: 164,
    });
    expect(await run('SELECT count() FROM llm_requests', { tenant: 't2', settings: { additional_table_filters: '{}', readonly: '0' } })).toBe('2\n');
  });

  it('applies harmless settings and lower limits, never higher ones', async () => {
    expect(await run('SELECT toUInt64(1) AS n FORMAT JSONEachRow', { settings: { output_format_json_quote_64bit_integers: '1' } })).toBe('{"n":"1"}\n');
    await expect(run('SELECT number FROM numbers(10)', { settings: { max_result_rows: '5' } })).rejects.toMatchObject({ code: 396 });
    const t0 = Date.now();
    await expect(
      run('SELECT count() FROM numbers(100000000000) WHERE NOT ignore(sipHash64(number))', { settings: { max_execution_time: '1' } }),
    ).rejects.toMatchObject({ code: 159 });
    expect(Date.now() - t0).toBeLessThan(2_900);
    const a = await collector.queries.run({ sql: 'SELECT 1', format: 'TabSeparated', settings: { max_execution_time: '600', readonly: '0' } });
    expect(a.ignoredSettings.sort()).toEqual(['max_execution_time', 'readonly']);
  });
});

describe('shutdown', () => {
  it('stops a running query so that the collector stops at once', async () => {
    const running = sql('SELECT count() FROM numbers(100000000000) WHERE sipHash64(number) % 7 = 1').then(
      (r) => r.status,
      () => 0,
    );
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const c = collector;
    collector = undefined as unknown as Collector;
    await c.shutdown();
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await running).not.toBe(200);
  });
});
