// Scale from zero through the proxy: a request for a model whose upstream is down (its pool at
// zero) is held, activation is pushed to KEDA through StreamIsActive at once, and the request is
// answered once the upstream comes up; when none does, the client gets 503 with Retry-After.
import { createServer as createTcpServer, connect, type Server as TcpServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { autoscaleConfigSchema } from '../../../collector/features/autoscale/config.ts';
import { ExternalScalerServer } from '../../../collector/features/autoscale/scaler.ts';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import type { ProxyServer } from '../../../exporters/proxy/server.ts';
import { FakeUpstream, FIX, fixture } from '../../helpers/fake-upstream.ts';
import { testConfig } from '../../helpers/store.ts';
import { kedaClient, type KedaClient, type Ref } from '../../helpers/keda-client.ts';
import { freePort } from '../../helpers/net.ts';

/** Brings "the pool" up on a fixed port: a TCP relay to a running fake upstream. */
async function bringUp(port: number, target: string): Promise<TcpServer> {
  const to = new URL(target);
  const sockets = new Set<Socket>();
  const s = createTcpServer((a) => {
    const b = connect(Number(to.port), to.hostname);
    sockets.add(a).add(b);
    a.pipe(b).pipe(a);
    const end = () => {
      a.destroy();
      b.destroy();
    };
    a.on('error', end).on('close', end);
    b.on('error', end).on('close', end);
  });
  s.on('close', () => {
    for (const x of sockets) x.destroy();
  });
  await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', resolve));
  return s;
}

let fake: FakeUpstream;
let fakeUrl: string;
let collector: Collector;
let proxy: ProxyServer;
let keda: KedaClient;
let gpuPort: number;
const relays: TcpServer[] = [];
const TIMEOUT_MS = 1_500;

const ref = (tier: string): Ref => ({ name: `ollama-${tier}`, namespace: 'llm', scalerMetadata: { tier } });

beforeAll(async () => {
  fake = new FakeUpstream({ pace: 0.05 });
  fakeUrl = await fake.start();
  gpuPort = await freePort();
  const nowherePort = await freePort();
  const config = testConfig({
    proxy: {
      enabled: true,
      listen: '127.0.0.1:0',
      anonymous_tenant: 'anon',
      ps_poll_ms: 0,
      upstreams: [
        { name: 'gpu-a', url: `http://127.0.0.1:${gpuPort}`, node: 'gpu-node-1', models: ['llama3*'] },
        { name: 'gpu-b', url: `http://127.0.0.1:${nowherePort}`, node: 'gpu-node-2', models: ['mixtral*'] },
        { name: 'cpu-a', url: fakeUrl, node: 'cpu-node-1' },
      ],
      activation: { enabled: true, upstreams: ['gpu-a', 'gpu-b'], timeout_ms: TIMEOUT_MS, max_held: 2, probe_interval_ms: 50, retry_after_s: 20 },
    },
  });
  const auto = autoscaleConfigSchema.parse({
    enabled: true,
    evaluate_ms: 50,
    tiers: [
      { name: 'premium', upstreams: ['gpu-a'], idle_seconds: 0 },
      { name: 'spare', upstreams: ['gpu-b'], idle_seconds: 0 },
      { name: 'standard', upstreams: ['cpu-a'] },
    ],
    scaler: { listen: '127.0.0.1:0' },
  });
  collector = await startCollector({ ...config, autoscale: auto }, silentLogger);
  proxy = collector.components.find((c) => c.name === 'proxy') as ProxyServer;
  keda = kedaClient((collector.components.find((c) => c instanceof ExternalScalerServer) as ExternalScalerServer).address());
});

afterAll(async () => {
  keda?.close();
  await collector?.shutdown();
  for (const r of relays) await new Promise<void>((resolve) => r.close(() => resolve()));
  await fake?.close();
});

async function chat(model: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const res = await request(`http://${proxy.address()}/api/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], stream: false }),
  });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

describe('scale from zero', () => {
  it('holds the first request, pushes activation at once, and answers it when the upstream comes up', async () => {
    const s = keda.stream(ref('premium'));
    expect(await s.next(2_000)).toBe(false);
    const t0 = performance.now();
    const pending = chat('llama3.2');
    expect(await s.next(1_000)).toBe(true);
    const pushMs = performance.now() - t0;
    expect(pushMs).toBeLessThan(500);
    // Held, not failed: it counts as queued and as held for the tier.
    expect((await keda.metrics({ ...ref('premium'), scalerMetadata: { tier: 'premium', metric: 'held' } }, 'h'))[0]!.metricValueFloat).toBe(1);
    expect(proxy.state.queued('gpu-a')).toBe(1);

    await new Promise((r) => setTimeout(r, 300));
    relays.push(await bringUp(gpuPort, fakeUrl));
    const res = await pending;
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual(JSON.parse(fixture(FIX.chatNonstream)));
    expect(proxy.activation!.counts.woken).toBe(1);
    expect(proxy.activation!.held()).toBe(0);
    // Nothing left in flight and idle_seconds 0: the tier goes inactive again, pushed.
    expect(await s.next(2_000)).toBe(false);
    // Released from the hold, the request left the held count and entered the in-flight one as one
    // change: KEDA saw the wake and the end, no inactive instant between them.
    const ticker = collector.components.find((c) => c.name === 'autoscale-signals')!;
    for (let i = 0; i < 3; i++) await ticker.forceFlush();
    await new Promise((r) => setImmediate(r));
    expect(s.values).toEqual([false, true, false]);
    s.cancel();

    // Now known ready: the next request passes without a hold.
    const again = await chat('llama3.2');
    expect(again.status).toBe(200);
    expect(proxy.activation!.counts.woken).toBe(1);
  });

  it('answers 503 with Retry-After when no upstream comes up within the timeout', async () => {
    const t0 = performance.now();
    const res = await chat('mixtral:8x7b');
    const ms = performance.now() - t0;
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('20');
    expect(JSON.parse(res.body).error).toMatch(/did not become ready within 1500 ms/);
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(ms).toBeLessThan(TIMEOUT_MS + 1_000);
    expect(proxy.activation!.counts.timeout).toBe(1);
    expect(proxy.state.queued('gpu-b')).toBe(0);
  });

  it('bounds the hold: beyond max_held a request gets 503 at once', async () => {
    const held = [chat('mixtral:8x7b'), chat('mixtral:8x7b')];
    await new Promise((r) => setTimeout(r, 100));
    expect(proxy.activation!.held('gpu-b')).toBe(2);
    const t0 = performance.now();
    const third = await chat('mixtral:8x7b');
    expect(performance.now() - t0).toBeLessThan(500);
    expect(third.status).toBe(503);
    expect(third.headers['retry-after']).toBe('20');
    expect(JSON.parse(third.body).error).toMatch(/2 requests are already waiting/);
    for (const r of await Promise.all(held)) expect(r.status).toBe(503);
  });

  it('leaves upstreams outside activation.upstreams alone', async () => {
    const res = await chat('qwen2.5');
    expect(res.status).toBe(200);
    expect(proxy.activation!.held('cpu-a')).toBe(0);
  });

  it('records the held time as queue time of the llm_request', async () => {
    await proxy.idle();
    await collector.pipeline.forceFlush();
    const rows = await collector.store.queryRows<{ status: number; error_kind: string; queue_ms: number; backend: string }>(
      `SELECT status, error_kind, queue_ms, backend FROM ${collector.store.database}.llm_requests ORDER BY ts`,
    );
    const first = rows.find((r) => r.backend === 'gpu-a' && r.status === 200)!;
    expect(first.queue_ms).toBeGreaterThanOrEqual(250);
    const timedOut = rows.filter((r) => r.backend === 'gpu-b');
    const page = await (await request(`http://${collector.address}/metrics`)).body.text();
    expect(page).toMatch(/^llmeter_proxy_activation_holds_total\{upstream="gpu-a",outcome="woken"\} 1$/m);
    expect(page).toMatch(/^llmeter_proxy_activation_holds_total\{upstream="gpu-b",outcome="timeout"\} 3$/m);
    expect(page).toMatch(/^llmeter_proxy_activation_holds_total\{upstream="gpu-b",outcome="full"\} 1$/m);
    expect(timedOut.map((r) => r.error_kind).sort()).toEqual(['queue_full', 'upstream_down', 'upstream_down', 'upstream_down']);
  });
});
