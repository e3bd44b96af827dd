// `llmeter report chargeback` as a user runs it, on canonical records loaded by `llmeter ingest`:
// what the bill could not price is warned about on stderr, one line per gap, and a bill with
// unpriced node-minutes exits with its own status (4) unless the user accepts it.
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyDigestHex } from '../../../collector/core/security/keys.ts';
import type { ChargebackReport } from '../../../collector/features/cost/chargeback.ts';
import { FleetBuilder, H, M } from '../../helpers/cost-fleet.ts';
import { LlmeterChild, runLlmeter } from '../../helpers/llmeter-child.ts';
import { tempDir } from '../../helpers/store.ts';

const dataDir = tempDir();
const adminKey = 'admin-key-0123456789';
// The admin key lets the command read the chargeback of a running collector (tenant keys exist).
const env = { LLMETER_DATA_DIR: dataDir, LLMETER_LOG_LEVEL: 'warn', LLMETER_ADMIN_KEY: adminKey };
const config = path.join(dataDir, 'llmeter.yaml');
// Two hours: the first has an unpriced node and requests on a node with no inventory; the second
// is fully priced.
const T = Date.UTC(2026, 10, 3, 10);
const gappy = ['--from', new Date(T).toISOString(), '--to', new Date(T + H).toISOString()];
const clean = ['--from', new Date(T + 2 * H).toISOString(), '--to', new Date(T + 3 * H).toISOString()];
const report = (args: string[]) => runLlmeter(['--config', config, 'report', 'chargeback', ...args], env);

beforeAll(async () => {
  writeFileSync(
    config,
    [
      'store:',
      '  ttl_days: { raw: 0, reference: 0, rollup: 0 }',
      'http:',
      `  admin_keys: ["sha256:${keyDigestHex(adminKey)}"]`,
      'proxy:',
      '  anonymous_tenant: anonymous',
      '  tenants:',
      `    - { name: acme, keys: ["sha256:${keyDigestHex('acme-key-0123456789')}"] }`,
      `    - { name: idle-co, keys: ["sha256:${keyDigestHex('idle-key-0123456789')}"] }`,
      '',
    ].join('\n'),
  );
  const f = new FleetBuilder()
    .node({ node: 'priced-1', instance_type: 'g5.xlarge', up: [[T, T + 3 * H]] })
    .price({ instance_type: 'g5.xlarge', from: T - H, usd: '2.00' })
    .node({ node: 'free-1', instance_type: 'l40s-box', up: [[T, T + 30 * M]] })
    .request({ tenant: 'acme', node: 'priced-1', at: T, gpuSeconds: 900 })
    .request({ tenant: 'acme', node: 'priced-1', at: T + 2 * H, gpuSeconds: 900 })
    .request({ tenant: 'anonymous', node: 'ghost', at: T, gpuSeconds: 10 });
  const files: [string, unknown[]][] = [
    ['node', f.nodes],
    ['gpu_sample', f.samples],
    ['price_point', f.prices],
    ['llm_request', f.requests],
  ];
  for (const [signal, rows] of files) {
    const file = path.join(dataDir, `${signal}.ndjson`);
    writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const r = await runLlmeter(['--config', config, 'ingest', signal, file], env);
    expect(r.code, r.stderr).toBe(0);
  }
}, 120_000);

describe('llmeter report chargeback', () => {
  it('warns on stderr about each gap and exits 4 when node-minutes had no price', async () => {
    const r = await report(gappy);
    expect(r.code, r.stderr).toBe(4);
    const warnings = r.stderr.trim().split('\n');
    expect(warnings.filter((l) => l.startsWith('llmeter: warning: '))).toHaveLength(2);
    expect(r.stderr).toMatch(/^llmeter: warning: node free-1 \(l40s-box, aws us-east-1, on_demand\): 30 node-minutes had no price/m);
    expect(r.stderr).toMatch(/^llmeter: warning: 1 request ran on node ghost, which has no inventory/m);
    expect(warnings.at(-1)).toMatch(
      /^llmeter: 30 node-minutes of this period had no price: the bill is incomplete \(exit status 4; --allow-unpriced accepts it\)$/,
    );
    // The CSV (the default format) names the gaps too.
    expect(r.stdout).toMatch(/^unpriced,free-1,/m);
    expect(r.stdout).toMatch(/^unattributed,ghost,1,/m);
  });

  it('--allow-unpriced accepts an incomplete bill: still warned, exit 0', async () => {
    const r = await report([...gappy, '--allow-unpriced', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/llmeter: warning: node free-1/);
    expect(JSON.parse(r.stdout)).toMatchObject({ totals: { unpriced_minutes: 30, unattributed_requests: 1 } });
  });

  it('configured tenants with no traffic, the anonymous tenant among them, are on the bill at 0.00', async () => {
    const r = await report(clean);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const tenants = r.stdout.split('\n').filter((l) => l.startsWith('tenant,'));
    expect(tenants.map((l) => l.split(',').slice(0, 2).concat(l.split(',')[10]!))).toEqual([
      ['tenant', 'acme', '0.50'],
      ['tenant', 'anonymous', '0.00'],
      ['tenant', 'idle-co', '0.00'],
    ]);
  });

  it('through a running collector: the same warnings and exit status', async () => {
    const c = new LlmeterChild(['--config', config, 'start', '--listen', '127.0.0.1:0'], env);
    try {
      await c.until(() => c.stdout.includes('Press Ctrl-C to stop'), 'the collector to start');
      const r = await report(gappy);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toMatch(/^llmeter: warning: node free-1 /m);
      expect(r.stdout).toMatch(/^tenant,idle-co,/m);
      const ok = await report(clean);
      expect(ok.code, ok.stderr).toBe(0);
    } finally {
      c.kill('SIGINT');
      await c.exit();
    }
  });
});

describe('the fix a warning gives works as written', () => {
  it('the price-book entry from the report, with a price filled in, prices the node', async () => {
    const before = JSON.parse((await report([...gappy, '--allow-unpriced', '--format', 'json'])).stdout) as ChargebackReport;
    const gap = before.price_gaps.find((g) => g.node === 'free-1')!;
    appendFileSync(config, gap.book_entry.replace('"<USD>"', '"1.50"'));
    const sync = await runLlmeter(['--config', config, 'prices', 'sync', 'book'], env);
    expect(sync.code, sync.stderr).toBe(0);
    const r = await report([...gappy, '--format', 'json']);
    // Priced now: exit 0; the request on the node with no inventory is still warned about.
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/free-1/);
    expect(r.stderr).toMatch(/node ghost/);
    const after = JSON.parse(r.stdout) as ChargebackReport;
    expect(after.price_gaps).toEqual([]);
    expect(after.nodes.find((n) => n.node === 'free-1')).toMatchObject({ cost: '0.75', unpriced_minutes: 0 });
  });
});

afterAll(() => undefined);
