// The vLLM /metrics page of the simulated OpenAI-compatible server, scraped by the real vLLM scraper
// into the embedded store: the rows must add up to exactly what the client saw of the traffic in
// between (tokens streamed, prompts, answers by finish reason), and the gauges must show the requests
// running and waiting at the moment of the scrape.
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { SIM_MODELS } from '../../../collector/app/demo/catalog.ts';
import { tokensOf } from '../../../collector/app/demo/habits.ts';
import { SimModelServer } from '../../../collector/app/demo/model-server.ts';
import { Prng } from '../../../collector/app/demo/prng.ts';
import { promFloat, VLLM_BUCKETS } from '../../../collector/app/demo/vllm-page.ts';
import { parsePrometheusText } from '../../../exporters/scrape/prometheus/parse.ts';
import { buildScrape, type ScrapeParts } from '../../../exporters/scrape/build.ts';
import { scrapeConfigSchema } from '../../../exporters/scrape/config.ts';
import { testConfig } from '../../helpers/store.ts';

interface Seen {
  status: number;
  tokens: number;
  finish: string | null;
  broke: boolean;
  promptTokens: number;
  ttftMs: number | null;
  durationMs: number;
}

interface Row {
  metric: string;
  kind: string;
  le: string;
  reason: string;
  value: number;
}

const MODEL = 'qwen2.5:14b';

async function call(url: string, mode: 'sse' | 'sse-usage' | 'json', words: number, maxTokens: number): Promise<Seen> {
  const messages = [
    { role: 'system', content: 'Summarise.' },
    { role: 'user', content: 'lorem ipsum '.repeat(words) },
  ];
  const body: Record<string, unknown> = { model: MODEL, messages, max_tokens: maxTokens };
  if (mode !== 'json') body.stream = true;
  if (mode === 'sse-usage') body.stream_options = { include_usage: true };
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(body) });
  const promptTokens = messages.reduce((n, m) => n + 4 + tokensOf(m.content), 0);
  const seen: Seen = { status: res.status, tokens: 0, finish: null, broke: false, promptTokens, ttftMs: null, durationMs: 0 };
  if (mode === 'json' || res.status !== 200) {
    const j = (await res.json()) as { usage?: { completion_tokens: number }; choices?: { finish_reason: string }[] };
    seen.durationMs = performance.now() - t0;
    if (res.status === 200) {
      seen.tokens = j.usage!.completion_tokens;
      seen.finish = j.choices![0]!.finish_reason;
    }
    return seen;
  }
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body!) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true });
    let at: number;
    while ((at = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, at);
      buf = buf.slice(at + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6)) as { error?: unknown; choices?: { delta: { content?: string }; finish_reason: string | null }[] };
      if (j.error) seen.broke = true;
      const c = j.choices?.[0];
      if (c?.delta.content !== undefined) {
        seen.tokens++;
        seen.ttftMs ??= performance.now() - t0;
      }
      if (c?.finish_reason) seen.finish = c.finish_reason;
    }
  }
  seen.durationMs = performance.now() - t0;
  return seen;
}

