// The Faro receiver on a real collector (HTTP on loopback, embedded ClickHouse): payloads of every
// kind, and every way a request is refused.
import { rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFaroPayload } from '../../../collector/features/receivers/faro/payload.ts';
import { faroRecords } from '../../../collector/features/receivers/faro/records.ts';
import { receiversFor, receiversConfigSchema } from '../../../collector/features/receivers/index.ts';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { createTableSql, schemaSql, type DdlTarget } from '../../../collector/core/schema/ddl.ts';
import { frontendIdempotencySql } from '../../../collector/core/schema/migrations/002-frontend-idempotency.ts';
import { frontendMetaSql } from '../../../collector/core/schema/migrations/005-frontend-meta.ts';
import { migrate, migrationsTableSql } from '../../../collector/core/schema/migrations/index.ts';
import { frontendEvents, type TableDef } from '../../../collector/core/schema/tables.ts';
import { validatorFor } from '../../../collector/core/records/validate.ts';
import { keyDigestHex } from '../../../collector/core/security/keys.ts';
import { count, testConfig } from '../../helpers/store.ts';
import { fixtureText } from '../../helpers/paths.ts';

const FIXTURE = fixtureText('faro', 'faro-payload.json');
const VITALS = fixtureText('faro', 'faro-web-vitals.example.json');
const KEY = 'chat-ui-public-key';
const LIMITED_KEY = 'limited-key';
const ORIGIN = 'http://app.example';

const receivers = receiversConfigSchema.parse({
  faro: {
    enabled: true,
    path: '/collect/faro',
    allowed_origins: [ORIGIN],
    max_body_bytes: 64 * 1024,
    apps: [
      { name: 'chat-ui', tenant: 'acme', api_keys: [`sha256:${keyDigestHex(KEY)}`] },
      { name: 'testapp', tenant: 'globex' },
      { name: 'limited', tenant: 'initech', api_keys: [`sha256:${keyDigestHex(LIMITED_KEY)}`], rate_limit: { payloads_per_second: 0.01, burst: 2 } },
    ],
  },
});

const config = testConfig();
let collector: Collector;
let base: string;

beforeAll(async () => {
  collector = await startCollector(config, silentLogger, { features: [receiversFor(receivers)] });
  base = `http://${collector.address}`;
});

afterAll(async () => {
  await collector?.shutdown();
  rmSync(config.store.data_dir, { recursive: true, force: true });
});

function post(body: string | Buffer, headers: Record<string, string> = {}, path = '/faro/collect'): Promise<Response> {
  return fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
}

async function rows<T>(sql: string): Promise<T[]> {
  await collector.pipeline.forceFlush();
  return collector.store.queryRows<T>(sql);
}

