// Scale from zero: how long from the first request for a model whose pool is at zero until KEDA's
// StreamIsActive stream reports the tier active — the push path — against what KEDA's Prometheus
// scaler path costs (computed from its intervals: Prometheus must scrape the gauge, then KEDA must
// poll Prometheus).
//
//   node bench/autoscale.bench.ts [--rounds 300] [--scrape-s 15] [--polling-s 15]
//
// One process on loopback: the metering proxy (activation on, its premium upstream at a port where
// nothing listens), the autoscaling signals and the gRPC external scaler, and a KEDA-like client
// holding StreamIsActive open. Each round sends one request, waits for `true` on the stream, aborts
// the request (the hold ends, the tier goes back to inactive) and waits for `false`.
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { Pool } from 'undici';
import { autoscaleConfigSchema } from '../collector/features/autoscale/config.ts';
import { ExternalScalerServer } from '../collector/features/autoscale/scaler.ts';
import { ScalerMetrics } from '../collector/features/autoscale/scaler-metrics.ts';
import { silentLogger } from '../collector/core/log.ts';
import type { RecordSink } from '../collector/core/pipeline/pipeline.ts';
import { proxyConfigSchema } from '../exporters/proxy/config.ts';
import { ProxyServer } from '../exporters/proxy/server.ts';
import { kedaClient } from '../test/helpers/keda-client.ts';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
}
const ROUNDS = arg('rounds', 300);
const SCRAPE_S = arg('scrape-s', 15);
const POLLING_S = arg('polling-s', 15);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const sink: RecordSink = { submit: async (_s, records) => ({ accepted: records.length, rejected: 0, dropped: 0, reasons: [], durable: Promise.resolve() }) };

const down = await freePort();
const registry = new Registry();
const proxyCfg = proxyConfigSchema.parse({
  enabled: true,
  listen: '127.0.0.1:0',
  anonymous_tenant: 'bench',
  ps_poll_ms: 0,
  upstreams: [{ name: 'gpu', url: `http://127.0.0.1:${down}`, models: ['*'] }],
  activation: { enabled: true, timeout_ms: 60_000, probe_interval_ms: 60_000 },
});
const proxy = new ProxyServer({ config: proxyCfg, sink, registry, log: silentLogger });
await proxy.start();
const auto = autoscaleConfigSchema.parse({
  enabled: true,
  tiers: [{ name: 'premium', upstreams: ['gpu'], idle_seconds: 0 }],
  scaler: { listen: '127.0.0.1:0' },
});
const signals = new ScalerMetrics({
  config: auto,
  state: proxy.state,
  upstreams: [{ name: 'gpu', node: 'gpu-node' }],
  registry,
  held: () => proxy.activation,
});
const scaler = new ExternalScalerServer({ listen: auto.scaler.listen, signals, registry, log: silentLogger, maxStreams: 10 });
await scaler.start();
const keda = kedaClient(scaler.address());
const stream = keda.stream({ name: 'ollama-premium', namespace: 'llm', scalerMetadata: { tier: 'premium' } });
if ((await stream.next()) !== false) throw new Error('tier should start inactive');

const pool = new Pool(`http://${proxy.address()}`, { connections: 4 });
const body = JSON.stringify({ model: 'llama3.1:70b', messages: [{ role: 'user', content: 'hi' }], stream: false });
const samples: number[] = [];
for (let i = 0; i < ROUNDS + 20; i++) {
  const ac = new AbortController();
  const t0 = performance.now();
  const req = pool
    .request({ method: 'POST', path: '/api/chat', headers: { 'content-type': 'application/json' }, body, signal: ac.signal })
    .catch(() => undefined);
  if ((await stream.next()) !== true) throw new Error('expected active');
  const ms = performance.now() - t0;
  if (i >= 20) samples.push(ms); // the first rounds warm up the JIT and the connections
  ac.abort();
  await req;
  if ((await stream.next()) !== false) throw new Error('expected inactive after the request went away');
}

samples.sort((a, b) => a - b);
const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!;
const fmt = (n: number) => n.toFixed(2);
console.log(
  `push path (StreamIsActive), ${samples.length} rounds: p50 ${fmt(q(0.5))} ms  p95 ${fmt(q(0.95))} ms  p99 ${fmt(q(0.99))} ms  max ${fmt(samples.at(-1)!)} ms`,
);
console.log(`  goal < 50 ms: ${q(0.99) < 50 ? 'met' : 'NOT met'} at p99`);
console.log(
  `Prometheus scaler path (scrape ${SCRAPE_S} s, KEDA pollingInterval ${POLLING_S} s): mean ${fmt(((SCRAPE_S + POLLING_S) / 2) * 1000)} ms, worst ${fmt((SCRAPE_S + POLLING_S) * 1000)} ms`,
);
console.log(`external (polled IsActive, pollingInterval ${POLLING_S} s): mean ${fmt((POLLING_S / 2) * 1000)} ms, worst ${fmt(POLLING_S * 1000)} ms`);

stream.cancel();
keda.close();
await pool.close();
await scaler.shutdown();
signals.close();
await proxy.shutdown();
