// Faro payloads/s that the collector accepts (202) and stores (rows in ClickHouse), at 10 events a
// payload, over real HTTP on loopback. The collector runs in this process; the browsers are
// simulated by a child process posting with keep-alive connections. For scale, the same rows are
// also submitted straight to a pipeline, without HTTP, JSON or mapping: the receiver's own cost is
// the difference. CPU is counted for this process only (its main thread, and ClickHouse's and the
// other threads), so the collector's own cost per payload is told apart from the load generator's
// on the same machine.
// Run: npm run bench:faro       (or: node bench/faro.bench.ts [payloads] [concurrency])
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { configSchema } from '../collector/app/config-schema.ts';
import { silentLogger } from '../collector/core/log.ts';
import { readBody, sendJson } from '../collector/core/http/server.ts';
import type { RecordSink } from '../collector/core/pipeline/pipeline.ts';
import { faroRecords } from '../collector/features/receivers/faro/records.ts';
import { parseFaroPayload } from '../collector/features/receivers/faro/payload.ts';
import { FaroReceiver } from '../collector/features/receivers/faro/receiver.ts';
import { receiversFor, receiversConfigSchema } from '../collector/features/receivers/index.ts';
import { FaroMetrics } from '../collector/features/receivers/metrics.ts';
import { startCollector } from '../collector/app/runtime.ts';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const PAYLOADS = Number(args[0] ?? 40_000);
const CONCURRENCY = Number(args[1] ?? 32);
const EVENTS_PER_PAYLOAD = 10;

/** A payload as the SDK batches it: 3 logs, 1 exception, 2 measurements, 2 events, 2 spans. */
function payload(i: number): string {
  const ts = new Date(Date.UTC(2026, 10, 1) + i).toISOString();
  const trace = { trace_id: (i.toString(16) + '0'.repeat(32)).slice(0, 32), span_id: 'b7ad6b7169203331' };
  const ns = `${Date.UTC(2026, 10, 1) + i}000000`;
  return JSON.stringify({
    meta: {
      sdk: { name: '@grafana/faro-core', version: '2.12.1' },
      app: { name: 'chat-ui', version: '1.4.0', environment: 'production' },
      session: { id: `session-${i % 500}` },
      page: { url: 'https://chat.example.com/c/123' },
      browser: { name: 'Chrome', version: '131', os: 'Linux', mobile: false },
      view: { name: 'chat' },
    },
    logs: [0, 1, 2].map((k) => ({ message: `message ${k} of ${i}`, level: 'info', context: { component: 'Chat' }, timestamp: ts, trace })),
    exceptions: [
      {
        type: 'TypeError',
        value: 'x is undefined',
        timestamp: ts,
        stacktrace: { frames: [{ filename: 'https://chat.example.com/app.js', function: 'send', lineno: 10, colno: 3 }] },
      },
    ],
    measurements: [
      { type: 'chat', values: { ttft_ms: 300 + (i % 200) }, timestamp: ts, context: { model: 'llama3.1:8b' } },
      { type: 'web-vitals', values: { lcp: 1200 + (i % 500) }, timestamp: ts, context: { rating: 'good' } },
    ],
    events: [
      { name: 'chat_send', attributes: { model: 'llama3.1:8b' }, timestamp: ts },
      { name: 'chat_first_token', timestamp: ts },
    ],
    traces: {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'chat-ui' } }] },
          scopeSpans: [
            {
              scope: { name: 'chat' },
              spans: [0, 1].map((k) => ({
                traceId: trace.trace_id,
                spanId: `${k}000000000000000`.slice(0, 16),
                name: k ? 'fetch' : 'chat.send',
                kind: 3,
                startTimeUnixNano: ns,
                endTimeUnixNano: ns.replace(/000000$/, '250000'),
                attributes: [{ key: 'http.method', value: { stringValue: 'POST' } }],
                status: {},
              })),
            },
          ],
        },
      ],
    },
  });
}

// The load generator: a child process (the browsers are other machines). A worker thread would share
// the collector process's GC and libuv threads, whose CPU could then not be told apart.
interface LoadResult {
  ok: number;
  failed: number;
  ms: number;
  /** CPU the load generator's process used. */
  cpuUs: number;
}

interface LoadRun {
  url: string;
  from: number;
  to: number;
}

