// `llmeter prices watch`: the interruption watchers tried without `llmeter start`, as child
// processes against local metadata services answering with the captured notices.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/store.ts';
import { LlmeterChild, runLlmeter } from '../../helpers/llmeter-child.ts';
import { fakeServer, fixture, send, type FakeServer } from '../../helpers/prices.ts';

let imds: FakeServer;
let gcp: FakeServer;
const dataDir = tempDir();
// The captured notice is AWS's documented example, dated 2017: the reference retention a user gets
// would refuse it, so this test keeps events forever.
const configFile = path.join(dataDir, 'llmeter.yaml');
writeFileSync(configFile, 'store:\n  ttl_days: { raw: 0, reference: 0 }\n');
const env = { LLMETER_DATA_DIR: dataDir, LLMETER_LOG_LEVEL: 'error', LLMETER_CONFIG: configFile };

beforeAll(async () => {
  imds = await fakeServer((req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token') return send(res, 200, 'token-1', 'text/plain');
    if (req.headers['x-aws-ec2-metadata-token'] !== 'token-1') return send(res, 401, '', 'text/plain');
    const p = req.url.replace('/latest/meta-data/', '');
    if (p === 'instance-id') return send(res, 200, 'i-1234567890abcdef0', 'text/plain');
    if (p === 'spot/instance-action') return send(res, 200, fixture('aws-imds-spot-instance-action-terminate.json'), 'text/plain');
    send(res, 404, '<?xml version="1.0"?><html>404 - Not Found</html>', 'text/html');
  });
  // GCE metadata: not preempted; an unchanged value answers its hanging GET after a short pause.
  gcp = await fakeServer((req, res) => {
    if (req.headers['metadata-flavor'] !== 'Google') return send(res, 403, 'Missing Metadata-Flavor:Google header.', 'text/html');
    const u = new URL(req.url, 'http://x');
    if (u.pathname === '/computeMetadata/v1/instance/id') return send(res, 200, '4520031799277581759', 'application/text');
    const etag = 'c4ca4238a0b92382';
    setTimeout(() => send(res, 200, 'FALSE', 'application/text', { etag }), u.searchParams.get('last_etag') === etag ? 50 : 0);
  });
});

afterAll(async () => {
  await Promise.all([imds?.close(), gcp?.close()]);
});

describe('llmeter prices watch', () => {
  it('--once polls each watcher once, prints and stores what it found, and exits 0', async () => {
    const r = await runLlmeter(['prices', 'watch', '--once', '--watcher', 'aws_imds', '--endpoint', imds.url], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('spot_interruption from aws imds: instance i-1234567890abcdef0, action terminate at 2017-09-18T08:22:00.000Z');
    expect(r.stdout).toMatch(/^aws-imds: ok, 1 notice$/m);
    const q = await runLlmeter(['sql', "SELECT kind, event_id FROM capacity_events FINAL WHERE kind = 'spot_interruption'"], env);
    expect(q.stdout.trim().split('\n').slice(1)).toEqual(['spot_interruption\taws-imds:i-1234567890abcdef0:instance-action:terminate:2017-09-18T08:22:00Z']);
  }, 60_000);

  it('--once against a metadata service that is not there: one FAILED line, exit 1', async () => {
    const down = await fakeServer((_req, res) => send(res, 500, 'oops', 'text/plain'));
    await down.close();
    const r = await runLlmeter(['prices', 'watch', '--once', '--watcher', 'gcp_metadata', '--endpoint', down.url], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^gcp-metadata: FAILED/m);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  }, 60_000);

  it('without --once it keeps polling until Ctrl-C, then exits 0', async () => {
    const before = gcp.requests.length;
    const c = new LlmeterChild(['prices', 'watch', '--watcher', 'gcp_metadata', '--endpoint', gcp.url], env);
    await c.until(() => c.stdout.includes('Ctrl-C to stop'), 'the banner');
    await c.until(() => gcp.requests.length - before >= 4, 'several polls');
    expect(c.running).toBe(true);
    c.kill('SIGINT');
    expect(await c.exit()).toEqual({ code: 0, signal: null });
  }, 60_000);

  it('an unknown watcher, or --endpoint for several, is a usage error', async () => {
    const bad = await runLlmeter(['prices', 'watch', '--once', '--watcher', 'nope'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown watcher "nope"; expected aws_imds, gcp_metadata, azure_scheduled_events, eventbridge/);
    const two = await runLlmeter(['prices', 'watch', '--once', '--watcher', 'aws_imds', 'gcp_metadata', '--endpoint', imds.url], env);
    expect(two.code).toBe(2);
    const none = await runLlmeter(['prices', 'watch', '--once'], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no interruption watcher/);
  }, 60_000);
});
