// The signals on their own, with a hand-driven clock and load: idle periods, request rate, drains
// that end, per-model views, and configurations that cannot work.
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { autoscaleConfigSchema } from '../../collector/autoscale/config.ts';
import { Signals } from '../../collector/autoscale/signals.ts';
import { ProxyState } from '../../exporters/proxy/state.ts';

function setup(idle = 60) {
  let now = 1_000_000;
  const state = new ProxyState();
  const registry = new Registry();
  const requests = new Counter({ name: 'llmeter_proxy_requests_total', help: 'x', labelNames: ['upstream', 'model', 'tenant', 'status', 'error_kind'], registers: [registry] });
  const cfg = autoscaleConfigSchema.parse({ enabled: true, rate_window_s: 10, tiers: [{ name: 'premium', upstreams: ['gpu-a', 'gpu-b'], idle_seconds: idle }, { name: 'standard', upstreams: ['cpu'] }] });
  const upstreams = [
    { name: 'gpu-a', node: 'n1' },
    { name: 'gpu-b', node: 'n2' },
    { name: 'cpu', node: 'n3' },
  ];
  const signals = new Signals({ config: cfg, state, upstreams, registry, now: () => now });
  const changed: string[] = [];
  signals.onChange((t) => changed.push(t));
  return { state, signals, requests, changed, advance: (ms: number) => (now += ms), at: () => now };
}

describe('Signals', () => {
  it('is active while anything is in flight or waiting, then until idle_seconds after the last request', () => {
    const { state, signals, advance, at } = setup(60);
    const q = { tier: 'premium', model: '' };
    advance(61_000);
    expect(signals.active(q)).toBe(false);
    state.arrived('gpu-a', 'llama3.1:70b', at());
    state.inflightDelta('gpu-a', 'llama3.1:70b', 1);
    expect(signals.value(q, 'load')).toBe(1);
    advance(120_000);
    expect(signals.active(q)).toBe(true); // still in flight, however long
    state.inflightDelta('gpu-a', 'llama3.1:70b', -1);
    expect(signals.active(q)).toBe(false); // last request arrived 120 s ago
    state.arrived('gpu-b', 'llama3.1:70b', at());
    advance(59_000);
    expect(signals.active(q)).toBe(true);
    expect(signals.value(q, 'idle_seconds')).toBe(59);
    advance(1_000);
    expect(signals.active(q)).toBe(false);
    // Per model: `llama3.1:70b` and its `:latest`-less name agree; other models are separate.
    expect(signals.value({ tier: 'premium', model: 'llama3.1:70b' }, 'idle_seconds')).toBe(60);
    expect(signals.value({ tier: 'standard', model: '' }, 'load')).toBe(0);
  });

  it('tells listeners which tier changed, on load changes and on every tick', async () => {
    const { state, signals, changed } = setup();
    state.queueDelta('cpu', 'm', 1);
    state.queueDelta('elsewhere', 'm', 1);
    expect(changed).toEqual(['standard']);
    await signals.tick();
    expect(changed.slice(1).sort()).toEqual(['premium', 'standard']);
  });

  it('computes the request rate over the window from the proxy\'s request counter', async () => {
    const { signals, requests, advance } = setup();
    await signals.tick();
    requests.inc({ upstream: 'gpu-a', model: 'llama3', tenant: 't', status: '200', error_kind: '' }, 20);
    requests.inc({ upstream: 'cpu', model: 'qwen', tenant: 't', status: '200', error_kind: '' }, 5);
    advance(10_000);
    await signals.tick();
    expect(signals.value({ tier: 'premium', model: '' }, 'request_rate')).toBe(2);
    expect(signals.value({ tier: 'premium', model: 'llama3' }, 'request_rate')).toBe(2);
    expect(signals.value({ tier: 'premium', model: 'other' }, 'request_rate')).toBe(0);
    expect(signals.value({ tier: 'standard', model: '' }, 'request_rate')).toBe(0.5);
    // Nothing more for a whole window: the rate falls to zero.
    advance(10_000);
    await signals.tick();
    advance(10_000);
    await signals.tick();
    expect(signals.value({ tier: 'premium', model: '' }, 'request_rate')).toBe(0);
  });

  it('drains the upstreams of a node until the drain ends', async () => {
    const { signals, advance, at, changed, state } = setup();
    expect(signals.drain('unknown-node', at() + 1_000)).toEqual([]);
    expect(signals.drain('n2', at() + 120_000)).toEqual(['gpu-b']);
    // The proxy is told too, so it passes over the draining upstream for new requests.
    expect(state.isDraining('gpu-b', at())).toBe(true);
    expect(state.isDraining('gpu-a', at())).toBe(false);
    expect(state.isDraining('gpu-b', at() + 120_000)).toBe(false);
    expect(changed).toEqual(['premium']);
    expect(signals.value({ tier: 'premium', model: '' }, 'draining')).toBe(1);
    expect(signals.isDraining('gpu-a')).toBe(false);
    advance(120_000);
    await signals.tick();
    expect(signals.value({ tier: 'premium', model: '' }, 'draining')).toBe(0);
  });

  it('refuses tiers that name unknown upstreams, or share one', () => {
    const state = new ProxyState();
    const mk = (tiers: unknown) => () => new Signals({ config: autoscaleConfigSchema.parse({ tiers }), state, upstreams: [{ name: 'a', node: 'n' }], registry: new Registry() });
    expect(mk([{ name: 't', upstreams: ['b'] }])).toThrow(/names upstream 'b'/);
    expect(mk([{ name: 't', upstreams: ['a'] }, { name: 'u', upstreams: ['a'] }])).toThrow(/in tiers 't' and 'u'/);
    expect(mk([{ name: 't', upstreams: ['a'] }, { name: 't', upstreams: ['a'] }])).toThrow(/configured twice/);
    expect(() => autoscaleConfigSchema.parse({ tiers: [{ name: 't', upstreams: [] }] })).toThrow();
    expect(() => autoscaleConfigSchema.parse({ bogus: 1 })).toThrow();
  });
});
