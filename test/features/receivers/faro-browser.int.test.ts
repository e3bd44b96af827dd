// A real browser: a page instrumented with @grafana/faro-web-sdk (bundled with esbuild) is served on
// loopback and loaded in headless Chromium; it logs, throws, measures and traces, and each of those
// is then found in ClickHouse. The page and the collector are on different ports, so the SDK's
// requests are cross-origin and go through the CORS preflight like in production. A second page
// talks to the collector through a relay that loses the collector's answer to the first payload, as
// a dropped connection would: the SDK sends that payload again, and it must be stored once.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../collector/core/log.ts';
import { receiversFor, receiversConfigSchema } from '../../../collector/features/receivers/index.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { keyDigestHex } from '../../../collector/core/security/keys.ts';
import { testConfig } from '../../helpers/store.ts';
import { bundlePage } from './faro-page/bundle.ts';
import { ARTIFACTS } from '../../helpers/paths.ts';
import { CHROMIUM, CHROMIUM_ARGS } from '../../helpers/chromium.ts';

const KEY = 'browser-test-public-key';
const MARKER = `m${Date.now().toString(36)}`;
const RELAYED_MARKER = `r${Date.now().toString(36)}`;

const config = testConfig();
let collector: Collector;
let page: Server;
let pageOrigin: string;
let relay: Server;
let relayUrl: string;
/** Idempotency-Key of every payload the relay passed on, in order. */
const relayedKeys: string[] = [];
let browser: BrowserContext;
let profile: string;