describe('Faro receiver', () => {
  it('stores every kind of item of the reference payload as frontend_events rows', async () => {
    const res = await post(FIXTURE, { 'x-api-key': KEY, origin: ORIGIN });
    expect(res.status).toBe(202);
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(await res.json()).toMatchObject({ status: 'accepted', accepted: 10, rejected: 0 });
    const got = await rows<{
      kind: string;
      name: string;
      value: number;
      message: string;
      session_id: string;
      page_url: string;
      trace_id: string;
      tenant: string;
      a: Record<string, string>;
    }>(
      `SELECT kind, name, value, message, session_id, page_url, trace_id, tenant, attributes AS a FROM llmeter.frontend_events WHERE app = 'chat-ui' ORDER BY kind, name`,
    );
    expect(got.map((r) => [r.kind, r.name])).toEqual([
      ['event', 'click_login_button'],
      ['event', 'click_reset_password_button'],
      ['exception', 'Error'],
      ['log', 'info'],
      ['log', 'trace'],
      ['measurement', 'foobar.ttfb'],
      ['measurement', 'foobar.ttfcp'],
      ['measurement', 'foobar.ttfp'],
      ['trace', 'testSpan'],
      ['trace', 'testSpan2'],
    ]);
    for (const r of got) {
      expect(r.tenant).toBe('acme');
      expect(r.session_id).toBe('abcd');
      expect(r.page_url).toBe('https://example.com/page');
      // The meta is in its own columns (asserted in the next test), not copied into attributes.
      expect(Object.keys(r.a).filter((k) => /^(app|sdk|browser|view|page|user)\./.test(k))).toEqual([]);
    }
    const exc = got.find((r) => r.kind === 'exception')!;
    expect(exc.message).toBe("Cannot read property 'find' of undefined");
    expect(exc.a['stack.top']).toBe('? (http://fe:3002/static/js/vendors~main.chunk.js:8639:42)');
    const log = got.find((r) => r.name === 'info')!;
    expect(log).toMatchObject({ message: 'opened pricing page', trace_id: 'abcd' });
    expect(log.a).toMatchObject({ component: 'AppRoot', page: 'Pricing' });
    expect(got.find((r) => r.name === 'foobar.ttfp')!.value).toBeCloseTo(20.12);
    expect(got.find((r) => r.name === 'click_login_button')!.a).toMatchObject({ foo: 'bar', one: 'two', 'event.domain': 'frontend' });
  });

  it('stores the payload meta in columns of its own, the same on every row, and no user e-mail or name', async () => {
    const body = JSON.parse(FIXTURE) as { meta: Record<string, Record<string, unknown>> };
    body.meta.session!.id = 'meta-columns';
    body.meta.page!.id = 'page-7';
    body.meta.user!.hash = 'h-42';
    body.meta.browser!.version = 'v'.repeat(300);
    expect((await post(JSON.stringify(body), { 'x-api-key': KEY })).status).toBe(202);
    const got = await rows<Record<string, string> & { a: Record<string, string> }>(
      `SELECT app_version, app_environment, app_release, sdk_version, browser_name, browser_version, browser_os, browser_mobile, view_name, page_id, user_id, user_hash, attributes AS a
       FROM llmeter.frontend_events WHERE app = 'chat-ui' AND session_id = 'meta-columns'`,
    );
    expect(got).toHaveLength(10);
    for (const { a, ...meta } of got) {
      expect(meta).toEqual({
        app_version: 'abcdefg',
        app_environment: 'production',
        app_release: '0.8.2',
        sdk_version: '1.0.0',
        browser_name: 'chrome',
        browser_version: 'v'.repeat(256),
        browser_os: 'linux',
        browser_mobile: 'false',
        view_name: 'foobar',
        page_id: 'page-7',
        user_id: '123',
        user_hash: 'h-42',
      });
      expect(JSON.stringify(a)).not.toMatch(/domasx2|geralt/);
    }
    // A payload without meta stores empty columns.
    const bare = await post(JSON.stringify({ logs: [{ message: 'no meta', level: 'info', timestamp: '2026-03-01T00:00:00Z' }] }), { 'x-api-key': KEY });
    expect(bare.status).toBe(202);
    const empty = await rows<{ b: string; u: string; n: string }>(
      `SELECT browser_name AS b, user_id AS u, toString(length(attributes)) AS n FROM llmeter.frontend_events WHERE app = 'chat-ui' AND message = 'no meta'`,
    );
    expect(empty).toEqual([{ b: '', u: '', n: '0' }]);
  });

  it('stores web vitals one row per value, on the configured path, gzip-compressed', async () => {
    const res = await post(gzipSync(VITALS), { 'x-api-key': KEY, 'content-encoding': 'gzip' }, '/collect/faro');
    expect(res.status).toBe(202);
    const got = await rows<{ name: string; value: number; ts: string; a: Record<string, string> }>(
      `SELECT name, value, toString(ts) AS ts, attributes AS a FROM llmeter.frontend_events WHERE app = 'chat-ui' AND session_id = 'Zq3xLw8P0a' ORDER BY ts, name`,
    );
    expect(got.map((r) => r.name)).toEqual([
      'web-vitals.delta',
      'web-vitals.element_render_delay',
      'web-vitals.lcp',
      'web-vitals.resource_load_delay',
      'web-vitals.resource_load_duration',
      'web-vitals.time_to_first_byte',
      'web-vitals.cls',
      'web-vitals.delta',
      'chat.ttft_ms',
    ]);
    expect(got[2]).toMatchObject({ value: 1234.5, ts: '2026-03-01 12:00:01.250' });
    expect(got[2]!.a).toMatchObject({ rating: 'good', 'measurement.type': 'web-vitals', navigation_type: 'navigate' });
    expect(got[8]).toMatchObject({ value: 412 });
  });

  it('takes a keyless app by its meta.app.name and charges its tenant', async () => {
    const res = await post(FIXTURE);
    expect(res.status).toBe(202);
    await collector.pipeline.forceFlush();
    expect(await count(collector.store, `llmeter.frontend_events WHERE app = 'testapp' AND tenant = 'globex'`)).toBe(10);
  });

  it('refuses a wrong key, and a payload without key from an app that needs one', async () => {
    const wrong = await post(FIXTURE, { 'x-api-key': 'not-the-key' });
    expect(wrong.status).toBe(401);
    const missing = await post(VITALS);
    expect(missing.status).toBe(401);
  });

  it('refuses malformed payloads with 400', async () => {
    expect((await post('{"logs": [', { 'x-api-key': KEY })).status).toBe(400);
    expect((await post('{"logs": {"message": "x"}}', { 'x-api-key': KEY })).status).toBe(400);
    expect((await post('[1,2]', { 'x-api-key': KEY })).status).toBe(400);
    expect((await post('not gzip', { 'x-api-key': KEY, 'content-encoding': 'gzip' })).status).toBe(400);
  });

  it('dead-letters an item whose timestamp is not a time, keeping the others', async () => {
    const body = JSON.stringify({
      meta: { session: { id: 'bad-ts' } },
      logs: [
        { message: 'ok', level: 'info', timestamp: '2026-03-01T00:00:00Z' },
        { message: 'bad', level: 'info', timestamp: 'yesterday' },
      ],
    });
    const res = await post(body, { 'x-api-key': KEY });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ accepted: 1, rejected: 1 });
    await collector.pipeline.forceFlush();
    expect(await count(collector.store, `llmeter.dead_letters WHERE signal = 'frontend_event' AND source = 'faro' AND payload LIKE '%yesterday%'`)).toBe(1);
  });

  it('refuses an oversized payload with 413, compressed or not', async () => {
    const big = JSON.stringify({ logs: [{ message: 'x'.repeat(70 * 1024), level: 'info' }] });
    expect((await post(big, { 'x-api-key': KEY })).status).toBe(413);
    const bomb = gzipSync(Buffer.alloc(1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(64 * 1024);
    expect((await post(bomb, { 'x-api-key': KEY, 'content-encoding': 'gzip' })).status).toBe(413);
  });

  it('answers preflights for allowed origins with the headers the SDK sends, and refuses other origins', async () => {
    const ok = await fetch(base + '/faro/collect', {
      method: 'OPTIONS',
      headers: {
        origin: ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,idempotency-key,x-api-key,x-faro-session-id',
      },
    });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const allowed = ok.headers.get('access-control-allow-headers')!.split(/,\s*/);
    for (const h of ['content-type', 'idempotency-key', 'x-api-key', 'x-faro-session-id', 'content-encoding']) expect(allowed).toContain(h);
    const bad = await fetch(base + '/faro/collect', { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    expect(bad.status).toBe(403);
    expect(bad.headers.get('access-control-allow-origin')).toBeNull();
    const post403 = await post(FIXTURE, { 'x-api-key': KEY, origin: 'http://evil.example' });
    expect(post403.status).toBe(403);
  });

  it('rate-limits an app with 429 and Retry-After, leaving other apps alone', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 3; i++) {
      const r = await post('{"meta":{}}', { 'x-api-key': LIMITED_KEY });
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get('retry-after');
    }
    expect(statuses).toEqual([202, 202, 429]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect((await post('{"meta":{}}', { 'x-api-key': KEY })).status).toBe(202);
  });

  it('counts requests and rows on the collector registry', async () => {
    const text = await (await fetch(base + '/metrics')).text();
    expect(text).toMatch(/llmeter_faro_requests_total\{app="chat-ui",outcome="accepted"[^}]*\} \d+/);
    expect(text).toMatch(/llmeter_faro_requests_total\{app="limited",outcome="rate_limited"[^}]*\} 1/);
    expect(text).toMatch(/llmeter_faro_requests_total\{app="",outcome="unauthorized"[^}]*\} 2/);
    expect(text).toMatch(/llmeter_faro_events_total\{app="chat-ui",kind="measurement"[^}]*\} \d+/);
    expect(text).toMatch(/llmeter_faro_received_bytes_total\{app="testapp"[^}]*\} [1-9]\d+/);
  });
});

