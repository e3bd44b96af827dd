// What the metering proxy costs a request: the same load against (a) the upstream directly,
// (b) `llmeter proxy` in front of it (a real collector: records go to the embedded ClickHouse),
// (c) the LiteLLM proxy in front of it when it is installed. One run on loopback; the upstream
// streams N tokens at a fixed cadence (bench/upstream/paced-upstream.ts).
//
//   node bench/proxy.bench.ts [--requests 2000] [--streams 200] [--seconds 5] [--concurrency 32]
//                             [--tokens 16] [--cadence-ms 1] [--litellm .cache/litellm-venv/bin/litellm]
//
// With `taskset` present, the proxy under test runs on CPU 1 and the upstream and load on CPU 0.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { keyDigestHex } from '../collector/security/keys.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const NODE = process.execPath;

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
}
function sarg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1]!;
}

const REQUESTS = arg('requests', 2000);
const STREAMS = arg('streams', 200);
const SECONDS = arg('seconds', 5);
const CONCURRENCY = arg('concurrency', 32);
const TOKENS = arg('tokens', 16);
const CADENCE = arg('cadence-ms', 1);
const LITELLM = path.resolve(ROOT, sarg('litellm', '.cache/litellm-venv/bin/litellm'));
const HAS_TASKSET = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

// Both proxies check a key on every request, as they would in production.
const KEY = 'sk-bench-0123456789abcdef0123456789abcdef';
const children: ChildProcess[] = [];
const tmp = mkdtempSync(path.join(os.tmpdir(), 'llmeter-bench-proxy-'));

function start(cpu: number, cmd: string, args: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const [file, argv] = HAS_TASKSET ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
  const child = spawn(file, argv, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start in 120 s:\n${out.slice(-2000)}`)), 120_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${cmd} exited with ${code}:\n${out.slice(-2000)}`)));
  });
}

