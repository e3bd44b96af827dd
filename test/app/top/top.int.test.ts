// `llmeter top` in a real pseudo terminal (tmux) against a running collector fed by the simulated
// fleet: what the screen shows is what the store holds. Also the plain mode when stdout is a pipe.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { createLogger } from '../../../collector/core/log.ts';
import { chargeback } from '../../../collector/features/cost/chargeback.ts';
import { SimFleet, SimPriceFeed } from '../../../collector/app/demo/fleet.ts';
import { demoConfig } from '../../../collector/app/demo/config.ts';
import { driveTraffic } from '../../../collector/app/demo/traffic.ts';
import { count, tempDir } from '../../helpers/store.ts';
import { ROOT } from '../../helpers/paths.ts';
import { waitFor } from '../../helpers/wait.ts';

const entry = path.join(ROOT, 'collector/app/top/standalone.ts');
const session = `llmeter-top-test-${process.pid}`;
/** Runs top as a child without blocking this process (it hosts the collector that top asks). */
function runTop(args: string[], key: string): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [entry, ...args],
      { encoding: 'utf8', env: { ...process.env, LLMETER_ADMIN_KEY: key }, timeout: 30_000 },
      (err, stdout, stderr) => {
        resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let fleet: SimFleet;
let collector: Collector;
let url: string;

beforeAll(async () => {
  fleet = await SimFleet.start({ seed: 21 });
  const config = demoConfig(fleet, { dataDir: tempDir('llmeter-top-test-'), intervalMs: 1_000 });
  collector = await startCollector(config, createLogger({ level: 'error' }), { features: [(ctx) => [new SimPriceFeed(fleet, ctx.sink, ctx.log, 3_000)]] });
  url = `http://${collector.address}`;
  const proxy = collector.components.find((c) => c.name === 'proxy') as unknown as { address(): string };
  const stop = new AbortController();
  const traffic = driveTraffic({ proxyUrl: `http://${proxy.address()}`, tenants: fleet.tenants, prng: fleet.prng.fork('t'), rate: 2 }, stop.signal);
  // Traffic until the store holds some of everything the screen is checked against.
  await waitFor('requests of every tenant on both kinds of server, a spot price and every GPU in the store', everythingStored, 60_000, { everyMs: 250 });
  stop.abort();
  const stats = await traffic;
  // Traffic is over. Every request it sent is one llm_requests row, answered or refused: once all of
  // them are stored, the numbers hold still.
  await waitFor(
    `the ${stats.sent} requests sent stored`,
    async () => {
      await collector.pipeline.forceFlush();
      return (await count(collector.store, 'llm_requests')) === stats.sent;
    },
    30_000,
    { everyMs: 250 },
  );
}, 120_000);

/**
 * Requests (answered or refused) of every tenant, on qwen2.5:14b (the vLLM-like server) and on
 * acme-chat's llama3.2:3b (Ollama), a spot price, and frame buffer and utilisation samples of every node.
 */
async function everythingStored(): Promise<boolean> {
  await collector.pipeline.forceFlush();
  const [r] = await rows<{ tenants: string; qwen: string; llama: string; spot: string; gpus: string }>(
    `SELECT (SELECT uniqExact(tenant) FROM llm_requests) AS tenants,
      (SELECT count() FROM llm_requests WHERE model = 'qwen2.5:14b') AS qwen,
      (SELECT count() FROM llm_requests WHERE tenant = 'acme-chat' AND model = 'llama3.2:3b') AS llama,
      (SELECT count() FROM price_points WHERE capacity_type = 'spot') AS spot,
      (SELECT count() FROM (SELECT node FROM gpu_metrics WHERE field IN ('fb_used', 'fb_free', 'gpu_util') GROUP BY node HAVING uniqExact(field) = 3)) AS gpus`,
  );
  return (
    Number(r!.tenants) === fleet.tenants.length && Number(r!.qwen) > 0 && Number(r!.llama) > 0 && Number(r!.spot) > 0 && Number(r!.gpus) === fleet.nodes.length
  );
}

afterAll(async () => {
  spawnSync('tmux', ['kill-session', '-t', session]);
  await collector?.shutdown();
  await fleet?.stop();
});

async function rows<T>(sql: string): Promise<T[]> {
  return collector.store.queryRows<T>(sql);
}

/** Cells of the screen line that starts with `first` (columns are two or more spaces apart). */
function lineOf(screen: string, first: string): string[] | undefined {
  const l = screen.split('\n').find((x) => x.startsWith(first + ' '));
  return l?.trim().split(/\s{2,}/);
}

describe('llmeter top', () => {
  it('shows in a terminal the numbers the store holds', async () => {
    const cmd = `LLMETER_ADMIN_KEY=${fleet.adminKey} ${process.execPath} ${entry} --url ${url} --window 3600 --interval 1 --sort name`;
    execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '170', '-y', '60', cmd]);
    let screen = '';
    for (let i = 0; i < 40; i++) {
      await sleep(500);
      screen = execFileSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' });
      if (/ALERTS \(\d+\)/.test(screen) && screen.includes('qwen2.5:14b') && screen.includes('$')) break;
    }
    expect(screen, screen).toContain('llmeter top');
    expect(screen).toContain('[SIMULATED DATA]');

    // Per model: requests, errors, tokens/s and the latency quantiles over the window.
    const models = await rows<{ model: string; n: string; errors: string; out: string; lat_p50: number | null; ttft_p50: number | null }>(
      `SELECT model, count() AS n, countIf(status >= 400 OR error != '') AS errors, sum(output_tokens) AS out,
        quantileExactIf(0.5)(duration_ms, status < 400 AND error = '') AS lat_p50, quantileExactIf(0.5)(ttft_ms, ttft_ms IS NOT NULL AND status < 400) AS ttft_p50
       FROM llm_requests GROUP BY model`,
    );
    expect(models.length).toBeGreaterThanOrEqual(2);
    for (const m of models) {
      const cells = lineOf(screen, m.model);
      expect(cells, `${m.model}\n${screen}`).toBeDefined();
      // model req/s inflight queued ttft50 ttft95 lat50 lat95 tok/s errors requests
      expect(Number(cells![10])).toBe(Number(m.n));
      expect(Number(cells![9])).toBe(Number(m.errors));
      expect(cells![1]).toBe((Number(m.n) / 3600).toFixed(2));
      expect(cells![8]).toBe((Number(m.out) / 3600).toFixed(1));
      if (m.lat_p50 !== null && m.lat_p50 < 10_000) expect(cells![6]).toBe(`${Math.round(m.lat_p50)}ms`);
      if (m.ttft_p50 !== null && m.ttft_p50 < 10_000) expect(cells![4]).toBe(`${Math.round(m.ttft_p50)}ms`);
    }

    // Per GPU: the frame buffer size, and a utilisation the store holds for that node.
    const gpus = await rows<{ node: string; total: number; utils: number[] }>(
      `SELECT node, argMaxIf(value, ts, field = 'fb_used') + argMaxIf(value, ts, field = 'fb_free') AS total, groupArrayIf(toUInt32(round(value * 100)), field = 'gpu_util') AS utils FROM gpu_metrics GROUP BY node`,
    );
    for (const g of gpus) {
      const cells = lineOf(screen, g.node);
      expect(cells, `${g.node}\n${screen}`).toBeDefined();
      expect(cells![3]).toMatch(new RegExp(`/${(g.total / 1024 ** 3).toFixed(1)} GiB$`));
      expect(g.utils).toContain(Number(cells![2]!.replace('%', '')));
    }

    // Per tenant: spend today from the cost engine.
    const day = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()));
    const cb = await chargeback(collector.store, { from: day, to: new Date(day.getTime() + 86_400_000), source: 'raw' });
    expect(cb.tenants.length).toBe(3);
    for (const t of cb.tenants) {
      const cells = lineOf(screen, t.tenant);
      expect(cells, `${t.tenant}\n${screen}`).toBeDefined();
      // Cents are split by largest remainder over every line, idle included, and idle grows with each
      // minute the nodes stay up: a minute turning between the screen and this query may move a cent.
      expect(Math.abs(Number(cells![1]!.slice(1)) - Number(t.total)), `${t.tenant}: ${cells![1]} vs ${t.total}`).toBeLessThanOrEqual(0.01);
      expect(Number(cells![2])).toBe(t.requests);
    }

    // Prices: the book price of the on-demand pool, and a spot price the feed wrote.
    const small = lineOf(screen, 'sim-small')!;
    expect(small[4]).toBe('$1.006');
    const large = lineOf(screen, 'sim-large')!;
    const spots = (await rows<{ p: string }>(`SELECT toString(usd_per_hour) AS p FROM price_points WHERE capacity_type = 'spot'`)).map((r) => `$${r.p}`);
    expect(spots).toContain(large[4]);

    // Alerts: the simulated queue-full refusals show when the store has any.
    const [qf] = await rows<{ n: string }>(`SELECT count() AS n FROM llm_requests WHERE status = 503 AND ts >= now64(3) - INTERVAL 120 SECOND`);
    if (Number(qf!.n) > 0) expect(screen).toMatch(/WARN {2}ModelQueueFull/);

    // q quits and restores the terminal.
    execFileSync('tmux', ['send-keys', '-t', session, 'q']);
    await waitFor('top to quit', () => spawnSync('tmux', ['has-session', '-t', session]).status !== 0, 10_000);
    expect(spawnSync('tmux', ['has-session', '-t', session]).status).not.toBe(0);
  });

  it('prints plain lines when stdout is not a terminal, filtered by tenant', async () => {
    const r = await runTop(['--url', url, '--window', '3600', '--once', '--tenant', 'acme-chat'], fleet.adminKey);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(
      lines.every((l) => /^\d{4}-\d\d-\d\dT\S+Z (note|model|gpu|tenant|price|alert|problem) /.test(l)),
      r.stdout,
    ).toBe(true);
    expect(r.stdout).not.toContain('\x1b[');
    const tenants = lines.filter((l) => l.includes(' tenant '));
    expect(tenants.length).toBe(1);
    expect(tenants[0]).toContain('tenant=acme-chat');
    // acme-chat uses only the Ollama models.
    expect(lines.some((l) => l.includes('model=qwen2.5:14b'))).toBe(false);
    expect(lines.some((l) => l.includes('model=llama3.2:3b'))).toBe(true);
    expect(r.stdout).not.toContain(' problem ');
  });

  it('without the admin key, spend comes from the budget gauges and the gap is said', async () => {
    const r = await runTop(['--url', url, '--once'], '');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/ problem ".*401/);
    expect(r.stdout).toMatch(/tenant tenant=initech-agents spend_today_usd=\d+\.\d\d/);
  });
});
