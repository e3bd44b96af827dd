// A hostile web page in a real browser against a collector on the embedded default (loopback, no
// admin keys): the page tries what any site the user visits could try — a query that deletes a
// tenant's rows and fake billing rows sent to the ingest API, by fetch and by a form, from another
// origin — and then DNS rebinding: the browser resolves the attacker's host name to 127.0.0.1 and
// reads the collector's answers as its own. None of it may reach the store or come back readable.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { testConfig } from '../../helpers/store.ts';
import { CHROMIUM, CHROMIUM_ARGS } from '../../helpers/chromium.ts';

// The proxy in front of a model server that counts what reaches it, with an anonymous tenant: a
// page that could drive it would spend that tenant's budget.
let modelServer: Server;
let modelServerHits = 0;
let config: ReturnType<typeof testConfig>;
let collector: Collector;
let collectorPort: number;
let proxyPort: number;
let attacker: Server;
let attackerOrigin: string;
let browser: BrowserContext;
let profile: string;

const now = Date.now();
const victimRows =
  Array.from({ length: 5 }, (_, i) =>
    JSON.stringify({ ts: now - 60_000 + i, request_id: `victim-${i}`, tenant: 'victim', model: 'm', output_tokens: 10 }),
  ).join('\n') + '\n';
const fakeRow = JSON.stringify({ ts: now, request_id: 'fake-1', tenant: 'fake', model: 'm', output_tokens: 1_000_000 });

function attackerPage(target: string, proxy: string): string {
  const deleteSql = `SELECT 1 AS "x'"; ALTER TABLE llmeter.llm_requests DELETE WHERE tenant='victim' SETTINGS mutations_sync=1; SELECT '1'`;
  // A text/plain form posts `name=value`: this name and value make the line one JSON record.
  const [formName, formValue] = [fakeRow.slice(0, -1) + ',"pad":"', '"}'];
  return `<!doctype html><html><body>
<form id="f" method="POST" enctype="text/plain" action="${target}/api/v1/ingest/llm_request" target="sink"><input name='${formName}' value='${formValue}'></form>
<iframe name="sink"></iframe>
<script>
(async () => {
  const results = {};
  const tryFetch = async (name, url, init) => {
    try { const r = await fetch(url, init); results[name] = r.type === 'opaque' ? 'opaque' : r.status + ' ' + (await r.text()).slice(0, 80); }
    catch (e) { results[name] = 'blocked: ' + e.message; }
  };
  await tryFetch('sql-no-cors', '${target}/api/sql', { method: 'POST', mode: 'no-cors', body: ${JSON.stringify(deleteSql)} });
  await tryFetch('ingest-no-cors', '${target}/api/v1/ingest/llm_request', { method: 'POST', mode: 'no-cors', body: ${JSON.stringify(fakeRow + '\n')} });
  await tryFetch('ingest-blob', '${target}/api/v1/ingest/llm_request', { method: 'POST', mode: 'no-cors', body: new Blob([${JSON.stringify(fakeRow + '\n')}]) });
  await tryFetch('ingest-cors', '${target}/api/v1/ingest/llm_request', { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: ${JSON.stringify(fakeRow + '\n')} });
  await tryFetch('sql-read', '${target}/api/sql?format=JSONEachRow', { method: 'POST', headers: { 'content-type': 'application/sql' }, body: 'SELECT * FROM llm_requests' });
  await tryFetch('chargeback-read', '${target}/api/chargeback', {});
  await tryFetch('proxy-no-cors', '${proxy}/api/generate', { method: 'POST', mode: 'no-cors', body: JSON.stringify({ model: 'm', prompt: 'spend', stream: false }) });
  await tryFetch('proxy-read', '${proxy}/api/tags', {});
  document.getElementById('f').submit();
  await new Promise((r) => setTimeout(r, 500));
  window.results = results;
  document.title = 'done';
})();
</script></body></html>`;
}

async function count(tenant: string): Promise<number> {
  const rows = await collector.store.queryRows<{ n: string }>(`SELECT count() AS n FROM llm_requests WHERE tenant = {t:String}`, { t: tenant });
  return Number(rows[0]!.n);
}

