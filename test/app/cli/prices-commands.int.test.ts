// `llmeter prices …` as a user runs it: child processes with a real embedded store, syncing from a
// local server that answers with the captured payloads, then asking for as-of prices and costs.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/store.ts';
import { LlmeterChild } from '../../helpers/llmeter-child.ts';
import { fakeServer, fixture, send, type FakeServer } from '../../helpers/prices.ts';
import { LLMETER_BIN } from '../../helpers/paths.ts';

const dataDir = tempDir();
const configFile = path.join(dataDir, 'llmeter.yaml');
let server: FakeServer;

function llmeter(args: string[], more: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, LLMETER_DATA_DIR: dataDir, LLMETER_LOG_LEVEL: 'error', LLMETER_CONFIG: configFile, ...more };
    const child = spawn(process.execPath, [LLMETER_BIN, ...args], { cwd: dataDir, env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

// Failures a path answers with before it answers well (`/flaky` paths), counted per path.
const failuresLeft = new Map<string, number>();

beforeAll(async () => {
  server = await fakeServer((req, res) => {
    const p = req.url.split('?')[0]!;
    if (p.includes('/hang')) return; // never answers
    if (p.startsWith('/lambda-down')) return send(res, 503, 'upstream unavailable', 'text/plain');
    if (p.startsWith('/lambda-junk')) return send(res, 200, '<html>maintenance</html>', 'text/html');
    const left = failuresLeft.get(p) ?? 0;
    if (left > 0) {
      failuresLeft.set(p, left - 1);
      // A 429 that asks for a pause, then a 500.
      return left % 2 === 0 ? send(res, 429, 'slow down', 'text/plain', { 'retry-after': '0' }) : send(res, 500, 'oops', 'text/plain');
    }
    if (p.startsWith('/lambda')) return send(res, 200, fixture('lambda-instance-types-response.json'));
    if (p.startsWith('/gcp/v1/services/'))
      return send(res, 200, req.url.includes('pageToken=') ? '{"skus": [], "nextPageToken": ""}' : fixture('gcp-billing-catalog-skus-a100-page.json'));
    send(res, 200, fixture('aws-spot-price-history-response.xml'), 'text/xml');
  });
  writeFileSync(
    configFile,
    [
      'store:',
      '  ttl_days: { raw: 0 }',
      'prices:',
      '  book:',
      '    - { instance_type: dgx-a100, capacity_type: on_prem, price: "18250", unit: month, gpu_model: NVIDIA A100, gpu_count: 8 }',
      '  timeout_ms: 500',
      '  retry: { max_attempts: 3, initial_ms: 20, max_ms: 100 }',
      '  sources:',
      '    aws_spot:',
      '      regions: [us-west-2]',
      '      instance_types: [m3.medium]',
      '      credentials: { access_key_id: AKIDEXAMPLE, secret_access_key: fake-secret }',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await server?.close();
});

describe('llmeter prices', () => {
  it('sync aws-spot --endpoint --since --until stores the history', async () => {
    const r = await llmeter(['prices', 'sync', 'aws-spot', '--endpoint', server.url, '--since', '2020-11-01T00:00:00Z', '--until', '2020-11-02T00:00:00Z']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^aws-spot: ok after 1 attempt\(s\), 1 page\(s\); 2 prices fetched, 2 changes written, 0 unchanged/);
  }, 60_000);

  it('at: the price in force at an instant, and none before the first one', async () => {
    const r = await llmeter(['prices', 'at', 'm3.medium', 'us-west-2a', '2020-11-01T21:00:00Z', '--capacity-type', 'spot']);
    expect(r.out).toBe('m3.medium spot us-west-2a at 2020-11-01T21:00:00.000Z: $0.287/h (since 2020-11-01 20:56:05.000 UTC, source aws-spot)\n');
    expect(r.code).toBe(0);
    const before = await llmeter(['prices', 'at', 'm3.medium', 'us-west-2a', '2020-11-01T20:00:00Z', '--capacity-type', 'spot', '--json']);
    expect(before.code).toBe(4);
    expect(JSON.parse(before.out)).toMatchObject({ provider: 'aws', region: 'us-west-2', price: null });
  }, 60_000);

  it('cost: a half-hour spot segment priced exactly', async () => {
    const r = await llmeter(['prices', 'cost', 'm3.medium', 'us-west-2a', '2020-11-01T20:56:05Z', '2020-11-01T21:26:05Z', '--capacity-type', 'spot', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ cost: '0.1435', priced_ms: 1_800_000, unpriced_ms: 0, sources: ['aws-spot'] });
  }, 60_000);

  it('sync book, then at: the documented book entry (in force since 2000) is the price today, with the default retention', async () => {
    const r = await llmeter(['prices', 'sync', 'book']);
    expect(r.out).toMatch(/^book: ok .* 1 changes written/);
    const at = await llmeter(['prices', 'at', 'dgx-a100', '-', 'now', '--provider', 'book', '--capacity-type', 'on_prem', '--json']);
    expect(at.code).toBe(0);
    expect(JSON.parse(at.out)).toMatchObject({ price: { source: 'book', effective_from: '2000-01-01 00:00:00.000' } });
  }, 60_000);

  it('sync lambda, then an unknown source is a usage error', async () => {
    const r = await llmeter(['prices', 'sync', 'lambda', '--endpoint', `${server.url}/lambda`]);
    expect(r.out).toMatch(/^lambda: ok .* 3 changes written/);
    const bad = await llmeter(['prices', 'sync', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/unknown source "nope"; expected one of aws-spot, aws-on-demand, azure, gcp, runpod, vast, lambda, book/);
  }, 60_000);
});

describe('llmeter prices: one name per source', () => {
  it('sync gcp stores its rows as source gcp, and prices at finds them (on-demand unless asked)', async () => {
    const r = await llmeter(['prices', 'sync', 'gcp', '--endpoint', `${server.url}/gcp`]);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^gcp: ok after 1 attempt\(s\), 2 page\(s\)/);
    const at = await llmeter(['prices', 'at', 'a2-highgpu-1g', 'us-central1-a', '2026-01-01T00:00:00Z', '--json']);
    expect(at.code).toBe(0);
    expect(JSON.parse(at.out)).toMatchObject({
      provider: 'gcp',
      region: 'us-central1',
      capacity_type: 'on_demand',
      price: { usd_per_hour: '3.673385', source: 'gcp' },
    });
  }, 60_000);
});

describe('llmeter prices sync: retries run to their end, a failure exits 1 with one line', () => {
  const oneLine = (s: string) => s.trim().split('\n');

  it('a 429 (with Retry-After) and a 500, then a good answer: ok after 3 attempts, exit 0', async () => {
    failuresLeft.set('/lambda-flaky', 2);
    const r = await llmeter(['prices', 'sync', 'lambda', '--endpoint', `${server.url}/lambda-flaky`]);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^lambda: ok after 3 attempt\(s\)/);
    expect(r.code).toBe(0);
  }, 60_000);

  it('a source that stays down: FAILED after every attempt, exit 1', async () => {
    const r = await llmeter(['prices', 'sync', 'lambda', '--endpoint', `${server.url}/lambda-down`]);
    expect(r.code).toBe(1);
    expect(oneLine(r.out)).toEqual([expect.stringMatching(/^lambda: FAILED after 3 attempt\(s\)/)]);
    expect(oneLine(r.err)).toEqual([expect.stringMatching(/^llmeter: .*answered 503/)]);
  }, 60_000);

  it('an answer that is not JSON is retried, then FAILED, exit 1', async () => {
    const r = await llmeter(['prices', 'sync', 'lambda', '--endpoint', `${server.url}/lambda-junk`]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^lambda: FAILED after 3 attempt\(s\)/);
    expect(oneLine(r.err)).toEqual([expect.stringMatching(/not JSON/)]);
  }, 60_000);

  it('a source that never answers times out on every attempt (prices.timeout_ms): FAILED, exit 1', async () => {
    const r = await llmeter(['prices', 'sync', 'lambda', '--endpoint', `${server.url}/lambda/hang`]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^lambda: FAILED after 3 attempt\(s\)/);
  }, 60_000);

  it('AWS honours prices.timeout_ms too', async () => {
    const t0 = Date.now();
    const r = await llmeter(['prices', 'sync', 'aws-spot', '--endpoint', `${server.url}/aws/hang`, '--since', '2020-11-01T00:00:00Z']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^aws-spot: FAILED after 3 attempt\(s\)/);
    expect(oneLine(r.err)).toHaveLength(1);
    expect(Date.now() - t0).toBeLessThan(20_000);
  }, 60_000);

  it('AWS without credentials fails at once, saying so', async () => {
    const bare = path.join(dataDir, 'no-credentials.yaml');
    writeFileSync(bare, ['store:', '  ttl_days: { raw: 0 }', 'prices:', '  retry: { max_attempts: 3, initial_ms: 20, max_ms: 100 }', ''].join('\n'));
    const noAws = {
      LLMETER_CONFIG: bare,
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_PROFILE: 'llmeter-test-none',
      AWS_SHARED_CREDENTIALS_FILE: path.join(dataDir, 'none'),
      AWS_CONFIG_FILE: path.join(dataDir, 'none'),
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    const r = await llmeter(['prices', 'sync', 'aws-spot', '--endpoint', server.url], noAws);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^aws-spot: FAILED after 1 attempt\(s\)/);
    expect(oneLine(r.err)).toEqual([expect.stringMatching(/credentials/i)]);
  }, 60_000);

  it('Ctrl-C during a sync stops it at once: nothing written, one line, exit 1', async () => {
    // A long timeout, so only the signal can end the request.
    const slow = path.join(dataDir, 'slow.yaml');
    writeFileSync(slow, ['store:', '  ttl_days: { raw: 0 }', 'prices:', '  timeout_ms: 600000', ''].join('\n'));
    const hangs = () => server.requests.filter((q) => q.url.endsWith('/lambda/hang')).length;
    const before = hangs();
    const c = new LlmeterChild(
      ['prices', 'sync', 'lambda', '--endpoint', `${server.url}/lambda/hang`],
      { LLMETER_DATA_DIR: dataDir, LLMETER_LOG_LEVEL: 'error', LLMETER_CONFIG: slow },
      dataDir,
    );
    await c.until(() => hangs() > before, 'the request');
    c.kill('SIGINT');
    expect(await c.exit(15_000)).toEqual({ code: 1, signal: null });
    expect(c.stdout).toMatch(/^lambda: FAILED after 1 attempt\(s\)/);
    expect(oneLine(c.stderr)).toEqual([expect.stringMatching(/stopped by SIGINT/)]);
  }, 60_000);
});
