// An edge (transport kafka, consume: false) as a user runs it — `llmeter start` in a process of its
// own with its own data directory — takes records through its ingest API and through `llmeter
// ingest` (by way of the running edge, and on its own once the edge has stopped). Every one of them
// must reach the topics and the central collector's store (this process), and none the edge's own.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { count, testConfig } from '../../helpers/store.ts';
import { startBroker, type Broker } from './broker.ts';
import { removeScratch, scratchDir } from './harness.ts';
import { LLMETER_BIN } from '../../helpers/paths.ts';
import { waitFor } from '../../helpers/wait.ts';

let broker: Broker;
let central: Collector;
let edgeDir: string;
let edge: ChildProcess | undefined;
let edgeBase = '';

function lines(tenant: string, n: number): string {
  const t0 = Date.now() - 60_000;
  return (
    Array.from({ length: n }, (_, i) => JSON.stringify({ ts: t0 + i, request_id: `${tenant}-${i}`, tenant, model: 'm', output_tokens: 1 })).join('\n') + '\n'
  );
}

function edgeEnv() {
  return { ...process.env, LLMETER_CONFIG: path.join(edgeDir, 'llmeter.yaml'), LLMETER_DATA_DIR: edgeDir, LLMETER_LOG_LEVEL: 'warn' };
}

async function startEdge(): Promise<void> {
  const child = spawn(process.execPath, [LLMETER_BIN, 'start', '--listen', '127.0.0.1:0'], { cwd: edgeDir, env: edgeEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  edge = child;
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
    edgeOut += d;
  });
  child.stderr!.on('data', () => undefined);
  edgeBase = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the edge printed no address: ${out}`)), 60_000);
    child.stdout!.on('data', () => {
      const m = /http:\s+(http:\/\/[\d.:]+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
  });
}

let edgeOut = '';

async function stopEdge(): Promise<number | null> {
  const child = edge!;
  edge = undefined;
  child.kill('SIGTERM');
  return new Promise((r) => child.on('exit', r));
}

const inCentral = (tenant: string) => count(central.store, `${central.store.database}.llm_requests WHERE tenant = '${tenant}'`);

beforeAll(async () => {
  broker = await startBroker();
  const kafka = {
    brokers: [broker.bootstrap],
    topic_prefix: 'edge',
    group_id: 'edge-central',
    spool_dir: scratchDir('llmeter-spool-central-'),
    topics: { partitions: 2 },
    producer: { linger_ms: 20 },
    consumer: { session_timeout_ms: 10_000, heartbeat_interval_ms: 1_000 },
  };
  central = await startCollector(testConfig({ pipeline: { batch_ms: 50 }, transport: { kind: 'kafka', kafka } }), silentLogger, {
    withoutFeatures: true,
    withoutHttp: true,
  });
  edgeDir = scratchDir('llmeter-edge-');
  writeFileSync(
    path.join(edgeDir, 'llmeter.yaml'),
    [
      'store:',
      '  ttl_days: { raw: 0, reference: 0, rollup: 0 }',
      'transport:',
      '  kind: kafka',
      '  kafka:',
      `    brokers: [${JSON.stringify(broker.bootstrap)}]`,
      '    topic_prefix: edge',
      '    consume: false',
      `    spool_dir: ${JSON.stringify(path.join(edgeDir, 'spool'))}`,
      '    topics: { partitions: 2 }',
      '    producer: { linger_ms: 20 }',
      '',
    ].join('\n'),
  );
  await startEdge();
}, 180_000);

afterAll(async () => {
  if (edge) await stopEdge();
  await central?.shutdown();
  await broker?.destroy();
  removeScratch();
});

it("the edge's ingest API publishes to Kafka: the central store has the records, the edge's own none", async () => {
  const res = await fetch(`${edgeBase}/api/v1/ingest/llm_request`, {
    method: 'POST',
    body: lines('edge-api', 300),
    headers: { 'content-type': 'application/x-ndjson' },
  });
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ accepted: 300, rejected: 0 });
  await waitFor('the records in the central store', async () => (await inCentral('edge-api')) === 300);
  const own = await fetch(`${edgeBase}/api/sql?format=JSONEachRow`, {
    method: 'POST',
    body: "SELECT count() AS n FROM llm_requests WHERE tenant = 'edge-api'",
    headers: { 'content-type': 'application/sql' },
  });
  expect(await own.json()).toEqual({ n: '0' });
});

it('llmeter ingest on an edge publishes to Kafka, through the running edge and on its own', async () => {
  writeFileSync(path.join(edgeDir, 'through.ndjson'), lines('edge-cli-running', 120));
  const through = spawnSync(process.execPath, [LLMETER_BIN, 'ingest', 'llm_request', path.join(edgeDir, 'through.ndjson')], {
    cwd: edgeDir,
    env: edgeEnv(),
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(through.status, through.stderr).toBe(0);
  expect(through.stdout).toContain('llm_request: 120 accepted, 0 rejected');
  expect(await stopEdge()).toBe(0);
  // The exit line says where the records went: all sent, nothing left in the spool.
  expect(edgeOut).toMatch(/llmeter stopped: 0 rows written, 0 dropped, 0 spilled to disk; Kafka: 420 records sent, 0 left in the spool/);
  writeFileSync(path.join(edgeDir, 'alone.ndjson'), lines('edge-cli-alone', 80));
  const alone = spawnSync(process.execPath, [LLMETER_BIN, 'ingest', 'llm_request', path.join(edgeDir, 'alone.ndjson')], {
    cwd: edgeDir,
    env: edgeEnv(),
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(alone.status, alone.stderr).toBe(0);
  expect(alone.stdout).toContain('llm_request: 80 accepted, 0 rejected');
  await waitFor('both loads in the central store', async () => (await inCentral('edge-cli-running')) === 120 && (await inCentral('edge-cli-alone')) === 80);
});
