// What the metering proxy costs a request: the same load against (a) the upstream directly,
// (b) `llmeter proxy` in front of it (a real collector: records go to the embedded ClickHouse),
// (c) the LiteLLM proxy in front of it when it is installed. One run on loopback; the upstream
// streams N tokens at a fixed cadence (bench/upstream/paced-upstream.ts).
//
//   node bench/proxy.bench.ts [--requests 2000] [--streams 200] [--seconds 5] [--concurrency 32]
//                             [--tokens 16] [--cadence-ms 1] [--litellm .cache/litellm-venv/bin/litellm]
//                             [--rounds 5] [--no-litellm] [--cpu-prof DIR]
//
// Latency and TTFT are measured interleaved: one request to each target in turn, so direct, the
// bare forwarder (bench/upstream/bare-forwarder.ts: the floor for any Node proxy), llmeter and
// LiteLLM meet the same load from whatever else runs on the machine; p99 is also given per round.
//
// --cpu-prof writes a V8 CPU profile of the `llmeter proxy` process into DIR when it exits (open it
// in Chrome DevTools).
// With `taskset` present, the proxy under test runs on CPU 1 and the upstream and load on CPU 0.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { keyDigestHex } from '../collector/core/security/keys.ts';

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
const ROUNDS = arg('rounds', 5);
const TOKENS = arg('tokens', 16);
const CADENCE = arg('cadence-ms', 1);
const LITELLM = path.resolve(ROOT, sarg('litellm', '.cache/litellm-venv/bin/litellm'));
const NO_LITELLM = process.argv.includes('--no-litellm');
const CPU_PROF = sarg('cpu-prof', '');
const HAS_TASKSET = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

// Both proxies check a key on every request, as they would in production.
const KEY = 'sk-bench-0123456789abcdef0123456789abcdef';
const children: ChildProcess[] = [];
const tmp = mkdtempSync(path.join(os.tmpdir(), 'llmeter-bench-proxy-'));

function start(
  cpu: number,
  cmd: string,
  args: string[],
  ready: RegExp,
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
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
  pool?: Pool;
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
  /** p99 of each round of the interleaved runs. */
  p99Rounds: number[];
  ttft99Rounds: number[];
  genP99Rounds?: number[];
  /** Direct's figures from the pass this target was paired with, when not the common one. */
  pairedDirect?: Figures;
}

function chatBody(stream: boolean): string {
  return JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'Say hello.' }], stream });
}

/**
 * Sequential requests, interleaved: each step sends one request to every target in turn (the order
 * alternating), so all of them meet the same machine load. Returns each target's times per round.
 */
async function interleaved(targets: Target[], n: number, warmup: number, one: (t: Target) => Promise<number>): Promise<Map<string, number[][]>> {
  const out = new Map(targets.map((t) => [t.name, Array.from({ length: ROUNDS }, (): number[] => [])]));
  for (let i = 0; i < warmup; i++) for (const t of targets) await one(t);
  const perRound = Math.ceil(n / ROUNDS);
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < perRound; i++) {
      const order = i % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) out.get(t.name)![r]!.push(await one(t));
    }
  }
  return out;
}

function request(path_: string, body: string): (t: Target) => Promise<number> {
  return async (t) => {
    const t0 = performance.now();
    const r = await t.pool!.request({
      method: 'POST',
      path: path_.replace('{prefix}', t.prefix),
      headers: { 'content-type': 'application/json', ...t.headers },
      body,
    });
    await r.body.text();
    if (r.statusCode !== 200) throw new Error(`${t.name} ${path_}: ${r.statusCode}`);
    return performance.now() - t0;
  };
}