/** In the child: makes the same bodies as the parent and posts a range of them when asked. */
async function loadGenerator(): Promise<void> {
  const bodies = Array.from({ length: PAYLOADS }, (_, i) => payload(i));
  // Like the SDK: a key of 20 characters per payload (the bodies are distinct, so are the keys).
  const runId = Math.random().toString(36).slice(2, 8);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let seq = 0;
  const post = (target: URL, body: string) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'x-api-key': 'bench-key',
            'idempotency-key': (runId + (seq++).toString(36).padStart(14, '0')).slice(0, 20),
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  process.on('message', (m: LoadRun) => {
    void (async () => {
      const target = new URL(m.url);
      let next = m.from;
      let ok = 0;
      let failed = 0;
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < m.to) {
            if ((await post(target, bodies[next++]!)) === 202) ok++;
            else failed++;
          }
        }),
      );
      const cpu = process.cpuUsage(cpu0);
      process.send!({ ok, failed, ms: performance.now() - t0, cpuUs: cpu.user + cpu.system } satisfies LoadResult);
    })();
  });
  process.send!('ready');
}

function startLoadGenerator(): { run(url: string, from?: number, to?: number): Promise<LoadResult>; stop(): void; ready: Promise<void> } {
  const child = fork(fileURLToPath(import.meta.url), ['--load', String(PAYLOADS), String(CONCURRENCY)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = new Promise<void>((resolve) => child.once('message', () => resolve()));
  return {
    ready,
    run: (url, from = 0, to = PAYLOADS) =>
      new Promise((resolve, reject) => {
        child.once('message', (m: LoadResult) => resolve(m));
        child.once('error', reject);
        child.send({ url, from, to } satisfies LoadRun);
      }),
    stop: () => child.kill(),
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'llmeter-bench-faro-'));
  const config = configSchema.parse({ store: { data_dir: dir, ttl_days: { raw: 0, reference: 0, rollup: 0 } }, http: { listen: '127.0.0.1:0' } });
  const receivers = receiversConfigSchema.parse({
    faro: {
      enabled: true,
      apps: [{ name: 'chat-ui', tenant: 'acme', api_keys: ['sha256:' + (await import('../collector/core/security/keys.ts')).keyDigestHex('bench-key')] }],
      rate_limit: { payloads_per_second: 1e9, burst: 1_000_000_000 },
    },
  });
  const load = startLoadGenerator();
  const collector = await startCollector(config, silentLogger, { features: [receiversFor(receivers)] });
  // The floor: the same requests to a route that reads the body and answers 202, doing nothing else.
  // The receiver itself, every check included, in front of a sink that takes the rows and does
  // nothing: what the receiver costs without the pipeline and ClickHouse behind it.
  const nullSink: RecordSink = {
    submit: async (_signal, records) => ({ accepted: records.length, rejected: 0, dropped: 0, reasons: [], durable: Promise.resolve() }),
  };
  new FaroReceiver({
    config: { ...receivers.faro, path: '/bench/faro-null-sink' },
    sink: nullSink,
    metrics: new FaroMetrics(new Registry()),
    log: silentLogger,
  }).mount(collector.http);
  collector.http.route('POST', '/bench/null', async (req, res) => {
    await readBody(req, 1 << 20);
    sendJson(res, 202, { status: 'accepted' });
  });
  try {
    const bodies = Array.from({ length: PAYLOADS }, (_, i) => payload(i));
    const bytes = bodies.reduce((n, b) => n + b.length, 0);
    const rowsPerPayload = faroRecords(parseFaroPayload(bodies[0]!), 'chat-ui', 'acme').records.length;
    console.log(
      `faro receiver: ${PAYLOADS} payloads × ${EVENTS_PER_PAYLOAD} events (${rowsPerPayload} rows each), ${(bytes / PAYLOADS / 1024).toFixed(1)} KiB average, ${CONCURRENCY} connections`,
    );

    await load.ready;
    // Warm-up: JIT, connection pool, first inserts.
    await load.run(`http://${collector.address}/faro/collect`, 0, 2_000);
    await collector.pipeline.forceFlush();
    const before = await rows(collector);

    const cpu = cpuMeter();
    const t0 = performance.now();
    const posted = await load.run(`http://${collector.address}/faro/collect`);
    const acceptedS = (performance.now() - t0) / 1000;
    await collector.pipeline.forceFlush();
    const storedS = (performance.now() - t0) / 1000;
    const used = cpu.read();
    const stored = (await rows(collector)) - before;

    const acceptRate = posted.ok / acceptedS;
    const storeRate = stored / rowsPerPayload / storedS;
    console.log(
      `  accepted (202): ${posted.ok} payloads in ${acceptedS.toFixed(2)} s = ${fmt(acceptRate)} payloads/s (${fmt(acceptRate * EVENTS_PER_PAYLOAD)} events/s); refused ${posted.failed}`,
    );
    console.log(
      `  stored:         ${stored} rows in ${storedS.toFixed(2)} s = ${fmt(storeRate)} payloads/s; ${stored === posted.ok * rowsPerPayload ? 'every row' : 'MISSING ROWS'}`,
    );
    console.log(
      `  collector CPU:  ${((used.mainUs + used.otherUs) / 1e6 / storedS).toFixed(2)} cores; goal ≥ 5000 payloads/s → ${(storeRate / 5000).toFixed(2)}× goal (load generator, its own process: ${(posted.cpuUs / 1e6 / storedS).toFixed(2)} cores)`,
    );
    console.log(`  per payload:    ${perPayload(used, PAYLOADS)}`);

    const sinkCpu = cpuMeter();
    const sinkLoad = await load.run(`http://${collector.address}/bench/faro-null-sink`);
    const sinkRate = sinkLoad.ok / (sinkLoad.ms / 1000);
    console.log(`  receiver alone: ${fmt(sinkRate)} payloads/s (every check, parse and map; rows handed to a sink that drops them)`);
    console.log(`    per payload:  ${perPayload(sinkCpu.read(), PAYLOADS)}`);

    const nullCpu = cpuMeter();
    const nullLoad = await load.run(`http://${collector.address}/bench/null`);
    const nullRate = nullLoad.ok / (nullLoad.ms / 1000);
    const nullUsed = nullCpu.read();
    console.log(
      `  HTTP floor:     ${fmt(nullRate)} requests/s (same requests, body read, 202, nothing else); receiver at ${(storeRate / nullRate).toFixed(2)}× of it`,
    );
    console.log(`    per request:  ${perPayload(nullUsed, PAYLOADS)}`);

    // The same rows, straight into a pipeline: what HTTP, JSON and mapping cost on top.
    const records = bodies.map((b) => faroRecords(parseFaroPayload(b), 'chat-ui', 'acme').records);
    const directCpu = cpuMeter();
    const t1 = performance.now();
    for (const r of records) await collector.pipeline.submit('frontend_event', r, { source: 'bench' });
    await collector.pipeline.forceFlush();
    const directS = (performance.now() - t1) / 1000;
    const directUsed = directCpu.read();
    const directRate = PAYLOADS / directS;
    console.log(`  pipeline only:  ${fmt(directRate)} payloads/s (no HTTP, JSON or mapping); receiver path at ${(storeRate / directRate).toFixed(2)}× of it`);
    console.log(`    per payload:  ${perPayload(directUsed, PAYLOADS)}`);

    const parse0 = performance.now();
    for (const b of bodies) faroRecords(parseFaroPayload(b), 'chat-ui', 'acme');
    const parseRate = PAYLOADS / ((performance.now() - parse0) / 1000);
    console.log(`  parse + map:    ${fmt(parseRate)} payloads/s on its own`);
  } finally {
    load.stop();
    await collector.shutdown();
    rmSync(dir, { recursive: true, force: true });
  }
}

interface CpuUsed {
  /** The collector's main thread. */
  mainUs: number;
  /** Of `mainUs`, the time the main thread spent in system calls (socket reads and writes). */
  mainKernelUs: number;
  /** Every other thread of the collector's process: ClickHouse's, libuv's, GC helpers. */
  otherUs: number;
}

function cpuMeter(): { read(): CpuUsed } {
  const process0 = process.cpuUsage();
  const main0 = process.threadCpuUsage();
  return {
    read() {
      const all = process.cpuUsage(process0);
      const main = process.threadCpuUsage(main0);
      const mainUs = main.user + main.system;
      return { mainUs, mainKernelUs: main.system, otherUs: Math.max(0, all.user + all.system - mainUs) };
    },
  };
}

/** CPU per payload, and what that makes on one uncontended core. */
function perPayload(u: CpuUsed, n: number): string {
  const main = u.mainUs / n;
  const other = u.otherUs / n;
  return `${(main + other).toFixed(0)} µs of collector CPU (main thread ${main.toFixed(0)} µs, ${(u.mainKernelUs / n).toFixed(0)} of them in the kernel; ClickHouse and other threads ${other.toFixed(0)} µs) → ${fmt(1e6 / (main + other))}/s per core; main thread alone ${fmt(1e6 / main)}/s`;
}

async function rows(collector: Awaited<ReturnType<typeof startCollector>>): Promise<number> {
  const r = await collector.store.queryRows<{ n: string }>(`SELECT count() AS n FROM llmeter.frontend_events`);
  return Number(r[0]!.n);
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

if (process.argv.includes('--load')) await loadGenerator();
else await main();