beforeAll(async () => {
  const bundle = await bundlePage();
  const html = readFileSync(new URL('./faro-page/index.html', import.meta.url), 'utf8');
  let pageHtml = '';
  let relayedHtml = '';
  page = createServer((req, res) => {
    if (req.url === '/app.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    else if (req.url === '/relayed') res.writeHead(200, { 'content-type': 'text/html' }).end(relayedHtml);
    else if (req.url === '/' || req.url?.startsWith('/?')) res.writeHead(200, { 'content-type': 'text/html' }).end(pageHtml);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
  pageOrigin = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;

  const receivers = receiversConfigSchema.parse({
    faro: { enabled: true, apps: [{ name: 'browser-test', tenant: 'acme', api_keys: [`sha256:${keyDigestHex(KEY)}`], allowed_origins: [pageOrigin] }] },
  });
  collector = await startCollector(config, silentLogger, { features: [receiversFor(receivers)] });
  pageHtml = html.replace('__CONFIG__', JSON.stringify({ url: `http://${collector.address}/faro/collect`, apiKey: KEY, marker: MARKER }));
  relay = createServer((req, res) => void passOn(req, res));
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}/faro/collect`;
  relayedHtml = html.replace('__CONFIG__', JSON.stringify({ url: relayUrl, apiKey: KEY, marker: RELAYED_MARKER }));

  profile = mkdtempSync(path.join(os.tmpdir(), 'llmeter-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS],
  });
});

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => page?.close(r));
  await new Promise((r) => relay?.close(r));
  await collector?.shutdown();
  rmSync(config.store.data_dir, { recursive: true, force: true });
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/**
 * Passes a request on to the collector and its answer back, except the answer to the first payload:
 * the collector has stored it, but the relay drops the browser's connection instead of answering.
 */
async function passOn(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const isPayload = req.method === 'POST';
  if (isPayload) relayedKeys.push(String(req.headers['idempotency-key'] ?? ''));
  const lose = isPayload && relayedKeys.length === 1;
  const headers = { ...req.headers };
  delete headers.host;
  const upstream = request(`http://${collector.address}${req.url}`, { method: req.method, headers }, (answer) => {
    const body: Buffer[] = [];
    answer.on('data', (c: Buffer) => body.push(c));
    answer.on('end', () => {
      if (lose) {
        req.socket.destroy();
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers).end(Buffer.concat(body));
    });
  });
  upstream.end(Buffer.concat(chunks));
}

interface Row {
  kind: string;
  name: string;
  value: number;
  message: string;
  trace_id: string;
  session_id: string;
  page_url: string;
  browser_name: string;
  app_version: string;
  app_environment: string;
  sdk_version: string;
  a: Record<string, string>;
}

async function rowsUntil(pred: (rows: Row[]) => boolean, timeoutMs = 15_000, path = '/'): Promise<Row[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await collector.pipeline.forceFlush();
    const rows = await collector.store.queryRows<Row>(
      `SELECT kind, name, value, message, trace_id, session_id, page_url, browser_name, app_version, app_environment, sdk_version, attributes AS a FROM llmeter.frontend_events WHERE app = 'browser-test' AND tenant = 'acme' AND page_url = {url:String} ORDER BY ts`,
      { url: pageOrigin + path },
    );
    if (pred(rows) || Date.now() > deadline) return rows;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('Faro in a real browser', () => {
  it("finds the page's log, exception, measurement, event and span in ClickHouse", async () => {
    const tab = await browser.newPage();
    const pageErrors: string[] = [];
    tab.on('pageerror', (e) => pageErrors.push(e.message));
    await tab.goto(pageOrigin + '/');
    await tab.waitForFunction(() => (globalThis as { LLMETER_DONE?: boolean }).LLMETER_DONE === true, undefined, { timeout: 15_000 });
    mkdirSync(ARTIFACTS, { recursive: true });
    await tab.screenshot({ path: path.join(ARTIFACTS, 'browser-faro.png') });

    const has = (rows: Row[], kind: string, f: (r: Row) => boolean) => rows.some((r) => r.kind === kind && f(r));
    const rows = await rowsUntil(
      (rs) =>
        has(rs, 'log', (r) => r.message.includes(MARKER)) &&
        has(rs, 'exception', (r) => r.message.includes(MARKER)) &&
        has(rs, 'measurement', (r) => r.name === 'chat.ttft_ms') &&
        has(rs, 'event', (r) => r.name === 'chat_opened') &&
        has(rs, 'trace', (r) => r.name === 'chat.send'),
    );
    expect(pageErrors).toEqual([`boom ${MARKER}`]);

    const log = rows.find((r) => r.kind === 'log' && r.message.includes(MARKER));
    const exc = rows.find((r) => r.kind === 'exception' && r.message.includes(MARKER));
    const measurement = rows.find((r) => r.kind === 'measurement' && r.name === 'chat.ttft_ms');
    const event = rows.find((r) => r.kind === 'event' && r.name === 'chat_opened');
    const span = rows.find((r) => r.kind === 'trace' && r.name === 'chat.send');
    expect(log).toMatchObject({ name: 'info', message: `chat request sent ${MARKER}` });
    expect(exc).toMatchObject({ name: 'Error', message: `boom ${MARKER}` });
    expect(exc!.a['stack.top']).toContain('/app.js');
    expect(measurement).toMatchObject({ value: 321 });
    expect(measurement!.a.marker).toBe(MARKER);
    expect(event!.a.marker).toBe(MARKER);
    expect(span!.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(span!.value).toBeGreaterThanOrEqual(15);
    expect(span!.a['chat.model']).toBe('llama3.1:8b');
    // The log was pushed inside the span: it carries the span's trace.
    expect(log!.trace_id).toBe(span!.trace_id);
    // Meta from the SDK: one session, the page URL, the browser and the app,
    expect(new Set(rows.map((r) => r.session_id)).size).toBe(1);
    expect(log!.session_id).not.toBe('');
    expect(log!.page_url).toBe(pageOrigin + '/');
    // in its own columns, not in the row's attributes.
    expect(log!.browser_name).toMatch(/chrom/i);
    expect(log).toMatchObject({ app_version: '1.0.0', app_environment: 'test' });
    expect(log!.sdk_version).toMatch(/^\d+\.\d+/);
    expect(log!.a).not.toHaveProperty('browser.name');
    // Cross-origin with an x-api-key header: the browser asked first.
    const metrics = await (await fetch(`http://${collector.address}/metrics`)).text();
    expect(metrics).toMatch(/llmeter_faro_requests_total\{app="",outcome="preflight"[^}]*\} [1-9]/);
    await tab.close();
  });

  it('stores a payload once when the SDK sends it again after its answer was lost', async () => {
    const tab = await browser.newPage();
    await tab.goto(pageOrigin + '/relayed');
    await tab.waitForFunction(() => (globalThis as { LLMETER_DONE?: boolean }).LLMETER_DONE === true, undefined, { timeout: 15_000 });
    const marked = (r: Row) => r.message.includes(RELAYED_MARKER) || r.a.marker === RELAYED_MARKER;
    // The SDK retries after a backoff of about a second.
    const deadline = Date.now() + 20_000;
    while (relayedKeys.filter((k) => k === relayedKeys[0]).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const rows = await rowsUntil((rs) => rs.filter(marked).length >= 4 && rs.some((r) => r.kind === 'trace'), 15_000, '/relayed');
    // The SDK's own doing: the retry carried the first attempt's key.
    expect(relayedKeys[0]).toMatch(/^\S{1,128}$/);
    expect(relayedKeys.filter((k) => k === relayedKeys[0]).length).toBeGreaterThanOrEqual(2);
    // Everything the page sent, each once.
    const by = (kind: string, name?: string) =>
      rows.filter((r) => r.kind === kind && (name === undefined || r.name === name) && (kind === 'trace' || marked(r))).length;
    expect({
      log: by('log'),
      exception: by('exception'),
      measurement: by('measurement', 'chat.ttft_ms'),
      event: by('event', 'chat_opened'),
      trace: by('trace', 'chat.send'),
    }).toEqual({ log: 1, exception: 1, measurement: 1, event: 1, trace: 1 });
    const metrics = await (await fetch(`http://${collector.address}/metrics`)).text();
    expect(metrics).toMatch(/llmeter_faro_requests_total\{app="browser-test",outcome="duplicate"[^}]*\} [1-9]/);
    await tab.close();
  });
});