describe('simulated vLLM /metrics page through the real vLLM scraper', () => {
  let collector: Collector;
  let busy: SimModelServer;
  let calm: SimModelServer;
  let busyUrl = '';
  let calmUrl = '';
  let feature: ScrapeParts;

  async function scrape(name: string): Promise<void> {
    const r = await feature.scraper.scrapeNow(name);
    expect(r.ok, r.error).toBe(true);
    await r.durable;
  }

  async function rows(server: string): Promise<Row[]> {
    const rs = await collector.store.queryRows<Row>(
      "SELECT metric, kind, labels['le'] AS le, labels['finished_reason'] AS reason, value FROM model_server_metrics WHERE server = {s:String} ORDER BY ts",
      { s: server },
    );
    return rs.map((r) => ({ ...r, value: Number(r.value) }));
  }

  beforeAll(async () => {
    const model = SIM_MODELS[MODEL]!;
    // Failures on, so every path (500 before a token, a stream broken off, a full queue) shows up.
    busy = new SimModelServer({
      name: 'sim-openai-busy',
      node: 'sim-gpu-b',
      models: [model],
      parallel: 2,
      maxQueue: 1,
      errorRate: 0.15,
      midstreamErrorRate: 0.2,
      keepAliveMs: 60_000,
      prng: new Prng(7),
      timeScale: 0.02,
      vllmMetrics: { kvCacheTokens: 49_152 },
    });
    calm = new SimModelServer({
      name: 'sim-openai-calm',
      node: 'sim-gpu-c',
      models: [model],
      parallel: 2,
      maxQueue: 2,
      errorRate: 0,
      midstreamErrorRate: 0,
      keepAliveMs: 60_000,
      prng: new Prng(8),
      timeScale: 0.05,
      vllmMetrics: { kvCacheTokens: 49_152 },
    });
    busyUrl = await busy.listen();
    calmUrl = await calm.listen();
    collector = await startCollector(testConfig({ pipeline: { batch_ms: 20 } }), silentLogger, { withoutHttp: true });
    const config = scrapeConfigSchema.parse({
      enabled: true,
      targets: [
        { name: 'sim-openai-busy', kind: 'vllm', url: `${busyUrl}/metrics`, node: 'sim-gpu-b' },
        { name: 'sim-openai-calm', kind: 'vllm', url: `${calmUrl}/metrics`, node: 'sim-gpu-c' },
      ],
      inventory: { enabled: false },
    });
    feature = buildScrape({ config, sink: collector.pipeline, registry: new Registry(), log: silentLogger });
  });

  afterAll(async () => {
    await busy?.close();
    await calm?.close();
    await collector?.shutdown();
  });

  it('is a vLLM page: current names, engine and model_name labels, HELP/TYPE, cumulative buckets', async () => {
    const text = await (await fetch(`${busyUrl}/metrics`)).text();
    const page = parsePrometheusText(text);
    expect(page.invalidLines).toBe(0);
    for (const name of ['vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:kv_cache_usage_perc']) expect(page.types.get(name), name).toBe('gauge');
    for (const name of ['vllm:prompt_tokens_total', 'vllm:generation_tokens_total', 'vllm:request_success_total'])
      expect(page.types.get(name), name).toBe('counter');
    for (const name of [
      'vllm:time_to_first_token_seconds',
      'vllm:e2e_request_latency_seconds',
      'vllm:inter_token_latency_seconds',
      'vllm:request_queue_time_seconds',
    ])
      expect(page.types.get(name), name).toBe('histogram');
    const vllm = page.samples.filter((s) => s.name.startsWith('vllm:'));
    expect(vllm.length).toBeGreaterThan(50);
    for (const s of vllm) {
      expect(s.labels.model_name).toBe(MODEL);
      expect(s.labels.engine).toBe('0');
    }
    const ttftBuckets = vllm.filter((s) => s.name === 'vllm:time_to_first_token_seconds_bucket');
    expect(ttftBuckets.map((s) => s.labels.le)).toEqual([...VLLM_BUCKETS.ttft.map((b) => promFloat(b)), '+Inf']);
    expect(new Set(vllm.filter((s) => s.name === 'vllm:request_success_total').map((s) => s.labels.finished_reason))).toEqual(
      new Set(['stop', 'length', 'abort']),
    );
  });

  it('counter and histogram deltas equal the traffic the client saw between two scrapes', { timeout: 60_000 }, async () => {
    await scrape('sim-openai-busy');
    const seen: Seen[] = [];
    const modes = ['sse', 'sse-usage', 'json'] as const;
    for (let round = 0; round < 8; round++) {
      // Four at once against two slots and a queue of one: the fourth is refused.
      const batch = await Promise.all([0, 1, 2, 3].map((i) => call(busyUrl, modes[(round + i) % 3]!, 20 + 15 * i + round, 30 + 10 * i)));
      seen.push(...batch);
    }
    await scrape('sim-openai-busy');

    const ok = seen.filter((s) => s.status === 200);
    const refused = seen.filter((s) => s.status === 503);
    const failed = seen.filter((s) => s.status === 500);
    const broke = ok.filter((s) => s.broke);
    const done = ok.filter((s) => !s.broke);
    const withTokens = ok.filter((s) => s.tokens > 0);
    // The seed makes every path happen; if it did not, the test below would prove less.
    expect(refused.length, 'queue-full refusals').toBeGreaterThan(0);
    expect(failed.length, '500 before a token').toBeGreaterThan(0);
    expect(broke.length, 'streams broken off').toBeGreaterThan(0);
    expect(done.length).toBeGreaterThan(0);
    expect(refused.length + failed.length + ok.length).toBe(seen.length);

    const rs = await rows('sim-openai-busy');
    const sum = (metric: string, kind: string, pick: (r: Row) => boolean = () => true) =>
      rs.filter((r) => r.metric === metric && r.kind === kind && pick(r)).reduce((s, r) => s + r.value, 0);
    const tokens = ok.reduce((s, x) => s + x.tokens, 0);
    expect(sum('vllm:generation_tokens_total', 'counter_delta')).toBe(tokens);
    expect(sum('vllm:prompt_tokens_total', 'counter_delta')).toBe(withTokens.reduce((s, x) => s + x.promptTokens, 0));
    for (const reason of ['stop', 'length'] as const) {
      expect(
        sum('vllm:request_success_total', 'counter_delta', (r) => r.reason === reason),
        reason,
      ).toBe(done.filter((s) => s.finish === reason).length);
    }
    expect(sum('vllm:request_success_total', 'counter_delta', (r) => r.reason === 'abort')).toBe(failed.length + broke.length);
    // A refused request never reached the engine: no counter knows it.
    expect(sum('vllm:request_success_total', 'counter_delta')).toBe(seen.length - refused.length);

    const hist = (metric: string) => ({
      count: sum(metric, 'histogram_count_delta'),
      sum: sum(metric, 'histogram_sum_delta'),
      inf: sum(metric, 'histogram_bucket_delta', (r) => r.le === '+Inf'),
      buckets: rs.filter((r) => r.metric === metric && r.kind === 'histogram_bucket_delta'),
    });
    const ttft = hist('vllm:time_to_first_token_seconds');
    expect(ttft.count).toBe(withTokens.length);
    expect(ttft.inf).toBe(ttft.count);
    const itl = hist('vllm:inter_token_latency_seconds');
    expect(itl.count).toBe(tokens - withTokens.length);
    const e2e = hist('vllm:e2e_request_latency_seconds');
    expect(e2e.count).toBe(done.length);
    expect(hist('vllm:request_queue_time_seconds').count).toBe(done.length);
    // The engine's clocks run inside the client's: its first token and its end come no later than
    // the client sees them.
    const clientTtft = withTokens.reduce((s, x) => s + (x.ttftMs ?? x.durationMs), 0) / 1000;
    expect(ttft.sum).toBeGreaterThan(0);
    expect(ttft.sum).toBeLessThanOrEqual(clientTtft + 1e-6);
    expect(e2e.sum).toBeGreaterThan(0);
    expect(e2e.sum).toBeLessThanOrEqual(done.reduce((s, x) => s + x.durationMs, 0) / 1000 + 1e-6);
    // Cumulative buckets: each le counts no fewer than the one before.
    const byLe = new Map<string, number>();
    for (const b of e2e.buckets) byLe.set(b.le, (byLe.get(b.le) ?? 0) + b.value);
    const ordered = [...VLLM_BUCKETS.latency.map((x) => String(x)), '+Inf'].map((le) => byLe.get(le) ?? -1);
    for (let i = 1; i < ordered.length; i++) expect(ordered[i]!).toBeGreaterThanOrEqual(ordered[i - 1]!);
    expect(ordered.at(-1)).toBe(done.length);
    // Gauges after the traffic: nothing runs, nothing waits, no KV cache held.
    const lastGauge = (metric: string) => rs.filter((r) => r.metric === metric && r.kind === 'gauge').at(-1)!.value;
    expect(lastGauge('vllm:num_requests_running')).toBe(0);
    expect(lastGauge('vllm:num_requests_waiting')).toBe(0);
    expect(lastGauge('vllm:kv_cache_usage_perc')).toBe(0);
  });

  it('gauges show the requests running and waiting at the moment of the scrape', { timeout: 30_000 }, async () => {
    const pending = [0, 1, 2, 3].map(() => call(calmUrl, 'sse', 40, 400));
    const deadline = Date.now() + 10_000;
    // Two computing, two queued, and tokens flowing (so the KV cache holds something).
    while (!(calm.activity.active === 2 && calm.activity.queued === 2 && calm.activity.tokens > 0) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 2));
    await scrape('sim-openai-calm');
    const answers = await Promise.all(pending);
    expect(answers.every((a) => a.status === 200 && !a.broke)).toBe(true);
    const rs = await rows('sim-openai-calm');
    const gauge = (metric: string) => rs.find((r) => r.metric === metric && r.kind === 'gauge')!.value;
    expect(gauge('vllm:num_requests_running')).toBe(2);
    expect(gauge('vllm:num_requests_waiting')).toBe(2);
    expect(gauge('vllm:kv_cache_usage_perc')).toBeGreaterThan(0);
    expect(gauge('vllm:kv_cache_usage_perc')).toBeLessThan(1);
  });
});
