// `llmeter prices …` as a user runs it: child processes with a real embedded store, syncing from a
// local server that answers with the captured payloads, then asking for as-of prices and costs.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/store.ts';
import { fakeServer, fixture, send, type FakeServer } from './helpers.ts';

const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin', 'llmeter.js');
const dataDir = tempDir();
const configFile = path.join(dataDir, 'llmeter.yaml');
let server: FakeServer;

function llmeter(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, LLMETER_DATA_DIR: dataDir, LLMETER_LOG_LEVEL: 'error', LLMETER_CONFIG: configFile };
    const child = spawn(process.execPath, [bin, ...args], { cwd: dataDir, env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

beforeAll(async () => {
  server = await fakeServer((req, res) => {
    if (req.url.startsWith('/lambda')) return send(res, 200, fixture('lambda-instance-types-response.json'));
    send(res, 200, fixture('aws-spot-price-history-response.xml'), 'text/xml');
  });
  writeFileSync(configFile, [
    'store:',
    '  ttl_days: { raw: 0, reference: 0, rollup: 0 }',
    'prices:',
    '  sources:',
    '    aws_spot:',
    '      regions: [us-west-2]',
    '      instance_types: [m3.medium]',
    '      credentials: { access_key_id: AKIDEXAMPLE, secret_access_key: fake-secret }',
    '',
  ].join('\n'));
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

  it('sync lambda, then an unknown source is a usage error', async () => {
    const r = await llmeter(['prices', 'sync', 'lambda', '--endpoint', `${server.url}/lambda`]);
    expect(r.out).toMatch(/^lambda: ok .* 3 changes written/);
    const bad = await llmeter(['prices', 'sync', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/unknown source "nope"; expected one of aws-spot, aws-on-demand, azure, gcp, runpod, vast, lambda, book/);
  }, 60_000);
});