async function waitHttp(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      const r = await fetch(url);
      if (r.status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} never answered`);
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** CPU seconds (user + system) a process has used, from /proc (Linux). */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return undefined;
  }
}

interface Target {
  name: string;
  /** The proxy's process, whose CPU time per request is measured. */
  pid?: number;
  origin: string;
  prefix: string;
  headers: Record<string, string>;
}

interface Figures {
  p50: number;
  p99: number;
  ttft50: number;
  ttft99: number;
  rps: number;
  /** Requests per second one core could serve: requests / the proxy's CPU seconds under load. */
  perCore?: number;
  genP50?: number;
  genP99?: number;
}

function chatBody(stream: boolean): string {
  return JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'Say hello.' }], stream });
}

async function latency(pool: Pool, t: Target, n: number, path_: string, body: string): Promise<number[]> {
  const out: number[] = [];
  const headers = { 'content-type': 'application/json', ...t.headers };
  for (let i = 0; i < n + 100; i++) {
    const t0 = performance.now();
    const r = await pool.request({ method: 'POST', path: path_, headers, body });
    await r.body.text();
    if (r.statusCode !== 200) throw new Error(`${t.name} ${path_}: ${r.statusCode}`);
    if (i >= 100) out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}

async function ttft(pool: Pool, t: Target, n: number): Promise<number[]> {
  const out: number[] = [];
  const headers = { 'content-type': 'application/json', ...t.headers };
  const body = chatBody(true);
  for (let i = 0; i < n + 20; i++) {
    const t0 = performance.now();
    const r = await pool.request({ method: 'POST', path: `${t.prefix}/chat/completions`, headers, body });
    let first = 0;
    for await (const _chunk of r.body) if (first === 0) first = performance.now() - t0;
    if (r.statusCode !== 200) throw new Error(`${t.name} stream: ${r.statusCode}`);
    if (i >= 20) out.push(first);
  }
  return out.sort((a, b) => a - b);
}

async function throughput(pool: Pool, t: Target, seconds: number, concurrency: number): Promise<{ rps: number; perCore?: number }> {
  const headers = { 'content-type': 'application/json', ...t.headers };
  const body = chatBody(false);
  let done = 0;
  const end = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const r = await pool.request({ method: 'POST', path: `${t.prefix}/chat/completions`, headers, body });
      await r.body.text();
      if (r.statusCode === 200) done++;
    }
  };
  const cpu0 = cpuSeconds(t.pid);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const rps = done / ((performance.now() - t0) / 1000);
  const cpu1 = cpuSeconds(t.pid);
  return { rps, perCore: cpu0 !== undefined && cpu1 !== undefined && cpu1 > cpu0 ? done / (cpu1 - cpu0) : undefined };
}

async function measure(t: Target): Promise<Figures> {
  const pool = new Pool(t.origin, { connections: CONCURRENCY, keepAliveTimeout: 60_000 });
  try {
    const lat = await latency(pool, t, REQUESTS, `${t.prefix}/chat/completions`, chatBody(false));
    const tt = await ttft(pool, t, STREAMS);
    const { rps, perCore } = await throughput(pool, t, SECONDS, CONCURRENCY);
    const f: Figures = { p50: pct(lat, 50), p99: pct(lat, 99), ttft50: pct(tt, 50), ttft99: pct(tt, 99), rps, perCore };
    if (t.name !== 'litellm') {
      const gen = await latency(pool, t, REQUESTS, '/api/generate', JSON.stringify({ model: 'bench', prompt: 'hi', stream: false }));
      f.genP50 = pct(gen, 50);
      f.genP99 = pct(gen, 99);
    }
    return f;
  } finally {
    await pool.close();
  }
}

async function main(): Promise<void> {
  const up = await start(0, NODE, ['bench/upstream/paced-upstream.ts', '--tokens', String(TOKENS), '--cadence-ms', String(CADENCE)], /listening (\d+)/);
  const upstream = `http://127.0.0.1:${up.match[1]}`;
  writeFileSync(path.join(tmp, 'llmeter.yaml'), `log_level: warn\nproxy:\n  tenants:\n    - { name: bench, keys: ["sha256:${keyDigestHex(KEY)}"] }\n`);
  const lm = await start(1, NODE, ['bin/llmeter.js', '-c', path.join(tmp, 'llmeter.yaml'), '--data-dir', path.join(tmp, 'data'), 'proxy', '--upstream', upstream, '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0'], /llmeter proxy on (http:\/\/[\d.:]+)/);
  const targets: Target[] = [
    { name: 'direct', origin: upstream, prefix: '/v1', headers: {} },
    { name: 'llmeter', origin: lm.match[1]!, prefix: '/v1', headers: { authorization: `Bearer ${KEY}` }, pid: lm.child.pid },
  ];
  let litellmNote = '';
  if (existsSync(LITELLM)) {
    const port = 40000 + Math.floor(Math.random() * 20000);
    const cfg = path.join(tmp, 'litellm.yaml');
    writeFileSync(cfg, `model_list:\n  - model_name: bench\n    litellm_params:\n      model: openai/bench\n      api_base: ${upstream}/v1\n      api_key: none\ngeneral_settings:\n  master_key: ${KEY}\n`);
    const ll = await start(1, LITELLM, ['--config', cfg, '--host', '127.0.0.1', '--port', String(port), '--num_workers', '1'], /Proxy initialized|Uvicorn running|Application startup complete/, { LITELLM_LOG: 'ERROR', LITELLM_LOCAL_MODEL_COST_MAP: 'True' });
    await waitHttp(`http://127.0.0.1:${port}/health/liveliness`);
    targets.push({ name: 'litellm', origin: `http://127.0.0.1:${port}`, prefix: '/v1', headers: { authorization: `Bearer ${KEY}` }, pid: ll.child.pid });
  } else {
    litellmNote = `LiteLLM not installed at ${path.relative(ROOT, LITELLM)} (see bench/proxy.md): column left out.`;
  }

  const results = new Map<string, Figures>();
  for (const t of targets) {
    process.stderr.write(`measuring ${t.name}…\n`);
    results.set(t.name, await measure(t));
  }
  const d = results.get('direct')!;
  const ms = (v: number) => v.toFixed(3);
  const rows: string[][] = [['figure', ...targets.map((t) => t.name), ...targets.filter((t) => t.name !== 'direct').map((t) => `${t.name} added`)]];
  const line = (label: string, pick: (f: Figures) => number | undefined, fmt: (v: number) => string, added: (v: number, base: number) => string) => {
    rows.push([
      label,
      ...targets.map((t) => {
        const v = pick(results.get(t.name)!);
        return v === undefined ? '—' : fmt(v);
      }),
      ...targets.filter((t) => t.name !== 'direct').map((t) => {
        const v = pick(results.get(t.name)!);
        const b = pick(d);
        return v === undefined ? '—' : added(v, b ?? Number.NaN);
      }),
    ]);
  };
  const plus = (v: number, b: number) => `+${(v - b).toFixed(3)} ms`;
  line('chat latency p50 (ms)', (f) => f.p50, ms, plus);
  line('chat latency p99 (ms)', (f) => f.p99, ms, plus);
  line('TTFT p50 (ms)', (f) => f.ttft50, ms, plus);
  line('TTFT p99 (ms)', (f) => f.ttft99, ms, plus);
  line(`req/s (${CONCURRENCY} conc.)`, (f) => f.rps, (v) => v.toFixed(0), (v, b) => `${((v / b) * 100).toFixed(0)} % of direct`);
  line('req/s per proxy CPU-second', (f) => f.perCore, (v) => v.toFixed(0), (v) => `${v.toFixed(0)} req/s on one core`);
  line('/api/generate p50 (ms)', (f) => f.genP50, ms, plus);
  line('/api/generate p99 (ms)', (f) => f.genP99, ms, plus);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  const out = [
    `proxy benchmark: ${REQUESTS} sequential non-streamed requests, ${STREAMS} streams of ${TOKENS} tokens every ${CADENCE} ms, ${SECONDS} s at ${CONCURRENCY} concurrent; ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), node ${process.version}${HAS_TASKSET ? ', proxy pinned to CPU 1' : ''}`,
    fmt(rows[0]!),
    '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|',
    ...rows.slice(1).map(fmt),
  ];
  if (litellmNote) out.push('', litellmNote);
  process.stdout.write(out.join('\n') + '\n');
}

function cleanup(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  setTimeout(() => rmSync(tmp, { recursive: true, force: true }), 500).unref();
}

main()
  .then(() => {
    cleanup();
    setTimeout(() => process.exit(0), 1500).unref();
  })
  .catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    cleanup();
    process.exitCode = 1;
  });
