// The chargeback as users get it: the HTTP API with tenant isolation, CSV, and the HTML page checked
// in a real headless Chromium.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { keyDigestHex } from '../../../collector/core/security/keys.ts';
import { testConfig } from '../../helpers/store.ts';
import { FleetBuilder, H } from '../../helpers/cost-fleet.ts';
import { ARTIFACTS } from '../../helpers/paths.ts';
import { CHROMIUM, CHROMIUM_ARGS } from '../../helpers/chromium.ts';

const T = Date.UTC(2026, 9, 20, 10);
const keys = { admin: 'admin-key-0123456789', acme: 'acme-key-0123456789', globex: 'globex-key-0123456789' };
let c: Collector;
let base: string;

beforeAll(async () => {
  c = await startCollector(
    testConfig({
      pipeline: { batch_ms: 10 },
      http: { admin_keys: [`sha256:${keyDigestHex(keys.admin)}`] },
      proxy: {
        tenants: [
          { name: 'acme', keys: [`sha256:${keyDigestHex(keys.acme)}`] },
          { name: 'globex', keys: [`sha256:${keyDigestHex(keys.globex)}`] },
        ],
      },
    }),
    silentLogger,
  );
  base = `http://${c.address}`;
  const f = new FleetBuilder()
    .node({ node: 'r-1', instance_type: 'g5.xlarge', up: [[T, T + 2 * H]] })
    .price({ instance_type: 'g5.xlarge', from: T - H, usd: '1.006' });
  for (let i = 0; i < 6; i++) f.request({ tenant: 'acme', node: 'r-1', at: T + i * 600_000, gpuSeconds: 240, model: i % 2 ? 'llama3.2:3b' : 'qwen2.5:7b' });
  for (let i = 0; i < 3; i++) f.request({ tenant: 'globex', node: 'r-1', at: T + H + i * 600_000, gpuSeconds: 500, model: 'llama3.2:3b' });
  await f.load(c.pipeline);
});
afterAll(async () => c?.shutdown());

interface Body {
  tenants: { tenant: string; groups: { dims: Record<string, string> }[] }[];
  totals?: Record<string, string>;
  error?: string;
}
const json = async (r: Response) => (await r.json()) as Body;
const get = (q: string, key?: string) => fetch(`${base}/api/chargeback?${q}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
const period = `from=${new Date(T).toISOString()}&to=${new Date(T + 2 * H).toISOString()}`;

describe('GET /api/chargeback', () => {
  it('a tenant key sees only its own tenant, never the others or the fleet totals', async () => {
    const r = await get(`${period}&idle=share-weighted`, keys.acme);
    expect(r.status).toBe(200);
    const body = await json(r);
    expect(body.tenants.map((t) => t.tenant)).toEqual(['acme']);
    expect(body.totals).toBeUndefined();
    expect((await get(`${period}&tenant=globex`, keys.acme)).status).toBe(403);
    expect((await get(`${period}&tenant=acme,globex`, keys.acme)).status).toBe(403);
  });

  it('an admin key sees every tenant and the reconciliation', async () => {
    const body = await json(await get(`${period}&idle=share-weighted&group_by=model`, keys.admin));
    expect(body.tenants.map((t) => t.tenant)).toEqual(['acme', 'globex']);
    expect(body.totals).toMatchObject({ fleet_cost: '2.01', unshared_idle: '0.00', reconciliation: '0.00' });
    expect(body.tenants[0]!.groups.map((g) => g.dims.model)).toEqual(['llama3.2:3b', 'qwen2.5:7b']);
  });

  it('refuses unknown keys and bad parameters with the reason', async () => {
    expect((await get(period)).status).toBe(401);
    expect((await get(period, 'nope')).status).toBe(401);
    const bad = await get(`from=yesterday&to=2026-10-21`, keys.admin);
    expect(bad.status).toBe(400);
    expect((await json(bad)).error).toBe('from: not a date or time: "yesterday"');
    expect((await json(await get(`${period}&idle=greedy`, keys.admin))).error).toMatch(/^idle: expected one of separate, share-weighted, share-even/);
    expect((await json(await get(`${period}&group_by=colour`, keys.admin))).error).toMatch(/^group-by: expected some of/);
    expect((await get(`from=2026-10-21&to=2026-10-20`, keys.admin)).status).toBe(400);
  });

  it('CSV has a line per tenant and the totals', async () => {
    const text = await (await get(`${period}&format=csv`, keys.admin)).text();
    const lines = text.trim().split('\n');
    // The first columns as they always were; what came later is added after them.
    expect(lines[0]).toBe(
      'line,tenant,requests,errors,input_tokens,output_tokens,cached_tokens,gpu_seconds,usage_cost_usd,idle_share_usd,total_usd,usd_per_million_tokens,basis,' +
        'total_exact_usd,node_pool,device_hours,idle_resident_usd,fallback_minutes,unpriced_minutes,instance_type,provider,region,capacity_type,message',
    );
    expect(lines.filter((l) => l.startsWith('tenant,'))).toHaveLength(2);
    expect(lines.filter((l) => l.startsWith('node,r-1,'))).toHaveLength(1);
    expect(lines.at(-1)).toBe('total,reconciliation,,,,,,,,,0.00,,' + ','.repeat(11));
    expect(lines.find((l) => l.startsWith('total,fleet_cost'))).toContain(',2.01,');
  });

  it('the HTML page renders in Chromium with totals and charts', async () => {
    const html = await (await get(`${period}&format=html&idle=share-weighted`, keys.admin)).text();
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [...CHROMIUM_ARGS],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      // No network: the page must be self-contained.
      await page.route('**/*', (route) => (route.request().url().startsWith('data:') ? route.continue() : route.abort()));
      await page.setContent(html, { waitUntil: 'load' });
      expect(await page.textContent('#fleet-cost')).toBe('$2.01');
      expect(await page.textContent('#reconciliation')).toBe('$0.00');
      expect(await page.locator('#tenants tbody tr').count()).toBe(2);
      expect(await page.locator('#chart-tenants rect.bar').count()).toBe(2);
      expect(await page.locator('#chart-days rect.bar').count()).toBe(1);
      expect(await page.locator('#chart-models rect.bar').count()).toBe(2);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'chargeback-report.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
