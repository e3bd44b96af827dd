// The scaler's idea of "idle" follows real work, as KEDA sees it: KEDA's own external and
// external-push scalers (keda-check, through KEDA's scalers cache) against a running collector. A
// collector that restarts does not wake pools that were idle before it (idle time comes from the
// store's requests, not from start-up); a request held while its pool wakes, longer than the tier's
// idle_seconds, keeps the tier active until idle_seconds after its answer; and its release from the
// hold is one change on StreamIsActive, not an inactive instant between the hold and the forward.
import { createServer as createTcpServer, connect, type Server as TcpServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { autoscaleConfigSchema } from '../../../collector/features/autoscale/config.ts';
import { ExternalScalerServer } from '../../../collector/features/autoscale/scaler.ts';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import type { Config } from '../../../collector/app/config-schema.ts';
import type { LlmRequestRecord } from '../../../collector/core/schema/tables.ts';
import type { ProxyServer } from '../../../exporters/proxy/server.ts';
import { FakeUpstream } from '../../helpers/fake-upstream.ts';
import { tempDir, testConfig } from '../../helpers/store.ts';
import { kedaPoll, kedaPush } from '../../helpers/keda-check.ts';
import { freePort } from '../../helpers/net.ts';
import { waitFor } from '../../helpers/wait.ts';

/** The "burst" tier's idle period: shorter than the hold below. */
const BURST_IDLE_S = 3;

let fake: FakeUpstream;
let fakeUrl: string;
let burstPort: number;
let config: Config;
let collector: Collector | undefined;
/** The collector's external scaler, as a ScaledObject's scalerAddress names it. */
let scaler = '';
const relays: TcpServer[] = [];

/** Brings "the pool" up on a fixed port: a TCP relay to the running fake upstream. */
async function bringUp(port: number): Promise<void> {
  const to = new URL(fakeUrl);
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
  relays.push(s);
}

async function start(): Promise<void> {
  collector = await startCollector(config, silentLogger);
  scaler = (collector.components.find((c) => c instanceof ExternalScalerServer) as ExternalScalerServer).address();
}

async function stop(): Promise<void> {
  await collector?.shutdown();
  collector = undefined;
}

function stored(backend: string, node: string, model: string, endedAgoMs: number): LlmRequestRecord {
  const durationMs = 2_000;
  return {
    ts: Date.now() - endedAgoMs - durationMs,
    request_id: `stored-${backend}-${model}`,
    tenant: 'acme',
    model,
    backend,
    node,
    status: 200,
    duration_ms: durationMs,
    output_tokens: 10,
    source: 'proxy',
  } as LlmRequestRecord;
}

beforeAll(async () => {
  fake = new FakeUpstream({ pace: 0.05 });
  fakeUrl = await fake.start();
  burstPort = await freePort();
  const premiumPort = await freePort();
  config = {
    ...testConfig(
      {
        proxy: {
          enabled: true,
          listen: '127.0.0.1:0',
          anonymous_tenant: 'anon',
          ps_poll_ms: 0,
          upstreams: [
            { name: 'gpu-a', url: `http://127.0.0.1:${premiumPort}`, node: 'gpu-node-1', models: ['llama3*', 'qwen3*'] },
            { name: 'gpu-b', url: `http://127.0.0.1:${burstPort}`, node: 'gpu-node-2', models: ['mixtral*'] },
          ],
          activation: { enabled: true, timeout_ms: 20_000, max_held: 4, probe_interval_ms: 50 },
        },
      },
      tempDir(),
    ),
    autoscale: autoscaleConfigSchema.parse({
      enabled: true,
      evaluate_ms: 50,
      tiers: [
        { name: 'premium', upstreams: ['gpu-a'], idle_seconds: 600 },
        { name: 'burst', upstreams: ['gpu-b'], idle_seconds: BURST_IDLE_S },
      ],
      scaler: { listen: '127.0.0.1:0' },
    }),
  };
});

afterAll(async () => {
  await stop();
  for (const r of relays) await new Promise<void>((resolve) => r.close(() => resolve()));
  await fake?.close();
});

describe('idle follows real work', () => {
  it('a collector that restarts wakes no pool: idle time counts from the last stored request, not from start-up', async () => {
    // The traffic before the restart: llama3.2 ended two hours ago, qwen3 a minute ago; a request
    // with the same upstream name on another node is another proxy's, and does not count.
    await start();
    const r = await collector!.sink.submit(
      'llm_request',
      [
        stored('gpu-a', 'gpu-node-1', 'llama3.2:latest', 2 * 3_600_000),
        stored('gpu-a', 'gpu-node-1', 'qwen3:latest', 60_000),
        stored('gpu-b', 'elsewhere', 'mixtral:latest', 1_000),
      ],
      { source: 'test' },
    );
    expect(r.accepted).toBe(3);
    await collector!.pipeline.forceFlush();
    await stop();

    await start();
    const push = kedaPush(scaler, { tier: 'burst' });
    try {
      // The first answer, right after start-up: nothing stored for the burst tier, so it stays at zero.
      expect(await push.next(10_000)).toBe(false);
      expect(await kedaPoll(scaler, { tier: 'burst' })).toMatchObject({ metric: 's0-llmeter-load-burst', value: 0, active: false });
      expect((await kedaPoll(scaler, { tier: 'premium', model: 'llama3.2' })).active).toBe(false);
      // qwen3's request ended a minute ago, within premium's idle period: active, and the idle time
      // is the one before the restart.
      expect((await kedaPoll(scaler, { tier: 'premium', model: 'qwen3' })).active).toBe(true);
      const premium = await kedaPoll(scaler, { tier: 'premium', metric: 'idle_seconds' });
      expect(premium.active).toBe(true);
      expect(premium.value).toBeGreaterThanOrEqual(60);
      expect(premium.value).toBeLessThan(120);
      const llama = await kedaPoll(scaler, { tier: 'premium', model: 'llama3.2', metric: 'idle_seconds' });
      expect(llama.value).toBeGreaterThanOrEqual(2 * 3_600);
    } finally {
      await push.close();
    }
  });

  it('a request held through a wake longer than idle_seconds keeps the tier active until idle_seconds after its answer, with one push each way', async () => {
    const proxy = collector!.components.find((c) => c.name === 'proxy') as ProxyServer;
    const s = kedaPush(scaler, { tier: 'burst' });
    try {
      expect(await s.next(10_000)).toBe(false);
      const t0 = performance.now();
      const pending = request(`http://${proxy.address()}/api/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'mixtral:8x7b', messages: [{ role: 'user', content: 'hi' }], stream: false }),
      }).then(async (res) => ({ status: res.statusCode, body: await res.body.text(), at: Date.now() }));
      expect(await s.next(2_000)).toBe(true);
      // The pool takes longer to come up than the tier's idle period.
      await waitFor('a hold longer than idle_seconds', () => performance.now() - t0 > BURST_IDLE_S * 1000 + 300, 15_000, { everyMs: 20 });
      expect(proxy.activation!.held('gpu-b')).toBe(1);
      await bringUp(burstPort);
      const res = await pending;
      expect(res.status, res.body).toBe(200);
      // Answered just now: still active, though it arrived more than idle_seconds ago.
      expect((await kedaPoll(scaler, { tier: 'burst' })).active).toBe(true);
      // Inactive idle_seconds after the answer, pushed once.
      expect(await s.next(BURST_IDLE_S * 1000 + 5_000)).toBe(false);
      // KEDA received it idle_seconds after the answer, not after the arrival.
      expect(s.at[2]! - res.at).toBeGreaterThanOrEqual(BURST_IDLE_S * 1000 - 100);
      // A few more evaluations push nothing: the stream saw the wake and the idle, nothing between.
      const ticker = collector!.components.find((c) => c.name === 'autoscale-signals')!;
      for (let i = 0; i < 3; i++) await ticker.forceFlush();
      await new Promise((r) => setImmediate(r));
      expect(s.values).toEqual([false, true, false]);
    } finally {
      await s.close();
    }
  });
});
