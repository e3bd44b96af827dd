import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../collector/core/log.ts';
import type { RecordSink } from '../../../collector/core/pipeline/pipeline.ts';
import { buildScrape } from '../../../exporters/scrape/build.ts';
import { scrapeConfigSchema } from '../../../exporters/scrape/config.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import type { TargetStatus } from '../../../exporters/scrape/scraper.ts';
import { testConfig } from '../../helpers/store.ts';
import { deadUrl, fixture, PageServer } from '../../helpers/page-server.ts';
import { metricValue } from '../../helpers/metrics.ts';

// The whole feature as `llmeter start` runs it: scrape.targets in the configuration, real timers.
describe('scraper core in a running collector', () => {
  const pages = new PageServer();
  let collector: Collector;
  let dead: string;

  beforeAll(async () => {
    await pages.start();
    dead = await deadUrl();
    const good = fixture('dcgm', 'dcgm-multi-gpu-4xv100-hostname.prom');
    const lines = good.split('\n');
    // A page damaged in transit: a cut line, a binary blob and a bad value among good lines.
    lines.splice(4, 0, 'DCGM_FI_DEV_SM_CLOCK{gpu="0",UUID="GPU-a6158b59', '\u0000\u0001garbage', 'DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-x"} hot');
    pages.set('/good', { body: good });
    pages.set('/corrupt', { body: lines.join('\n') });
    pages.set('/hang', { hang: true });
    pages.set('/huge', { body: good.repeat(20) });
    pages.set('/error', { status: 500, body: 'internal error' });
    pages.set('/vllm', { body: fixture('vllm', 'vllm-metrics-v1-grep-after-10-requests.prom') });
    // What an exporter that lost its GPUs (or DCGM) serves: its families' headers and no samples.
    pages.set('/empty', { body: '# HELP DCGM_FI_DEV_GPU_TEMP GPU temperature (in C).\n# TYPE DCGM_FI_DEV_GPU_TEMP gauge\n' });
    const t = (name: string, url: string, kind = 'dcgm') => ({ name, kind, url });
    collector = await startCollector(
      testConfig({
        pipeline: { batch_ms: 50 },
        scrape: {
          enabled: true,
          interval_ms: 150,
          timeout_ms: 300,
          jitter_ratio: 0.5,
          max_body_bytes: 8 * 1024,
          inventory: { enabled: false },
          targets: [
            t('good', pages.url('/good')),
            { ...t('corrupt', pages.url('/corrupt')), node: 'corrupt-node' },
            t('dead', dead),
            t('hang', pages.url('/hang')),
            t('huge', pages.url('/huge')),
            t('error', pages.url('/error')),
            t('vllm', pages.url('/vllm'), 'vllm'),
            t('empty', pages.url('/empty')),
          ],
        },
      }),
      silentLogger,
    );
    // Long enough for several intervals and for the hanging target to time out more than once.
    await new Promise((r) => setTimeout(r, 1500));
  });
  afterAll(async () => {
    await collector?.shutdown();
    await pages.stop();
  });

  async function statuses(): Promise<Map<string, TargetStatus>> {
    const res = await fetch(`http://${collector.address}/api/scrape/targets`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { targets: TargetStatus[] };
    return new Map(body.targets.map((s) => [s.name, s]));
  }

  it('scrapes every target repeatedly on its interval', () => {
    expect(pages.hits.get('/good')).toBeGreaterThanOrEqual(4);
    expect(pages.hits.get('/vllm')).toBeGreaterThanOrEqual(4);
  });

  it('marks failing targets down with the reason while the others stay up', async () => {
    const st = await statuses();
    expect(st.get('good')).toMatchObject({ up: true, lastError: '', consecutiveFailures: 0 });
    expect(st.get('vllm')).toMatchObject({ up: true });
    expect(st.get('dead')).toMatchObject({ up: false });
    expect(st.get('dead')!.lastError).toMatch(/ECONNREFUSED/);
    expect(st.get('dead')!.consecutiveFailures).toBeGreaterThanOrEqual(2);
    expect(st.get('hang')).toMatchObject({ up: false, lastError: 'timed out after 300 ms' });
    expect(st.get('huge')!.lastError).toMatch(/exceeds the limit of 8192 bytes/);
    expect(st.get('error')).toMatchObject({ up: false, lastError: 'HTTP 500' });
    expect(await metricValue(collector.registry, 'llmeter_scrape_up', { target: 'good' })).toBe(1);
    expect(await metricValue(collector.registry, 'llmeter_scrape_up', { target: 'dead' })).toBe(0);
    expect(await metricValue(collector.registry, 'llmeter_scrape_failures_total', { target: 'dead', reason: 'connect' })).toBeGreaterThanOrEqual(2);
    expect(await metricValue(collector.registry, 'llmeter_scrape_failures_total', { target: 'hang', reason: 'timeout' })).toBeGreaterThanOrEqual(1);
    expect(await metricValue(collector.registry, 'llmeter_scrape_failures_total', { target: 'huge', reason: 'too_large' })).toBeGreaterThanOrEqual(1);
    expect(await metricValue(collector.registry, 'llmeter_scrape_failures_total', { target: 'error', reason: 'http_status' })).toBeGreaterThanOrEqual(1);
    const dur = await collector.registry.getSingleMetric('llmeter_scrape_duration_seconds')!.get();
    expect(
      dur.values.find((v) => v.labels.target === 'good' && (v as { metricName?: string }).metricName === 'llmeter_scrape_duration_seconds_count')!.value,
    ).toBeGreaterThanOrEqual(4);
  });

  it('a page without samples is counted and named, not a silent success', async () => {
    const st = (await statuses()).get('empty')!;
    expect(st).toMatchObject({ up: true, samples: 0, lastError: 'the page has no samples' });
    const scrapes = (await metricValue(collector.registry, 'llmeter_scrape_scrapes_total', { target: 'empty', result: 'ok' }))!;
    expect(scrapes).toBeGreaterThanOrEqual(2);
    expect(await metricValue(collector.registry, 'llmeter_scrape_empty_pages_total', { target: 'empty', kind: 'dcgm' })).toBe(scrapes);
    expect(await metricValue(collector.registry, 'llmeter_scrape_empty_pages_total', { target: 'good' })).toBeUndefined();
  });

  it('a corrupted page yields its good samples plus a counted error, and the target stays up', async () => {
    const st = (await statuses()).get('corrupt')!;
    expect(st.up).toBe(true);
    expect(st.invalidLines).toBe(3);
    expect(st.lastError).toMatch(/^3 invalid line\(s\); first at line 5/);
    const scrapes = (await metricValue(collector.registry, 'llmeter_scrape_scrapes_total', { target: 'corrupt', result: 'ok' }))!;
    expect(await metricValue(collector.registry, 'llmeter_scrape_invalid_lines_total', { target: 'corrupt' })).toBe(3 * scrapes);
    // Same good rows per scrape as the clean page: 9 samples + 1 derived utilization row.
    await collector.pipeline.forceFlush();
    const perScrape = await collector.store.queryRows<{ ts: string; n: string }>(
      "SELECT ts, count() AS n FROM gpu_metrics WHERE node = 'corrupt-node' GROUP BY ts",
    );
    expect(perScrape.length).toBeGreaterThanOrEqual(4);
    expect(new Set(perScrape.map((r) => Number(r.n)))).toEqual(new Set([10]));
  });

  it('vLLM rows from the same collector land in model_server_metrics; counters only once per change', async () => {
    await collector.pipeline.forceFlush();
    const rows = await collector.store.queryRows<{ kind: string; s: number; n: string }>(
      "SELECT kind, sum(value) AS s, count() AS n FROM model_server_metrics WHERE server = 'vllm' AND metric = 'vllm:generation_tokens_total' GROUP BY kind",
    );
    // auto: the first value is dropped (no _created), later scrapes add 0 each since the page is static.
    expect(rows).toHaveLength(1);
    expect(rows[0]!.kind).toBe('counter_delta');
    expect(Number(rows[0]!.s)).toBe(0);
    expect(Number(rows[0]!.n)).toBeGreaterThanOrEqual(3);
  });

  it('stops scraping at shutdown', async () => {
    await collector.shutdown();
    const before = pages.hits.get('/good');
    await new Promise((r) => setTimeout(r, 400));
    expect(pages.hits.get('/good')).toBe(before);
  });
});

// How long scraped rows may wait for their batch: a scheduled scrape's samples up to the target's
// interval, everything else (events, a scrape asked for now) at the pipeline's pace.
describe('scraped samples and the batch window', () => {
  const pages = new PageServer();
  afterAll(async () => pages.stop());

  it("lets a scheduled scrape's samples wait up to the interval, and nothing else", async () => {
    await pages.start();
    // An XID on the page, so the scrape also submits a capacity event, which must not wait.
    const page = fixture('dcgm', 'dcgm-k8s-pod-attributed-t4.prom').replace(/^(DCGM_FI_DEV_XID_ERRORS\{.*\}) 0$/m, '$1 79');
    expect(page).toMatch(/DCGM_FI_DEV_XID_ERRORS\{.*\} 79$/m);
    pages.set('/dcgm', { body: page });
    const seen: { signal: string; maxDelayMs: number | undefined }[] = [];
    const sink: RecordSink = {
      async submit(signal, records, _origin, opts) {
        seen.push({ signal, maxDelayMs: opts?.maxDelayMs });
        return { accepted: records.length, rejected: 0, dropped: 0, reasons: [], durable: Promise.resolve() };
      },
    };
    const config = scrapeConfigSchema.parse({
      enabled: true,
      interval_ms: 200,
      jitter_ratio: 0,
      inventory: { enabled: false },
      targets: [{ name: 'gpu', kind: 'dcgm', url: pages.url('/dcgm') }],
    });
    const f = buildScrape({ config, sink, registry: new Registry(), log: silentLogger });
    await f.scraper.start();
    await new Promise((r) => setTimeout(r, 300));
    await f.scraper.shutdown();
    const scheduled = seen.filter((s) => s.signal === 'gpu_sample');
    expect(scheduled.length).toBeGreaterThan(0);
    expect(scheduled.every((s) => s.maxDelayMs === 200)).toBe(true);
    const events = seen.filter((s) => s.signal === 'capacity_event');
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((s) => s.maxDelayMs === undefined)).toBe(true);
    seen.length = 0;
    const g = buildScrape({ config, sink, registry: new Registry(), log: silentLogger });
    await g.scraper.scrapeNow('gpu');
    expect(seen.filter((s) => s.signal === 'gpu_sample').map((s) => s.maxDelayMs)).toEqual([undefined]);
  });
});