/** A payload of 5 rows stamped now (2 logs, 1 event, 1 measurement of 2 values), for one session. */
function fresh(session: string): string {
  const ts = new Date().toISOString();
  return JSON.stringify({
    meta: { app: { name: 'testapp' }, session: { id: session } },
    logs: [
      { message: 'one', level: 'info', timestamp: ts },
      { message: 'two', level: 'warn', timestamp: ts },
    ],
    events: [{ name: 'chat_send', timestamp: ts }],
    measurements: [{ type: 'chat', values: { ttft_ms: 300, tokens: 12 }, timestamp: ts }],
  });
}

async function sessionRows(session: string): Promise<number> {
  await collector.pipeline.forceFlush();
  return count(collector.store, `llmeter.frontend_events WHERE session_id = '${session}'`);
}

describe('Faro retries (Idempotency-Key)', () => {
  it('stores a payload retried with the same key once, answering the retry as the first time', async () => {
    const body = fresh('idem-same');
    const first = await post(body, { 'x-api-key': KEY, 'idempotency-key': 'k7Hq2vX9pLm3Rt8sWd0a' });
    expect(first.status).toBe(202);
    const firstBody = (await first.json()) as Record<string, unknown>;
    const retry = await post(body, { 'x-api-key': KEY, 'idempotency-key': 'k7Hq2vX9pLm3Rt8sWd0a' });
    expect(retry.status).toBe(202);
    expect(await retry.json()).toEqual({ ...firstBody, duplicate: true });
    expect(firstBody).toMatchObject({ accepted: 5, rejected: 0 });
    expect(await sessionRows('idem-same')).toBe(5);
    const rows = await collector.store.queryRows<{ k: string; seq: number }>(
      `SELECT idempotency_key AS k, event_seq AS seq FROM llmeter.frontend_events WHERE session_id = 'idem-same' ORDER BY seq`,
    );
    expect(rows).toEqual([0, 1, 2, 3, 4].map((seq) => ({ k: 'k7Hq2vX9pLm3Rt8sWd0a', seq })));
    const text = await (await fetch(base + '/metrics')).text();
    expect(text).toMatch(/llmeter_faro_requests_total\{app="chat-ui",outcome="duplicate"[^}]*\} 1/);
  });

  it('stores payloads with different keys every time, and the same keyless payload sent twice once', async () => {
    const body = fresh('idem-different');
    expect((await post(body, { 'x-api-key': KEY, 'idempotency-key': 'key-a' })).status).toBe(202);
    expect((await post(body, { 'x-api-key': KEY, 'idempotency-key': 'key-b' })).status).toBe(202);
    expect(await sessionRows('idem-different')).toBe(10);
    const none = fresh('idem-none');
    expect((await post(none, { 'x-api-key': KEY })).status).toBe(202);
    expect((await post(none, { 'x-api-key': KEY })).status).toBe(202);
    // Every field of every row is the same: the second copy is a re-send, not new events.
    expect(await sessionRows('idem-none')).toBe(5);
    expect(await count(collector.store, `llmeter.frontend_events WHERE session_id = 'idem-none' AND idempotency_key != ''`)).toBe(0);
  });

  it('stores once when the retry arrives while the first attempt is still being stored', async () => {
    const body = fresh('idem-concurrent');
    const headers = { 'x-api-key': KEY, 'idempotency-key': '"quoted-concurrent-key"' };
    const answers = await Promise.all([post(body, headers), post(body, headers), post(body, headers)]);
    expect(answers.map((r) => r.status)).toEqual([202, 202, 202]);
    const bodies = await Promise.all(answers.map((r) => r.json() as Promise<{ duplicate?: boolean }>));
    expect(bodies.filter((b) => b.duplicate).length).toBe(2);
    expect(await sessionRows('idem-concurrent')).toBe(5);
  });

  it('keeps keys per app: the same key from another app is another payload', async () => {
    const body = fresh('idem-apps');
    expect((await post(body, { 'x-api-key': KEY, 'idempotency-key': 'shared-key' })).status).toBe(202);
    // testapp is keyless, named by meta.app.name.
    expect((await post(body, { 'idempotency-key': 'shared-key' })).status).toBe(202);
    await collector.pipeline.forceFlush();
    expect(await count(collector.store, `llmeter.frontend_events WHERE session_id = 'idem-apps' AND app = 'chat-ui'`)).toBe(5);
    expect(await count(collector.store, `llmeter.frontend_events WHERE session_id = 'idem-apps' AND app = 'testapp' AND tenant = 'globex'`)).toBe(5);
  });

  it('forgets the key of a payload that was refused, so its retry is stored', async () => {
    const refused = await post('{"logs": [', { 'x-api-key': KEY, 'idempotency-key': 'refused-then-good' });
    expect(refused.status).toBe(400);
    const ok = await post(fresh('idem-refused'), { 'x-api-key': KEY, 'idempotency-key': 'refused-then-good' });
    expect(ok.status).toBe(202);
    expect(await ok.json()).not.toHaveProperty('duplicate');
    expect(await sessionRows('idem-refused')).toBe(5);
  });

  it('stores copies that arrive by another path (another collector, a re-sent batch) once', async () => {
    const keyed = faroRecords(parseFaroPayload(fresh('idem-elsewhere')), 'chat-ui', 'acme', Date.now(), 'seen-by-two').records;
    const keyless = faroRecords(parseFaroPayload(fresh('idem-elsewhere')), 'chat-ui', 'acme').records;
    // Two collectors each stored both payloads.
    for (let i = 0; i < 2; i++) await collector.pipeline.submit('frontend_event', [...keyed, ...keyless], { source: 'faro' });
    await collector.pipeline.forceFlush();
    expect(await count(collector.store, `llmeter.frontend_events WHERE session_id = 'idem-elsewhere'`)).toBe(10);
    // The query the docs give for copies two collectors stored at the same moment.
    const once = await count(
      collector.store,
      `(SELECT 1 FROM llmeter.frontend_events WHERE session_id = 'idem-elsewhere'
      LIMIT 1 BY tenant, app, if(idempotency_key = '', toString(generateUUIDv4()), idempotency_key), event_seq)`,
    );
    expect(once).toBe(10);
  });

  it('refuses a key that is not 1 to 128 visible ASCII characters with 400', async () => {
    const long = await post(fresh('idem-bad'), { 'x-api-key': KEY, 'idempotency-key': 'x'.repeat(129) });
    expect(long.status).toBe(400);
    expect(((await long.json()) as { error: string }).error).toMatch(/Idempotency-Key must be 1 to 128 visible ASCII characters/);
    expect((await post(fresh('idem-bad'), { 'x-api-key': KEY, 'idempotency-key': 'has space' })).status).toBe(400);
    expect(await sessionRows('idem-bad')).toBe(0);
  });
});

