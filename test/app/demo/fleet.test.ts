// The simulated fleet's parts on their own: seeded generator, Ollama and OpenAI wire formats, the
// dcgm-exporter page as the real scraper's parser and mapping read it, the spot price walk.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prng } from '../../../collector/app/demo/prng.ts';
import { SimFleet } from '../../../collector/app/demo/fleet.ts';
import { parsePrometheusText } from '../../../exporters/scrape/prometheus/parse.ts';

describe('simulated fleet', () => {
  let fleet: SimFleet;
  beforeAll(async () => {
    fleet = await SimFleet.start({ seed: 3, timeScale: 0.05 });
  });
  afterAll(async () => {
    await fleet.stop();
  });

  it('the seeded generator reproduces', () => {
    const a = new Prng(5);
    const b = new Prng(5);
    const xs = Array.from({ length: 50 }, () => a.next());
    expect(Array.from({ length: 50 }, () => b.next())).toEqual(xs);
    expect(new Prng(6).next()).not.toBe(xs[0]);
    expect(new Prng(5).fork('x').next()).toBe(new Prng(5).fork('x').next());
  });

  it('same seed gives the same keys and spot walk', async () => {
    const again = await SimFleet.start({ seed: 3 });
    try {
      expect(again.tenants.map((t) => t.key)).toEqual(fleet.tenants.map((t) => t.key));
      const w1 = Array.from({ length: 10 }, () => again.spot.step());
      const f3 = await SimFleet.start({ seed: 3 });
      try {
        expect(Array.from({ length: 10 }, () => f3.spot.step())).toEqual(w1);
      } finally {
        await f3.stop();
      }
      for (const p of w1) expect(p).toMatch(/^\d+\.\d{4}$/);
      expect(new Set(w1).size).toBeGreaterThan(1);
    } finally {
      await again.stop();
    }
  });

  it('answers /api/chat as Ollama does: NDJSON lines, then the final chunk with durations', async () => {
    const a = fleet.upstreams.find((u) => u.kind === 'ollama')!;
    const res = await fetch(`${a.url}/api/chat`, {
      method: 'POST',
      body: JSON.stringify({ model: 'llama3.2:3b', messages: [{ role: 'user', content: 'hello there' }], options: { num_predict: 20 } }),
    });
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const last = lines.at(-1)!;
    if ('error' in last) return; // a simulated mid-stream failure is allowed
    expect(last.done).toBe(true);
    expect(last.eval_count).toBe(lines.length - 1);
    for (const k of ['total_duration', 'load_duration', 'prompt_eval_count', 'prompt_eval_duration', 'eval_duration']) expect(typeof last[k], k).toBe('number');
    const ps = (await (await fetch(`${a.url}/api/ps`)).json()) as { models: { name: string; size_vram: number }[] };
    expect(ps.models.map((m) => m.name)).toContain('llama3.2:3b');
  });

  it('answers /v1/chat/completions with SSE and a usage chunk when asked', async () => {
    const b = fleet.upstreams.find((u) => u.kind === 'openai')!;
    const res = await fetch(`${b.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({
        model: 'qwen2.5:14b',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        stream_options: { include_usage: true },
        max_tokens: 10,
      }),
    });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: '));
    expect(events.at(-1)).toBe('data: [DONE]');
    const usage = JSON.parse(events.at(-2)!.slice(6)) as { choices: unknown[]; usage?: { completion_tokens: number } };
    if (!usage.usage) return; // mid-stream failure
    expect(usage.choices).toEqual([]);
    expect(usage.usage.completion_tokens).toBe(events.length - 3);
  });

  it('serves a dcgm-exporter page that parses cleanly and is labelled simulated', async () => {
    const n = fleet.nodes[0]!;
    const text = await (await fetch(n.dcgmUrl)).text();
    expect(text).toMatch(/^# SIMULATED/);
    const page = parsePrometheusText(text);
    expect(page.invalidLines).toBe(0);
    const util = page.samples.find((s) => s.name === 'DCGM_FI_DEV_GPU_UTIL')!;
    expect(util.labels.Hostname).toBe(n.node);
    expect(util.labels.modelName).toBe(n.gpuModel);
    const used = page.samples.find((s) => s.name === 'DCGM_FI_DEV_FB_USED')!.value;
    const free = page.samples.find((s) => s.name === 'DCGM_FI_DEV_FB_FREE')!.value;
    expect(used + free).toBe(23028);
  });
});
