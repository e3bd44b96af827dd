// The Faro receiver on a real collector (HTTP on loopback, embedded ClickHouse): payloads of every
// kind, and every way a request is refused.
import { readFileSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiverComponentsFor, receiversConfigSchema } from '../../collector/receivers/index.ts';
import { silentLogger } from '../../collector/log.ts';
import { startCollector, type Collector } from '../../collector/runtime.ts';
import { keyDigestHex } from '../../collector/security/keys.ts';
import { count, testConfig } from '../helpers/store.ts';

const FIXTURE = readFileSync(new URL('../fixtures/faro/faro-payload.json', import.meta.url), 'utf8');
const VITALS = readFileSync(new URL('../fixtures/faro/faro-web-vitals.example.json', import.meta.url), 'utf8');
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
  collector = await startCollector(config, silentLogger, { features: [receiverComponentsFor(receivers)] });
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
    const got = await rows<{ kind: string; name: string; value: number; message: string; session_id: string; page_url: string; trace_id: string; tenant: string; a: Record<string, string> }>(
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
      expect(r.a['browser.name']).toBe('chrome');
      expect(r.a['app.version']).toBe('abcdefg');
      expect(r.a).not.toHaveProperty('user.email');
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

  it('stores web vitals one row per value, on the configured path, gzip-compressed', async () => {
    const res = await post(gzipSync(VITALS), { 'x-api-key': KEY, 'content-encoding': 'gzip' }, '/collect/faro');
    expect(res.status).toBe(202);
    const got = await rows<{ name: string; value: number; ts: string; a: Record<string, string> }>(
      `SELECT name, value, toString(ts) AS ts, attributes AS a FROM llmeter.frontend_events WHERE app = 'chat-ui' AND session_id = 'Zq3xLw8P0a' ORDER BY ts, name`,
    );
    expect(got.map((r) => r.name)).toEqual([
      'web-vitals.delta', 'web-vitals.element_render_delay', 'web-vitals.lcp', 'web-vitals.resource_load_delay', 'web-vitals.resource_load_duration', 'web-vitals.time_to_first_byte',
      'web-vitals.cls', 'web-vitals.delta',
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
    const body = JSON.stringify({ meta: { session: { id: 'bad-ts' } }, logs: [{ message: 'ok', level: 'info', timestamp: '2026-03-01T00:00:00Z' }, { message: 'bad', level: 'info', timestamp: 'yesterday' }] });
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
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,idempotency-key,x-api-key,x-faro-session-id' },
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