async function firstChunk(t: Target): Promise<number> {
  const t0 = performance.now();
  const r = await t.pool!.request({
    method: 'POST',
    path: `${t.prefix}/chat/completions`,
    headers: { 'content-type': 'application/json', ...t.headers },
    body: chatBody(true),
  });
  let first = 0;
  for await (const _chunk of r.body) if (first === 0) first = performance.now() - t0;
  if (r.statusCode !== 200) throw new Error(`${t.name} stream: ${r.statusCode}`);
  return first;
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

const sorted = (rounds: number[][]) => rounds.flat().sort((a, b) => a - b);
const roundP99s = (rounds: number[][]) =>
  rounds.map((r) =>
    pct(
      [...r].sort((a, b) => a - b),
      99,
    ),
  );

async function measure(targets: Target[]): Promise<Map<string, Figures>> {
  for (const t of targets) t.pool = new Pool(t.origin, { connections: CONCURRENCY, keepAliveTimeout: 60_000 });
  const res = new Map<string, Figures>();
  try {
    const latencies = async (group: Target[]): Promise<Map<string, Figures>> => {
      process.stderr.write(`latency and TTFT, interleaved: ${group.map((t) => t.name).join(', ')}…\n`);
      const lat = await interleaved(group, REQUESTS, 100, request('{prefix}/chat/completions', chatBody(false)));
      const tt = await interleaved(group, STREAMS, 20, firstChunk);
      const figs = new Map<string, Figures>();
      for (const t of group) {
        const l = sorted(lat.get(t.name)!);
        const f = sorted(tt.get(t.name)!);
        figs.set(t.name, {
          p50: pct(l, 50),
          p99: pct(l, 99),
          p99Rounds: roundP99s(lat.get(t.name)!),
          ttft50: pct(f, 50),
          ttft99: pct(f, 99),
          ttft99Rounds: roundP99s(tt.get(t.name)!),
          rps: 0,
        });
      }
      return figs;
    };
    // LiteLLM keeps working on its CPU after answering (logging, cost callbacks), which would slow
    // whichever proxy came next on that CPU: it is paired with direct in a pass of its own.
    const native = targets.filter((t) => t.name !== 'litellm');
    for (const [k, v] of await latencies(native)) res.set(k, v);
    const litellm = targets.find((t) => t.name === 'litellm');
    if (litellm) {
      const own = await latencies([targets[0]!, litellm]);
      res.set('litellm', { ...own.get('litellm')!, pairedDirect: own.get('direct')! });
    }
    for (const t of targets) {
      process.stderr.write(`throughput ${t.name}…\n`);
      const { rps, perCore } = await throughput(t.pool!, t, SECONDS, CONCURRENCY);
      Object.assign(res.get(t.name)!, { rps, perCore });
    }
    process.stderr.write('/api/generate (interleaved)…\n');
    const gen = await interleaved(native, REQUESTS, 100, request('/api/generate', JSON.stringify({ model: 'bench', prompt: 'hi', stream: false })));
    for (const t of native) {
      const g = sorted(gen.get(t.name)!);
      Object.assign(res.get(t.name)!, { genP50: pct(g, 50), genP99: pct(g, 99), genP99Rounds: roundP99s(gen.get(t.name)!) });
    }
    return res;
  } finally {
    for (const t of targets) await t.pool!.close();
  }
}

async function main(): Promise<void> {
  const up = await start(0, NODE, ['bench/upstream/paced-upstream.ts', '--tokens', String(TOKENS), '--cadence-ms', String(CADENCE)], /listening (\d+)/);
  const upstream = `http://127.0.0.1:${up.match[1]}`;
  writeFileSync(path.join(tmp, 'llmeter.yaml'), `log_level: warn\nproxy:\n  tenants:\n    - { name: bench, keys: ["sha256:${keyDigestHex(KEY)}"] }\n`);
  const bare = await start(1, NODE, ['bench/upstream/bare-forwarder.ts', upstream], /forwarding on (http:\/\/[\d.:]+)/);
  const prof = CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(CPU_PROF)] : [];
  const lm = await start(
    1,
    NODE,
    [
      ...prof,
      'bin/llmeter.js',
      '-c',
      path.join(tmp, 'llmeter.yaml'),
      '--data-dir',
      path.join(tmp, 'data'),
      'proxy',
      '--upstream',
      upstream,
      '--listen',
      '127.0.0.1:0',
      '--http-listen',
      '127.0.0.1:0',
    ],
    /llmeter proxy on (http:\/\/[\d.:]+)/,
  );
  const targets: Target[] = [
    { name: 'direct', origin: upstream, prefix: '/v1', headers: {} },
    { name: 'bare', origin: bare.match[1]!, prefix: '/v1', headers: {}, pid: bare.child.pid },
    { name: 'llmeter', origin: lm.match[1]!, prefix: '/v1', headers: { authorization: `Bearer ${KEY}` }, pid: lm.child.pid },
  ];
  let litellmNote = '';
  if (NO_LITELLM) {
    litellmNote = 'LiteLLM left out (--no-litellm).';
  } else if (existsSync(LITELLM)) {
    const port = 40000 + Math.floor(Math.random() * 20000);
    const cfg = path.join(tmp, 'litellm.yaml');
    writeFileSync(
      cfg,
      `model_list:\n  - model_name: bench\n    litellm_params:\n      model: openai/bench\n      api_base: ${upstream}/v1\n      api_key: none\ngeneral_settings:\n  master_key: ${KEY}\n`,
    );
    const ll = await start(
      1,
      LITELLM,
      ['--config', cfg, '--host', '127.0.0.1', '--port', String(port), '--num_workers', '1'],
      /Proxy initialized|Uvicorn running|Application startup complete/,
      { LITELLM_LOG: 'ERROR', LITELLM_LOCAL_MODEL_COST_MAP: 'True' },
    );
    await waitHttp(`http://127.0.0.1:${port}/health/liveliness`);
    targets.push({ name: 'litellm', origin: `http://127.0.0.1:${port}`, prefix: '/v1', headers: { authorization: `Bearer ${KEY}` }, pid: ll.child.pid });
  } else {
    litellmNote = `LiteLLM not installed at ${path.relative(ROOT, LITELLM)} (see bench/proxy.md): column left out.`;
  }

  const results = await measure(targets);
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
      ...targets
        .filter((t) => t.name !== 'direct')
        .map((t) => {
          const f = results.get(t.name)!;
          const v = pick(f);
          // Latency figures of a separately paired target count from its own pass's direct.
          const own = f.pairedDirect ? pick(f.pairedDirect) : undefined;
          const b = own ? own : pick(d);
          return v === undefined ? '—' : added(v, b ?? Number.NaN);
        }),
    ]);
  };
  const plus = (v: number, b: number) => `${v - b >= 0 ? '+' : '−'}${Math.abs(v - b).toFixed(3)} ms`;
  line('chat latency p50 (ms)', (f) => f.p50, ms, plus);
  line('chat latency p99 (ms)', (f) => f.p99, ms, plus);
  line('TTFT p50 (ms)', (f) => f.ttft50, ms, plus);
  line('TTFT p99 (ms)', (f) => f.ttft99, ms, plus);
  line(
    `req/s (${CONCURRENCY} conc.)`,
    (f) => f.rps,
    (v) => v.toFixed(0),
    (v, b) => `${((v / b) * 100).toFixed(0)} % of direct`,
  );
  line(
    'req/s per proxy CPU-second',
    (f) => f.perCore,
    (v) => v.toFixed(0),
    (v) => `${v.toFixed(0)} req/s on one core`,
  );
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
  // The tail moves with whatever else the machine runs; each round pairs every target with direct.
  out.push('', `added p99 per round (${ROUNDS} rounds; each target minus direct in the same round):`);
  const perRound = (name: string, pick: (f: Figures) => number[] | undefined) => {
    const f = results.get(name)!;
    const v = pick(f);
    const b = pick(f.pairedDirect ?? d);
    if (!v || !b) return '—';
    const added = v.map((x, i) => x - b[i]!);
    const met = added.filter((a) => a <= 2).length;
    return `${added.map((a) => a.toFixed(2)).join(', ')} ms (≤ 2 ms in ${met} of ${added.length})`;
  };
  for (const t of targets.filter((x) => x.name !== 'direct')) {
    out.push(
      `  ${t.name}: chat ${perRound(t.name, (f) => f.p99Rounds)}; TTFT ${perRound(t.name, (f) => f.ttft99Rounds)}; /api/generate ${perRound(t.name, (f) => f.genP99Rounds)}`,
    );
  }
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
