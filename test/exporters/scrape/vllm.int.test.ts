import { hostname } from 'node:os';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { scrapeConfigSchema } from '../../../exporters/scrape/config.ts';
import { buildScrape } from '../../../exporters/scrape/build.ts';
import { testConfig } from '../../helpers/store.ts';
import { fixture, PageServer } from '../../helpers/page-server.ts';

const FILES = [
  'vllm-metrics.prom',
  'vllm-metrics-docs-iteration-tokens.prom',
  'vllm-metrics-v0-legacy-router.prom',
  'vllm-metrics-v1-grep-after-10-requests.prom',
];

interface Row {
  server: string;
  node: string;
  model: string;
  engine: string;
  metric: string;
  kind: string;
  value: number;
  labels: Record<string, string>;
}

describe('vLLM pages scraped over HTTP into ClickHouse', () => {
  const pages = new PageServer();
  let collector: Collector;

  const rowsOf = async (server: string): Promise<Row[]> =>
    (
      await collector.store.queryRows<Row>(
        'SELECT server, node, model, engine, metric, kind, value, labels FROM model_server_metrics WHERE server = {s:String} ORDER BY ts, metric, kind, toString(labels)',
        { s: server },
      )
    ).map((r) => ({
      ...r,
      value: Number(r.value),
    }));

  async function scrapeSeries(name: string, bodies: string[], initial: 'auto' | 'keep' | 'drop'): Promise<Row[]> {
    const cfg = scrapeConfigSchema.parse({
      enabled: true,
      counter_initial: initial,
      targets: [{ name, kind: 'vllm', url: pages.url(`/${name}`), node: 'gpu-node-1' }],
      inventory: { enabled: false },
    });
    const f = buildScrape({ config: cfg, sink: collector.pipeline, registry: new Registry(), log: silentLogger });
    for (const body of bodies) {
      pages.set(`/${name}`, { body });
      const r = await f.scraper.scrapeNow(name);
      expect(r.ok, r.error).toBe(true);
      await r.durable;
      await new Promise((res) => setTimeout(res, 3));
    }
    return rowsOf(name);
  }

  beforeAll(async () => {
    await pages.start();
    for (const f of FILES) pages.set(`/${f}`, { body: fixture('vllm', f) });
    collector = await startCollector(testConfig({ pipeline: { batch_ms: 50 } }), silentLogger, { withoutHttp: true });
    const config = scrapeConfigSchema.parse({
      enabled: true,
      counter_initial: 'keep',
      targets: FILES.map((f) => ({ name: f.replace(/\.prom$/, ''), kind: 'vllm', url: pages.url(`/${f}`) })),
      inventory: { enabled: false },
    });
    const feature = buildScrape({ config, sink: collector.pipeline, registry: collector.registry, log: silentLogger });
    const results = await feature.scraper.scrapeAll();
    for (const r of results) expect(r.ok, r.error).toBe(true);
    await Promise.all(results.map((r) => r.durable));
  });
  afterAll(async () => {
    await collector?.shutdown();
    await pages.stop();
  });

  it('docs page: gauge, counters by finished_reason, histogram buckets with their le; "..." skipped', async () => {
    const rows = await rowsOf('vllm-metrics');
    expect(rows.every((r) => r.model === 'meta-llama/Llama-3.1-8B-Instruct' && r.engine === '' && r.node === hostname())).toBe(true);
    expect(rows.find((r) => r.metric === 'vllm:num_requests_running')).toMatchObject({ kind: 'gauge', value: 8 });
    expect(rows.find((r) => r.metric === 'vllm:generation_tokens_total')).toMatchObject({ kind: 'counter_delta', value: 27453 });
    const success = rows.filter((r) => r.metric === 'vllm:request_success_total').map((r) => [r.labels.finished_reason, r.value]);
    expect(success.sort()).toEqual([
      ['abort', 0],
      ['length', 131],
      ['stop', 1],
    ]);
    const buckets = rows.filter((r) => r.metric === 'vllm:time_to_first_token_seconds' && r.kind === 'histogram_bucket_delta');
    expect(buckets).toHaveLength(8);
    expect(buckets.find((r) => r.labels.le === '0.04')!.value).toBe(97);
    expect(rows.find((r) => r.metric === 'vllm:time_to_first_token_seconds' && r.kind === 'histogram_count_delta')!.value).toBe(140);
  });

  it('iteration-tokens page: _sum before buckets and float le values ("1.0" → "1")', async () => {
    const rows = await rowsOf('vllm-metrics-docs-iteration-tokens');
    expect(
      rows
        .filter((r) => r.kind === 'histogram_bucket_delta')
        .map((r) => r.labels.le)
        .sort((a, b) => Number(a) - Number(b)),
    ).toEqual(['1', '8', '16', '32', '64', '128', '256', '512']);
    expect(rows.find((r) => r.kind === 'histogram_sum_delta')).toMatchObject({
      metric: 'vllm:iteration_tokens_total',
      value: 0,
      model: 'unsloth/Llama-3.2-1B-Instruct',
    });
  });

  it('legacy page: process_* not stored, deprecated gpu_cache_usage_perc stored as kv_cache_usage_perc', async () => {
    const rows = await rowsOf('vllm-metrics-v0-legacy-router');
    expect(rows.map((r) => r.metric).sort()).toEqual(['vllm:kv_cache_usage_perc', 'vllm:num_requests_running', 'vllm:num_requests_waiting']);
    expect(rows.find((r) => r.metric === 'vllm:kv_cache_usage_perc')!.labels).toEqual({ deprecated_name: 'vllm:gpu_cache_usage_perc' });
  });

  it('V1 page without TYPE lines: engine label, counters and histogram _count/_sum recognised by name', async () => {
    const rows = await rowsOf('vllm-metrics-v1-grep-after-10-requests');
    expect(rows.every((r) => r.engine === '0' && r.model === 'Qwen/Qwen3-0.6B')).toBe(true);
    const by = (m: string, k: string) => rows.find((r) => r.metric === m && r.kind === k)?.value;
    expect(by('vllm:request_success_total', 'counter_delta')).toBe(10);
    expect(by('vllm:prompt_tokens_total', 'counter_delta')).toBe(80);
    expect(by('vllm:generation_tokens_total', 'counter_delta')).toBe(500);
    expect(by('vllm:time_to_first_token_seconds', 'histogram_count_delta')).toBe(10);
    expect(by('vllm:time_to_first_token_seconds', 'histogram_sum_delta')).toBeCloseTo(0.205, 9);
    expect(by('vllm:inter_token_latency_seconds', 'histogram_count_delta')).toBe(490);
    expect(by('vllm:kv_cache_usage_perc', 'gauge')).toBe(0);
    expect(rows.find((r) => r.metric === 'vllm:request_success_total')!.labels).toEqual({ finished_reason: 'length' });
  });

  it('counters become deltas between scrapes, with resets detected and first values dropped under auto', async () => {
    const page = (prompt: number, b1: number, bInf: number, sum: number) =>
      [
        '# TYPE vllm:prompt_tokens_total counter',
        `vllm:prompt_tokens_total{engine="0",model_name="m"} ${prompt}`,
        '# TYPE vllm:e2e_request_latency_seconds histogram',
        `vllm:e2e_request_latency_seconds_bucket{engine="0",le="1.0",model_name="m"} ${b1}`,
        `vllm:e2e_request_latency_seconds_bucket{engine="0",le="+Inf",model_name="m"} ${bInf}`,
        `vllm:e2e_request_latency_seconds_count{engine="0",model_name="m"} ${bInf}`,
        `vllm:e2e_request_latency_seconds_sum{engine="0",model_name="m"} ${sum}`,
      ].join('\n') + '\n';
    const rows = await scrapeSeries('reset-server', [page(100, 1, 2, 1.5), page(150, 3, 5, 4.0), page(20, 0, 1, 2.0), page(20, 0, 1, 2.0)], 'auto');
    const prompt = rows.filter((r) => r.metric === 'vllm:prompt_tokens_total').map((r) => r.value);
    // First sight dropped (the server ran before us), +50, reset → 20, then no change.
    expect(prompt).toEqual([50, 20, 0]);
    const inf = rows.filter((r) => r.kind === 'histogram_bucket_delta' && r.labels.le === '+Inf').map((r) => r.value);
    expect(inf).toEqual([3, 1, 0]);
    const sums = rows.filter((r) => r.kind === 'histogram_sum_delta').map((r) => r.value);
    expect(sums).toEqual([2.5, 2, 0]);
    expect(rows.every((r) => r.node === 'gpu-node-1' && r.server === 'reset-server')).toBe(true);
  });

  it('a series created after the scraper started keeps its first value under auto; a changed _created is a reset', async () => {
    const now = Date.now() / 1000;
    const page = (v: number, created: number) =>
      [
        '# TYPE vllm:generation_tokens counter',
        `vllm:generation_tokens_total{model_name="m"} ${v}`,
        `vllm:generation_tokens_created{model_name="m"} ${created}`,
      ].join('\n') + '\n';
    const rows = await scrapeSeries('created-server', [page(7, now + 1), page(9, now + 1), page(30, now + 2)], 'auto');
    expect(rows.map((r) => [r.metric, r.kind, r.value])).toEqual([
      ['vllm:generation_tokens_total', 'counter_delta', 7],
      ['vllm:generation_tokens_total', 'counter_delta', 2],
      ['vllm:generation_tokens_total', 'counter_delta', 30],
    ]);
  });

  it('a page with a deprecated name and its replacement keeps only the current one', async () => {
    const body =
      '# TYPE vllm:gpu_cache_usage_perc gauge\nvllm:gpu_cache_usage_perc{model_name="m"} 0.5\n' +
      '# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc{model_name="m"} 0.5\n' +
      '# HELP vllm:gpu_prefix_cache_queries_total GPU prefix cache queries, in terms of number of queried blocks.\n# TYPE vllm:gpu_prefix_cache_queries_total counter\nvllm:gpu_prefix_cache_queries_total{model_name="m"} 12\n';
    const rows = await scrapeSeries('dup-server', [body], 'keep');
    expect(rows.map((r) => [r.metric, r.value, r.labels])).toEqual([
      ['vllm:kv_cache_usage_perc', 0.5, {}],
      ['vllm:prefix_cache_queries_total', 12, { deprecated_name: 'vllm:gpu_prefix_cache_queries_total', unit: 'blocks' }],
    ]);
  });
});