beforeAll(async () => {
  modelServer = createServer((req, res) => {
    modelServerHits++;
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"models":[]}');
  });
  await new Promise<void>((r) => modelServer.listen(0, '127.0.0.1', r));
  config = testConfig({
    proxy: {
      enabled: true,
      listen: '127.0.0.1:0',
      ps_poll_ms: 0,
      anonymous_tenant: 'anon',
      upstreams: [{ name: 'model-server', url: `http://127.0.0.1:${(modelServer.address() as AddressInfo).port}`, node: 'n1', kind: 'ollama' }],
    },
  });
  collector = await startCollector(config, silentLogger);
  collectorPort = Number(collector.address.split(':').pop());
  proxyPort = Number((collector.components.find((c) => c.name === 'proxy') as unknown as { address(): string }).address().split(':').pop());
  const res = await fetch(`http://${collector.address}/api/v1/ingest/llm_request`, {
    method: 'POST',
    body: victimRows,
    headers: { 'content-type': 'application/x-ndjson' },
  });
  expect(res.status).toBe(200);
  expect(await count('victim')).toBe(5);
  attacker = createServer((req, res) => {
    const host = req.url?.includes('as=localhost') ? 'localhost' : '127.0.0.1';
    res.writeHead(200, { 'content-type': 'text/html' }).end(attackerPage(`http://${host}:${collectorPort}`, `http://${host}:${proxyPort}`));
  });
  await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
  attackerOrigin = `http://evil.attacker.example:${(attacker.address() as AddressInfo).port}`;
  profile = mkdtempSync(path.join(os.tmpdir(), 'llmeter-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      ...CHROMIUM_ARGS,
      // The attacker's names resolve to this machine, as a DNS-rebinding attack makes them.
      '--host-resolver-rules=MAP evil.attacker.example 127.0.0.1, MAP rebind.attacker.example 127.0.0.1',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => attacker?.close(r));
  await collector?.shutdown();
  await new Promise((r) => modelServer?.close(r));
  if (config) rmSync(config.store.data_dir, { recursive: true, force: true });
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('a page from another origin', () => {
  it.each(['127.0.0.1', 'localhost'])('cannot delete rows, inject rows or read answers through the collector at %s', async (as) => {
    const page = await browser.newPage();
    await page.goto(`${attackerOrigin}/?as=${as}`);
    await page.waitForFunction(() => (globalThis as { results?: unknown }).results !== undefined, undefined, { timeout: 15_000 });
    const results = await page.evaluate(() => (globalThis as unknown as { results: Record<string, string> }).results);
    await page.close();
    // Opaque answers are all a no-cors request gets; what matters is that nothing happened.
    expect(results['sql-read']).toMatch(/^blocked/);
    expect(results['chargeback-read']).toMatch(/^blocked/);
    expect(results['ingest-cors']).toMatch(/^blocked/);
    expect(results['proxy-read']).toMatch(/^blocked/);
    expect(modelServerHits).toBe(0);
    expect(await count('anon')).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(await count('victim')).toBe(5);
    expect(await count('fake')).toBe(0);
    const metrics = await (await fetch(`http://${collector.address}/metrics`)).text();
    expect(metrics).toMatch(/llmeter_http_refused_total\{reason="origin"\} [1-9]/);
  });
});

describe('DNS rebinding', () => {
  it('a page whose host name now points at the collector reads nothing of it', async () => {
    const page = await browser.newPage();
    for (const p of ['/api/chargeback', '/metrics', '/api/scrape/targets']) {
      const r = await page.goto(`http://rebind.attacker.example:${collectorPort}${p}`);
      expect(r?.status(), p).toBe(403);
      expect(await r?.text()).toMatch(/Host .* is not this endpoint's/);
    }
    // The proxy, listening on loopback, refuses the rebound name too.
    const proxied = await page.goto(`http://rebind.attacker.example:${proxyPort}/api/tags`);
    expect(proxied?.status()).toBe(403);
    expect(modelServerHits).toBe(0);
    // The same pages by address are the local operator's: served.
    expect((await page.goto(`http://127.0.0.1:${collectorPort}/metrics`))?.status()).toBe(200);
    expect((await page.goto(`http://127.0.0.1:${proxyPort}/api/tags`))?.status()).toBe(200);
    await page.close();
  });
});
