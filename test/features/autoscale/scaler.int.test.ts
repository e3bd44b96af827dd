// The KEDA external scaler in a running collector, driven the way KEDA drives it: polling
// (IsActive, GetMetricSpec, GetMetrics) and pushing (StreamIsActive), with requests going through
// the metering proxy to upstreams that replay real Ollama captures.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { autoscaleConfigSchema } from '../../../collector/features/autoscale/config.ts';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { ExternalScalerServer } from '../../../collector/features/autoscale/scaler.ts';
import { FakeUpstream } from '../../helpers/fake-upstream.ts';
import { testConfig } from '../../helpers/store.ts';
import { decodeFields, encodeRef, kedaClient, rawUnary, type KedaClient, type Ref } from '../../helpers/keda-client.ts';

let cpu: FakeUpstream;
let gpu: FakeUpstream;
let collector: Collector;
let keda: KedaClient;
let proxyBase: string;
let scalerAddr: string;

const ref = (md: Record<string, string>): Ref => ({ name: 'ollama-premium', namespace: 'llm', scalerMetadata: md });

beforeAll(async () => {
  cpu = new FakeUpstream({ pace: 0.3 });
  gpu = new FakeUpstream({ pace: 0.05 });
  const [cpuUrl, gpuUrl] = await Promise.all([cpu.start(), gpu.start()]);
  const config = testConfig({
    proxy: {
      enabled: true,
      listen: '127.0.0.1:0',
      anonymous_tenant: 'anon',
      ps_poll_ms: 0,
      upstreams: [
        { name: 'gpu-a', url: gpuUrl, node: 'gpu-node-1', models: ['llama3*', 'gemma3*'] },
        { name: 'cpu-a', url: cpuUrl, node: 'cpu-node-1' },
      ],
    },
  });
  const auto = autoscaleConfigSchema.parse({
    enabled: true,
    evaluate_ms: 50,
    tiers: [
      { name: 'premium', upstreams: ['gpu-a'], idle_seconds: 1, target_per_replica: 2 },
      { name: 'standard', upstreams: ['cpu-a'], idle_seconds: 3600 },
    ],
    scaler: { listen: '127.0.0.1:0' },
  });
  collector = await startCollector({ ...config, autoscale: auto }, silentLogger);
  const proxy = collector.components.find((c) => c.name === 'proxy') as unknown as { address(): string };
  proxyBase = `http://${proxy.address()}`;
  const scaler = collector.components.find((c) => c instanceof ExternalScalerServer) as ExternalScalerServer;
  scalerAddr = scaler.address();
  keda = kedaClient(scalerAddr);
});

afterAll(async () => {
  keda?.close();
  await collector?.shutdown();
  await Promise.all([cpu?.close(), gpu?.close()]);
});