/** frontend_events' columns in a database, in order, with everything that must match a fresh store. */
function columnsOf(db: string) {
  return collector.store.queryRows<{ name: string; type: string; position: number; codec: string; comment: string }>(
    `SELECT name, type, position, compression_codec AS codec, comment FROM system.columns WHERE database = {db:String} AND table = 'frontend_events' ORDER BY position`,
    { db },
  );
}

/** A store as an earlier version left it: the whole schema with frontend_events as `table` was, and `versions` recorded as applied. */
async function storeBefore(target: DdlTarget, table: TableDef, versions: number[]): Promise<void> {
  await collector.store.command(`CREATE DATABASE IF NOT EXISTS ${target.database}`);
  const current = createTableSql(frontendEvents, target);
  for (const sql of schemaSql(target)) await collector.store.command(sql === current ? createTableSql(table, target) : sql);
  await collector.store.command(migrationsTableSql(target));
  await collector.store.insert(
    `${target.database}.schema_migrations`,
    versions.map((version) => ({ version, name: `v${version}`, checksum: '' })),
  );
}

describe('migration 2: idempotency columns on frontend_events', () => {
  it('adds the columns to a store created before it, the same as a fresh store has them, keeping old rows', async () => {
    const target: DdlTarget = { ...collector.store.ddlTarget(), database: 'llmeter_v1' };
    const { idempotency_key: _k, event_seq: _s, ...v1Columns } = withoutMetaColumns();
    const v1Table: TableDef = { ...frontendEvents, columns: v1Columns };
    // Version 1 as it ran before: the whole schema, with frontend_events as it was then.
    await storeBefore(target, v1Table, [1]);
    await collector.store.command(
      `INSERT INTO llmeter_v1.frontend_events (ts, app, tenant, kind, name) VALUES ('2026-03-01 00:00:00.000', 'old', 'acme', 'log', 'info')`,
    );
    expect((await columnsOf('llmeter_v1')).map((c) => c.name)).not.toContain('idempotency_key');

    const r = await migrate(collector.store, target);
    expect(r.applied.map((a) => a.version)).toContain(2);
    expect(r.alreadyApplied).toEqual([1]);
    expect(await columnsOf('llmeter_v1')).toEqual(await columnsOf('llmeter'));
    const old = await collector.store.queryRows<{ k: string; seq: number }>(
      `SELECT idempotency_key AS k, event_seq AS seq FROM llmeter_v1.frontend_events WHERE app = 'old'`,
    );
    expect(old).toEqual([{ k: '', seq: 0 }]);
    // The pipeline's positional rows fit the migrated table.
    const v = validatorFor('frontend_event')({ ts: '2026-03-01T00:00:01Z', app: 'new', tenant: 'acme', kind: 'log', idempotency_key: 'k1', event_seq: 3 });
    if (!v.ok) throw new Error(v.errors.join('; '));
    await collector.store.insertRows('llmeter_v1.frontend_events', [v.row]);
    expect(await collector.store.queryRows(`SELECT idempotency_key AS k, event_seq AS seq FROM llmeter_v1.frontend_events WHERE app = 'new'`)).toEqual([
      { k: 'k1', seq: 3 },
    ]);

    const again = await migrate(collector.store, target);
    expect(again.applied).toEqual([]);
    // Idempotent even when run again outside the bookkeeping (a migration stopped half-way).
    for (const sql of frontendIdempotencySql(target)) await collector.store.command(sql);
    expect(await columnsOf('llmeter_v1')).toEqual(await columnsOf('llmeter'));
  });

  it('alters the local tables, then the Distributed table, on a cluster', async () => {
    const cluster: DdlTarget = { ...collector.store.ddlTarget(), cluster: 'fleet' };
    const stmts = frontendIdempotencySql(cluster);
    expect(stmts).toHaveLength(2);
    expect(stmts[0]).toMatch(
      /^ALTER TABLE `llmeter`\.`frontend_events_local` ON CLUSTER `fleet` ADD COLUMN IF NOT EXISTS `idempotency_key` String .*, ADD COLUMN IF NOT EXISTS `event_seq` UInt32 /,
    );
    expect(stmts[1]).toBe(
      'ALTER TABLE `llmeter`.`frontend_events` ON CLUSTER `fleet` ADD COLUMN IF NOT EXISTS `idempotency_key` String, ADD COLUMN IF NOT EXISTS `event_seq` UInt32',
    );
    await expectParsedAlters(stmts);
    // A fresh cluster gets the columns from the table definition; the Distributed table copies them.
    const created = schemaSql(cluster).find((s) => s.startsWith('CREATE TABLE IF NOT EXISTS `llmeter`.`frontend_events_local`'))!;
    expect(created).toContain('`idempotency_key` String');
    expect(created).toContain('`event_seq` UInt32');
  });
});

