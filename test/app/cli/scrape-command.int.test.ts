import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/store.ts';
import { LlmeterChild, runLlmeter } from '../../helpers/llmeter-child.ts';
import { deadUrl, fixture, PageServer } from '../../helpers/page-server.ts';
import { LLMETER_BIN } from '../../helpers/paths.ts';

const run = promisify(execFile);

async function llmeter(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [LLMETER_BIN, ...args], { env: { ...process.env, LLMETER_CONFIG: '' }, timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('llmeter scrape dcgm|vllm --url URL --once', () => {
  const pages = new PageServer();
  const dataDir = tempDir();

  beforeAll(async () => {
    await pages.start();
    pages.set('/dcgm', { body: fixture('dcgm', 'dcgm-mig-2xa30-bare.prom') });
    pages.set('/vllm', { body: fixture('vllm', 'vllm-metrics-v1-grep-after-10-requests.prom') });
  });
  afterAll(() => pages.stop());

  it('scrapes a dcgm-exporter page into the store and reports what it wrote', async () => {
    const r = await llmeter(['--data-dir', dataDir, '--log-level', 'error', 'scrape', 'dcgm', '--url', pages.url('/dcgm'), '--once']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/12 samples in \d+ ms → 12 gpu_sample/);
    const q = await llmeter([
      '--data-dir',
      dataDir,
      'sql',
      'SELECT count() AS n, uniqExact(gpu_uuid, mig_instance) AS slices, any(node) AS node FROM gpu_metrics',
    ]);
    expect(q.stdout.trim().split('\n')[1]).toBe('12\t6\tyg-data-k8s-gpu-a30-node-test-test0003.mt');
  });

  it('scrapes a vLLM page with counters kept as first deltas', async () => {
    const r = await llmeter([
      '--data-dir',
      dataDir,
      '--log-level',
      'error',
      'scrape',
      'vllm',
      '--url',
      pages.url('/vllm'),
      '--once',
      '--name',
      'qwen',
      '--node',
      'gpu-7',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^qwen: 12 samples/);
    const q = await llmeter([
      '--data-dir',
      dataDir,
      'sql',
      "SELECT value, node FROM model_server_metrics WHERE server = 'qwen' AND metric = 'vllm:generation_tokens_total'",
    ]);
    expect(q.stdout.trim().split('\n')[1]).toBe('500\tgpu-7');
  });

  it('fails clearly on a dead target and on a bad kind', async () => {
    const dead = await llmeter(['--data-dir', dataDir, '--log-level', 'error', 'scrape', 'vllm', '--url', await deadUrl(), '--once']);
    expect(dead.code).toBe(1);
    expect(dead.stderr).toMatch(/scrape of .* failed: .*ECONNREFUSED/);
    const bad = await llmeter(['--data-dir', dataDir, 'scrape', 'nvml', '--url', pages.url('/dcgm'), '--once']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown kind "nvml"');
  });
});

describe('llmeter scrape … --interval: runs until a signal, then flushes and exits 0', () => {
  const pages = new PageServer();

  beforeAll(async () => {
    await pages.start();
    pages.set('/dcgm', { body: fixture('dcgm', 'dcgm-mig-2xa30-bare.prom') });
  });
  afterAll(() => pages.stop());

  const rowsIn = async (dataDir: string) => {
    const q = await runLlmeter(['--data-dir', dataDir, 'sql', 'SELECT count() AS n FROM gpu_metrics']);
    return Number(q.stdout.trim().split('\n')[1]);
  };

  it('keeps scraping on its interval, and Ctrl-C stores every scrape and exits 0', async () => {
    const dataDir = tempDir();
    const before = pages.hits.get('/dcgm') ?? 0;
    const c = new LlmeterChild(['--data-dir', dataDir, '--log-level', 'error', 'scrape', 'dcgm', '--url', pages.url('/dcgm'), '--interval', '200']);
    await c.until(() => c.stdout.includes('Ctrl-C to stop'), 'the banner');
    await c.until(() => (pages.hits.get('/dcgm') ?? 0) - before >= 4, 'four scrapes');
    expect(c.running).toBe(true);
    c.kill('SIGINT');
    expect(await c.exit()).toEqual({ code: 0, signal: null });
    expect(c.stderr).toBe('');
    const scrapes = (pages.hits.get('/dcgm') ?? 0) - before;
    // Every scrape's 12 rows reach the store: the last batches are flushed, not dropped.
    expect(await rowsIn(dataDir)).toBe(12 * scrapes);
  });

  it('a signal during start-up stops it cleanly: exit 0, nothing scraped', async () => {
    const dataDir = tempDir();
    const before = pages.hits.get('/dcgm') ?? 0;
    const c = new LlmeterChild(['--data-dir', dataDir, '--log-level', 'debug', 'scrape', 'dcgm', '--url', pages.url('/dcgm'), '--interval', '200']);
    await c.until(() => c.stderr.includes('starting the collector'), 'start-up');
    c.kill('SIGTERM');
    expect(await c.exit()).toEqual({ code: 0, signal: null });
    expect(c.stdout).not.toContain('Ctrl-C to stop');
    expect((pages.hits.get('/dcgm') ?? 0) - before).toBe(0);
  });
});
