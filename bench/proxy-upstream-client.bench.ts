// Which HTTP client the proxy should forward with: the CPU each request costs the caller, and its
// latency, for undici's Pool (dispatch with a raw handler, as the proxy uses it; and request) and
// node:http with a keep-alive Agent, against the same paced upstream.
//
//   node bench/proxy-upstream-client.bench.ts [--requests 20000] [--concurrency 32]
import { spawn, spawnSync } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import path from 'node:path';
import { Pool, type Dispatcher } from 'undici';

const ROOT = path.resolve(import.meta.dirname, '..');
function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
}
const REQUESTS = arg('requests', 20000);
const CONCURRENCY = arg('concurrency', 32);
const HAS_TASKSET = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const BODY = Buffer.from(JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'hi' }] }));
const HEADERS = { 'content-type': 'application/json', 'content-length': String(BODY.length) };

type Send = () => Promise<void>;

function undiciDispatch(pool: Pool): Send {
  return () =>
    new Promise((resolve, reject) => {
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart() {},
        onResponseData() {},
        onResponseEnd: () => resolve(),
        onResponseError: (_c, err) => reject(err),
      };
      pool.dispatch({ method: 'POST', path: '/v1/chat/completions', headers: HEADERS, body: BODY }, handler);
    });
}

function undiciRequest(pool: Pool): Send {
  return async () => {
    const r = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: HEADERS, body: BODY });
    for await (const _ of r.body) {
      // drain
    }
  };
}

function nodeHttp(port: number, agent: Agent): Send {
  return () =>
    new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions', headers: HEADERS, agent }, (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve());
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(BODY);
    });
}

async function run(send: Send): Promise<{ cpuUsPerReq: number; rps: number }> {
  for (let i = 0; i < 500; i++) await send();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let left = REQUESTS;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (left-- > 0) await send();
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return { cpuUsPerReq: (cpu.user + cpu.system) / REQUESTS, rps: REQUESTS / ((performance.now() - t0) / 1000) };
}

async function main(): Promise<void> {
  const argv = ['bench/upstream/paced-upstream.ts'];
  const child = HAS_TASKSET ? spawn('taskset', ['-c', '0', process.execPath, ...argv], { cwd: ROOT }) : spawn(process.execPath, argv, { cwd: ROOT });
  const port = await new Promise<number>((resolve) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
  });
  if (HAS_TASKSET) spawnSync('taskset', ['-p', '-c', '1', String(process.pid)]);
  try {
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY, pipelining: 1 });
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const results: [string, { cpuUsPerReq: number; rps: number }][] = [];
    results.push(['undici Pool.dispatch (raw handler)', await run(undiciDispatch(pool))]);
    results.push(['undici Pool.request', await run(undiciRequest(pool))]);
    results.push(['node:http + keep-alive Agent', await run(nodeHttp(port, agent))]);
    await pool.close();
    agent.destroy();
    const base = results[0]![1].cpuUsPerReq;
    process.stdout.write(
      `upstream client: ${REQUESTS} requests at ${CONCURRENCY} concurrent, non-streamed chat completion; client on CPU 1, upstream on CPU 0${HAS_TASKSET ? '' : ' (no taskset: unpinned)'}\n`,
    );
    process.stdout.write('| client | CPU µs / request | ratio | req/s |\n|---|---|---|---|\n');
    for (const [name, r] of results)
      process.stdout.write(`| ${name} | ${r.cpuUsPerReq.toFixed(1)} | ${(r.cpuUsPerReq / base).toFixed(2)} | ${r.rps.toFixed(0)} |\n`);
  } finally {
    child.kill();
  }
}

await main();