/** Each statement parses as ClickHouse's own SQL and still adds its columns. */
async function expectParsedAlters(stmts: readonly string[]): Promise<void> {
  for (const sql of stmts) {
    const f = await collector.store.queryRows<{ f: string }>('SELECT formatQuery({q:String}) AS f', { q: sql });
    expect(f[0]!.f).toContain('ADD COLUMN IF NOT EXISTS');
  }
}

const META_COLUMNS = [
  'app_version',
  'app_environment',
  'app_release',
  'sdk_version',
  'browser_name',
  'browser_version',
  'browser_os',
  'browser_mobile',
  'view_name',
  'page_id',
  'user_id',
  'user_hash',
] as const;

/** frontend_events' columns as they were before migration 5. */
function withoutMetaColumns(): TableDef['columns'] {
  const cols: TableDef['columns'] = { ...frontendEvents.columns };
  for (const k of META_COLUMNS) delete cols[k];
  return cols;
}

describe('migration 5: the Faro meta in columns of its own', () => {
  it('adds the columns to a store created before it, the same as a fresh store has them; old rows keep their meta in attributes', async () => {
    const target: DdlTarget = { ...collector.store.ddlTarget(), database: 'llmeter_v4' };
    const v4Table: TableDef = { ...frontendEvents, columns: withoutMetaColumns() };
    await storeBefore(target, v4Table, [1, 2, 3, 4]);
    await collector.store.command(
      `INSERT INTO llmeter_v4.frontend_events (ts, app, tenant, kind, name, attributes) VALUES ('2026-03-01 00:00:00.000', 'old', 'acme', 'log', 'info', map('browser.name', 'Firefox', 'component', 'AppRoot'))`,
    );
    expect((await columnsOf('llmeter_v4')).map((c) => c.name)).not.toContain('browser_name');

    const r = await migrate(collector.store, target);
    expect(r.applied.map((a) => a.version)).toContain(5);
    expect(r.alreadyApplied).toEqual([1, 2, 3, 4]);
    expect(await columnsOf('llmeter_v4')).toEqual(await columnsOf('llmeter'));
    // The rows stored before keep their meta in attributes; this reads either.
    const either = `SELECT if(browser_name != '', browser_name, attributes['browser.name']) AS browser FROM llmeter_v4.frontend_events WHERE app = {app:String}`;
    expect(await collector.store.queryRows(either, { app: 'old' })).toEqual([{ browser: 'Firefox' }]);
    // Rows mapped by the receiver fit the migrated table.
    const mapped = faroRecords(parseFaroPayload(FIXTURE), 'new', 'acme').records.slice(0, 1);
    const v = validatorFor('frontend_event')(mapped[0]);
    if (!v.ok) throw new Error(v.errors.join('; '));
    await collector.store.insertRows('llmeter_v4.frontend_events', [v.row]);
    expect(await collector.store.queryRows(either, { app: 'new' })).toEqual([{ browser: 'chrome' }]);

    // Idempotent even when run again outside the bookkeeping.
    for (const sql of frontendMetaSql(target)) await collector.store.command(sql);
    expect(await columnsOf('llmeter_v4')).toEqual(await columnsOf('llmeter'));
  });

  it('alters the local tables, then the Distributed table, on a cluster', async () => {
    const cluster: DdlTarget = { ...collector.store.ddlTarget(), cluster: 'fleet' };
    const stmts = frontendMetaSql(cluster);
    expect(stmts).toHaveLength(2);
    expect(stmts[0]).toMatch(
      /^ALTER TABLE `llmeter`\.`frontend_events_local` ON CLUSTER `fleet` ADD COLUMN IF NOT EXISTS `app_version` LowCardinality\(String\) COMMENT /,
    );
    expect(stmts[1]).toMatch(/^ALTER TABLE `llmeter`\.`frontend_events` ON CLUSTER `fleet` ADD COLUMN IF NOT EXISTS `app_version` LowCardinality\(String\), /);
    for (const col of META_COLUMNS) for (const sql of stmts) expect(sql).toContain(`ADD COLUMN IF NOT EXISTS \`${col}\``);
    await expectParsedAlters(stmts);
  });
});

describe('Faro retries across a restart', () => {
  it('reads the keys stored before a restart back, so a retry after it is not stored again', async () => {
    const body = fresh('idem-restart');
    expect((await post(body, { 'x-api-key': KEY, 'idempotency-key': 'before-restart' })).status).toBe(202);
    await collector.shutdown();
    collector = await startCollector(config, silentLogger, { features: [receiversFor(receivers)] });
    base = `http://${collector.address}`;
    const retry = await post(body, { 'x-api-key': KEY, 'idempotency-key': 'before-restart' });
    expect(retry.status).toBe(202);
    expect(await retry.json()).toMatchObject({ duplicate: true, accepted: 5 });
    expect(await sessionRows('idem-restart')).toBe(5);
    // Another key is stored as usual.
    expect((await post(body, { 'x-api-key': KEY, 'idempotency-key': 'after-restart' })).status).toBe(202);
    expect(await sessionRows('idem-restart')).toBe(10);
  });
});