async function chat(model: string): Promise<number> {
  const res = await request(`${proxyBase}/api/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], stream: true }),
  });
  await res.body.text();
  return res.statusCode;
}

async function scrape(): Promise<string> {
  const res = await request(`http://${collector.address}/metrics`);
  return res.body.text();
}

describe('KEDA external scaler', () => {
  it('goes inactive after the idle period, wakes at once on a request (pushed), and idles again', async () => {
    const s = keda.stream(ref({ tier: 'premium' }));
    // The current state arrives at once; a collector that just started on an empty store knows of
    // no request, so the tier is inactive from the start.
    expect(await s.next(2_000)).toBe(false);
    expect(await keda.isActive(ref({ tier: 'premium' }))).toBe(false);

    const pending = chat('llama3.2');
    expect(await s.next(2_000)).toBe(true);
    expect(await pending).toBe(200);
    const tEnd = Date.now();
    expect(await keda.isActive(ref({ tier: 'premium', model: 'llama3.2' }))).toBe(true);
    // A model of the tier that saw no request is idle on its own.
    expect(await keda.isActive(ref({ tier: 'premium', model: 'gemma3' }))).toBe(false);

    // Idle again after idle_seconds, pushed by the evaluation tick.
    expect(await s.next(3_000)).toBe(false);
    // Not before idle_seconds (1 s) after the request ended.
    expect(Date.now() - tEnd).toBeGreaterThanOrEqual(950);
    expect(await keda.isActive(ref({ tier: 'premium' }))).toBe(false);
    s.cancel();
  });

  it('answers GetMetricSpec and GetMetrics from the trigger metadata', async () => {
    const spec = await keda.metricSpec(ref({ tier: 'premium' }));
    expect(spec).toEqual([{ metricName: 'llmeter-load-premium', targetSize: 2, targetSizeFloat: 2 }]);
    const spec2 = await keda.metricSpec(ref({ tier: 'standard', metric: 'request_rate', target: '0.5', metricName: 'rps' }));
    expect(spec2).toEqual([{ metricName: 'rps', targetSize: 1, targetSizeFloat: 0.5 }]);

    // Load while a slow stream is in flight on the standard tier (catch-all upstream).
    // The capture's own pacing keeps the streamed answer in flight for a while.
    const pending = chat('qwen2.5');
    let seen = 0;
    for (let i = 0; i < 100 && seen === 0; i++) {
      seen = (await keda.metrics(ref({ tier: 'standard' }), 'llmeter-load-standard'))[0]!.metricValueFloat;
      if (seen === 0) await new Promise((r) => setTimeout(r, 5));
    }
    expect(seen).toBe(1);
    expect(await pending).toBe(200);
    const after = await keda.metrics(ref({ tier: 'standard' }), 's0-llmeter-load-standard');
    expect(after).toEqual([{ metricName: 's0-llmeter-load-standard', metricValue: 0, metricValueFloat: 0 }]);
    const idle = (await keda.metrics(ref({ tier: 'standard', metric: 'idle_seconds' }), 'x'))[0]!.metricValueFloat;
    expect(idle).toBeGreaterThanOrEqual(0);
    expect(idle).toBeLessThan(5);
    // Completed requests show up in the request rate once the tick has sampled them.
    await collector.components.find((c) => c.name === 'autoscale-signals')!.forceFlush();
    const rate = (await keda.metrics(ref({ tier: 'standard', metric: 'request_rate' }), 'x'))[0]!.metricValueFloat;
    expect(rate).toBeGreaterThan(0);
  });

  it('rejects metadata it cannot serve with INVALID_ARGUMENT', async () => {
    await expect(keda.isActive(ref({}))).rejects.toMatchObject({ code: 3 });
    await expect(keda.isActive(ref({ tier: 'nope' }))).rejects.toMatchObject({ code: 3, details: expect.stringContaining("unknown tier 'nope'") });
    await expect(keda.metricSpec(ref({ tier: 'premium', metric: 'bogus' }))).rejects.toMatchObject({ code: 3 });
    await expect(keda.metricSpec(ref({ tier: 'premium', target: '-1' }))).rejects.toMatchObject({ code: 3 });
    const s = keda.stream(ref({ tier: 'nope' }));
    await expect(s.next(2_000)).rejects.toMatchObject({ code: 3 });
  });

  it('speaks the wire format by field number (ScaledObjectRef 1/2/3, IsActiveResponse 1, MetricSpec 1/2/3, MetricValue 1/2/3)', async () => {
    const body = encodeRef({ name: 'so', namespace: 'ns', scalerMetadata: { tier: 'standard', target: '3' } });
    const active = decodeFields(await rawUnary(scalerAddr, 'IsActive', body));
    expect(active).toEqual([{ field: 1, wire: 0, value: 1 }]);
    const spec = decodeFields(await rawUnary(scalerAddr, 'GetMetricSpec', body));
    expect(spec).toHaveLength(1);
    expect(spec[0]!.field).toBe(1);
    const ms = decodeFields(spec[0]!.value as Buffer);
    expect(ms).toEqual([
      { field: 1, wire: 2, value: Buffer.from('llmeter-load-standard') },
      { field: 2, wire: 0, value: 3 },
      { field: 3, wire: 1, value: 3 },
    ]);
    // GetMetricsRequest: scaledObjectRef = 1, metricName = 2.
    const req = Buffer.concat([Buffer.from([0x0a]), Buffer.from([body.length]), body, Buffer.from([0x12, 1]), Buffer.from('m')]);
    const vals = decodeFields(await rawUnary(scalerAddr, 'GetMetrics', req));
    expect(vals).toHaveLength(1);
    const mv = decodeFields(vals[0]!.value as Buffer);
    // Zero values may be left off the wire or written out; either decodes to 0.
    expect(mv.find((f) => f.field === 1)).toEqual({ field: 1, wire: 2, value: Buffer.from('m') });
    for (const f of mv.filter((x) => x.field !== 1)) expect(f).toEqual({ field: f.field, wire: f.field === 2 ? 0 : 1, value: 0 });
  });

  it('marks the node of an interruption notice draining (scaler and /metrics)', async () => {
    expect((await keda.metrics(ref({ tier: 'premium', metric: 'draining' }), 'd'))[0]!.metricValueFloat).toBe(0);
    const hub = collector.provided!.prices.notices;
    expect(hub).toBeDefined();
    const now = Date.now();
    await hub!.report({
      eventId: 'aws:imds:i-0abc:test',
      kind: 'spot_interruption',
      ts: now,
      provider: 'aws',
      channel: 'imds',
      node: 'gpu-node-1',
      instanceId: 'i-0abc',
      action: 'terminate',
      actionAt: now + 120_000,
      detail: {},
    });
    expect((await keda.metrics(ref({ tier: 'premium', metric: 'draining' }), 'd'))[0]!.metricValueFloat).toBe(1);
    expect((await keda.metrics(ref({ tier: 'standard', metric: 'draining' }), 'd'))[0]!.metricValueFloat).toBe(0);
    const page = await scrape();
    expect(page).toMatch(/llmeter_autoscale_draining\{tier="premium",model="\*"\} 1/);
    expect(page).toMatch(/llmeter_autoscale_draining\{tier="standard",model="\*"\} 0/);
  });

  it('serves one series per tier (model="*") and per model on /metrics for the Prometheus scaler', async () => {
    const page = await scrape();
    for (const s of ['load', 'inflight', 'queued', 'held', 'request_rate', 'idle_seconds', 'draining', 'active']) {
      expect(page).toMatch(new RegExp(`^llmeter_autoscale_${s}\\{tier="premium",model="\\*"\\} `, 'm'));
    }
    expect(page).toMatch(/^llmeter_autoscale_active\{tier="premium",model="llama3.2:latest"\} 0$/m);
    expect(page).toMatch(/^llmeter_autoscale_active\{tier="standard",model="\*"\} 1$/m);
  });
});
