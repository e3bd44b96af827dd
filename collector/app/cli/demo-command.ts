// `llmeter demo`: the real collector (proxy, dcgm and vLLM scrapers, inventory, prices, pipeline,
// store, cost engine) against a SIMULATED fleet started in-process, with simulated tenants sending traffic for a
// while; then the chargeback table, the HTML report, and how to look at the data left behind.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { chargeback, type ChargebackReport } from '../../features/cost/chargeback.ts';
import { renderChargeback } from '../../features/cost/report.ts';
import { createLogger } from '../../core/log.ts';
import { startCollector, type Collector } from '../runtime.ts';
import { SimFleet, SimPriceFeed } from '../demo/fleet.ts';
import { demoConfig } from '../demo/config.ts';
import { driveTraffic, newStats, type TrafficStats } from '../demo/traffic.ts';
import { clearRunningCollector, writeRunningCollector } from './running.ts';
import { runCommand, untilSignal, UsageError, type CliContext } from './context.ts';

export interface DemoOptions {
  /** Seconds of traffic. */
  durationS?: number;
  seed?: number;
  dataDir?: string;
  /** Write to this ClickHouse server instead of the embedded store (for the Grafana dashboards). */
  clickhouseUrl?: string;
  /** HTML report path. */
  out?: string;
  /** Collector HTTP address (default 127.0.0.1:9464; port 0 picks a free one). */
  listen?: string;
  /** Multiplies the tenants' request rates. */
  rate?: number;
  /** Multiplies the simulated servers' delays (1 = real time). */
  timeScale?: number;
  /** Where progress and results go. */
  write?: (s: string) => void;
  /** Progress as a rewritten line (terminal) or a line every few seconds. */
  tty?: boolean;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Called once traffic runs, with the live collector (e.g. to point `llmeter top` at it). */
  onRunning?: (c: { collector: Collector; fleet: SimFleet; proxyUrl: string }) => void | Promise<void>;
  /** Ends the traffic early (Ctrl-C): the report is still made from what was stored. */
  stop?: AbortSignal;
  /** After the report, keep the fleet and collector running with traffic until the promise it returns resolves. */
  keepRunning?: () => Promise<unknown>;
}

export interface DemoResult {
  dataDir: string;
  out: string;
  address: string;
  from: Date;
  to: Date;
  traffic: TrafficStats;
  rows: Record<string, number>;
  report: ChargebackReport;
  /** The text the demo printed. */
  printed: string;
  spotPrices: string[];
  adminKey: string;
}

const TABLES = ['llm_requests', 'gpu_metrics', 'model_server_metrics', 'model_states', 'price_points', 'nodes', 'dead_letters'] as const;
const BANNER = 'SIMULATED DATA: llmeter demo (simulated model servers, GPUs, prices and tenants)';

export async function runDemo(o: DemoOptions = {}): Promise<DemoResult> {
  const durationS = o.durationS ?? 60;
  const seed = o.seed ?? 42;
  const dataDir = path.resolve(o.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'llmeter-demo-')));
  const out = path.resolve(o.out ?? 'llmeter-demo-report.html');
  let printed = '';
  const write = (s: string) => {
    printed += s;
    (o.write ?? ((x: string) => process.stdout.write(x)))(s);
  };
  const log = createLogger({ level: o.logLevel ?? 'warn' });
  write(`${BANNER}\n  seed ${seed}, ${durationS} s of traffic, data in ${o.clickhouseUrl ? `ClickHouse server ${o.clickhouseUrl}` : dataDir}\n`);
  const fleet = await SimFleet.start({ seed, timeScale: o.timeScale });
  let collector: Collector | undefined;
  try {
    const config = demoConfig(fleet, {
      dataDir,
      clickhouseUrl: o.clickhouseUrl,
      httpListen: o.listen ?? '127.0.0.1:9464',
      logLevel: o.logLevel ?? 'warn',
      intervalMs: 2_000,
    });
    let feed: SimPriceFeed | undefined;
    collector = await startCollector(config, log, {
      features: [
        (ctx) => {
          feed = new SimPriceFeed(fleet, ctx.sink, ctx.log.child('sim-prices'), 5_000);
          return [feed];
        },
      ],
    });
    // Other llmeter commands on this data directory (sql, top) find the collector that holds it.
    if (!o.clickhouseUrl) writeRunningCollector(dataDir, collector.address);
    const proxy = collector.components.find((c) => c.name === 'proxy') as unknown as { address(): string } | undefined;
    if (!proxy) throw new Error('the demo configuration did not start the proxy');
    const proxyUrl = `http://${proxy.address()}`;
    write(
      [
        `  simulated model servers: ${fleet.upstreams.map((u) => `${u.name} (${u.kind}, ${u.models.join(', ')}) on ${u.node}`).join('; ')}`,
        `  simulated GPU nodes:     ${fleet.nodes.map((n) => `${n.node} ${n.gpuModel} ${n.capacityType}`).join('; ')}`,
        `  scraped:                 dcgm-exporter pages of ${fleet.nodes.map((n) => n.node).join(', ')}; vLLM /metrics of ${fleet.upstreams
          .filter((u) => u.metricsUrl)
          .map((u) => u.name)
          .join(', ')}`,
        ...fleet.tenants.map((t) => `  tenant ${t.name.padEnd(15)} ${t.habit}`),
        `  collector http://${collector.address}   metering proxy ${proxyUrl}`,
        `  watch it live in another terminal: LLMETER_ADMIN_KEY=${fleet.adminKey} llmeter top --url http://${collector.address}`,
        '',
      ].join('\n'),
    );
    const from = new Date(Math.floor(Date.now() / 60_000) * 60_000);
    const stats = newStats();
    const stop = new AbortController();
    const traffic = driveTraffic({ proxyUrl, tenants: fleet.tenants, prng: fleet.prng.fork('traffic'), rate: o.rate }, stop.signal, stats);
    await o.onRunning?.({ collector, fleet, proxyUrl });
    const started = Date.now();
    const tty = o.tty ?? false;
    let lastLine = 0;
    const progress = setInterval(() => {
      const el = Math.min(durationS, (Date.now() - started) / 1000);
      const g = fleet.gpus.map((x) => `${x.options.node} ${String(x.reading.utilization).padStart(3)}%`).join('  ');
      const line = `  [${el.toFixed(0).padStart(3)}/${durationS}s] requests ${stats.sent} (ok ${stats.ok}, failed ${stats.failed}, in flight ${stats.inFlight})  ${g}  spot $${fleet.spot.current}/h`;
      if (tty) write(`\r${line}\x1b[K`);
      else if (Date.now() - lastLine >= 5_000) {
        write(line + '\n');
        lastLine = Date.now();
      }
    }, 1_000);
    progress.unref();
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, durationS * 1000);
      function done() {
        clearTimeout(t);
        o.stop?.removeEventListener('abort', done);
        resolve();
      }
      if (o.stop?.aborted) done();
      else o.stop?.addEventListener('abort', done, { once: true });
    });
    stop.abort();
    await traffic;
    clearInterval(progress);
    if (tty) write('\n');
    // One more scrape and price tick land, then everything buffered reaches the store.
    await new Promise((r) => setTimeout(r, 2_500));
    // A part that cannot flush only leaves its last rows out of the counts below; the others still land.
    for (const c of collector.components) await c.forceFlush().catch(() => {});
    await collector.pipeline.forceFlush();
    const to = new Date(Math.ceil((Date.now() + 1) / 60_000) * 60_000);
    const store = collector.store;
    const rows: Record<string, number> = {};
    for (const t of TABLES) {
      const [r] = await store.queryRows<{ n: string }>(`SELECT count() AS n FROM ${t}`);
      rows[t] = Number(r?.n ?? 0);
    }
    const report = await chargeback(store, { from, to, idle: 'separate' });
    const html = await renderChargeback(store, { from, to, idle: 'separate' }, 'html');
    writeFileSync(out, labelHtml(html.body));
    write(
      `\ntraffic: ${stats.sent} requests sent, ${stats.ok} answered, ${stats.failed} failed (${Object.entries(stats.byStatus)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ')})\n`,
    );
    write(`stored:  ${TABLES.map((t) => `${t} ${rows[t]}`).join(', ')}\n`);
    write(`spot price of ${fleet.nodes.find((n) => n.capacityType === 'spot')?.instanceType}: ${feed?.history.map((h) => h.usd).join(' → ')} USD/h\n\n`);
    write(chargebackTable(report));
    const where = o.clickhouseUrl ? `--clickhouse-url ${o.clickhouseUrl}` : `--data-dir ${dataDir}`;
    write(
      [
        '',
        `HTML report: ${out}`,
        '',
        'Look at the data it left (it stays in the store):',
        `  llmeter ${where} sql "SELECT tenant, model, count() AS requests, round(avg(ttft_ms)) AS ttft_ms FROM llm_requests GROUP BY tenant, model ORDER BY tenant, model"`,
        `  llmeter ${where} report chargeback --from ${from.toISOString()} --to ${to.toISOString()} --format html --out report.html`,
        o.clickhouseUrl
          ? "  Grafana: provision dashboards/provisioning against this ClickHouse server (docs/dashboards.md); the demo's time range is above"
          : '  Grafana reads a ClickHouse server, not the embedded store: run the demo with --clickhouse-url http://host:8123 to see it in the dashboards (docs/dashboards.md)',
        `  LLMETER_ADMIN_KEY=${fleet.adminKey} llmeter top --url http://${collector.address}   # while it runs: llmeter demo --keep-running (the key is the demo's own, simulated)`,
        '',
      ].join('\n'),
    );
    if (o.keepRunning) {
      const again = new AbortController();
      const more = driveTraffic({ proxyUrl, tenants: fleet.tenants, prng: fleet.prng.fork('traffic-more'), rate: o.rate }, again.signal, stats);
      write(`${BANNER}: still running with traffic at http://${collector.address}; Ctrl-C stops it\n`);
      await o.keepRunning();
      again.abort();
      await more;
    }
    return {
      dataDir,
      out,
      address: collector.address,
      from,
      to,
      traffic: stats,
      rows,
      report,
      printed,
      spotPrices: feed?.history.map((h) => h.usd) ?? [],
      adminKey: fleet.adminKey,
    };
  } finally {
    if (collector && !o.clickhouseUrl) clearRunningCollector(dataDir);
    await collector?.shutdown();
    await fleet.stop();
  }
}

function labelHtml(html: string): string {
  const banner = `<div style="background:#fde68a;color:#713f12;padding:8px 12px;font:600 14px system-ui;border-bottom:2px solid #b45309">${BANNER}</div>`;
  const withTitle = html.replace(/<title>/i, '<title>[SIMULATED] ');
  return /<body[^>]*>/i.test(withTitle) ? withTitle.replace(/<body[^>]*>/i, (m) => m + banner) : banner + withTitle;
}

/** The chargeback as a fixed-width table, with the reconciliation line. */
export function chargebackTable(r: ChargebackReport): string {
  const head = ['tenant', 'requests', 'errors', 'tokens in', 'tokens out', 'GPU-s', 'usage $', 'idle $', 'total $'];
  const body = r.tenants.map((t) => [
    t.tenant,
    String(t.requests),
    String(t.errors),
    String(t.input_tokens),
    String(t.output_tokens),
    t.gpu_seconds.toFixed(1),
    t.usage_cost,
    t.idle_share,
    t.total,
  ]);
  body.push(['(idle, unshared)', '', '', '', '', '', '', r.totals.unshared_idle, r.totals.unshared_idle]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]) => '  ' + cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  const rule = '  ' + w.map((n) => '─'.repeat(n)).join('  ');
  return [
    `chargeback ${r.period.from} → ${r.period.to} (USD, idle ${r.idle_policy}) — SIMULATED`,
    fmt(head),
    rule,
    ...body.map(fmt),
    rule,
    fmt(['fleet cost', '', '', '', '', '', '', '', r.totals.fleet_cost]),
    `  tenants ${r.totals.tenants_total} + unshared idle ${r.totals.unshared_idle} − fleet cost ${r.totals.fleet_cost} = ${r.totals.reconciliation}`,
    `  ${r.totals.node_count} nodes, ${r.totals.device_hours.toFixed(3)} GPU-hours${r.totals.on_demand_fallback_minutes ? `, ${r.totals.on_demand_fallback_minutes} min at on-demand fallback` : ''}${r.totals.unpriced_minutes ? `, ${r.totals.unpriced_minutes} min unpriced` : ''}${r.totals.unattributed_requests ? `, ${r.totals.unattributed_requests} requests unattributed` : ''}`,
    '',
  ].join('\n');
}

interface DemoFlags {
  duration: string;
  seed: string;
  out?: string;
  listen: string;
  rate: string;
  keepRunning?: boolean;
}

export function registerDemoCommand(program: Command, cli: CliContext): void {
  program
    .command('demo')
    .description(
      'run the real pipeline against a SIMULATED fleet (model servers, GPUs, spot price, three tenants) for a while, then print the chargeback and write the HTML report',
    )
    .option('--duration <seconds>', 'seconds of traffic', '60')
    .option('--seed <n>', 'seed of the simulation (same seed, same traffic)', '42')
    .option('--out <file>', 'HTML report', 'llmeter-demo-report.html')
    .option('--listen <host:port>', 'collector HTTP address (for llmeter top)', '127.0.0.1:9464')
    .option('--rate <x>', "multiplies the tenants' request rates", '1')
    .addOption(
      new Option('--keep-running', 'after the report, keep the simulated fleet, traffic and collector running until Ctrl-C (for llmeter top and dashboards)'),
    )
    .action((f: DemoFlags) =>
      runCommand(async () => {
        const durationS = Number(f.duration);
        const seed = Number(f.seed);
        const rate = Number(f.rate);
        if (!Number.isFinite(durationS) || durationS <= 0 || durationS > 86_400) throw new UsageError('--duration: expected seconds between 1 and 86400');
        if (!Number.isInteger(seed) || seed < 0) throw new UsageError('--seed: expected a non-negative integer');
        if (!Number.isFinite(rate) || rate <= 0) throw new UsageError('--rate: expected a positive number');
        const g = cli.globals;
        const log = cli.logger('warn');
        // The first Ctrl-C ends the traffic early; the report is still made. With --keep-running the
        // next one stops the fleet.
        const early = new AbortController();
        const onSignal = () => early.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        const keepRunning = f.keepRunning
          ? () => {
              process.removeListener('SIGINT', onSignal);
              process.removeListener('SIGTERM', onSignal);
              return untilSignal(log);
            }
          : undefined;
        await runDemo({
          durationS,
          seed,
          rate,
          out: f.out,
          listen: f.listen,
          dataDir: g.dataDir,
          clickhouseUrl: g.clickhouseUrl ?? process.env.CLICKHOUSE_URL,
          tty: process.stdout.isTTY,
          logLevel: g.logLevel ?? 'warn',
          stop: early.signal,
          keepRunning,
        });
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
      }),
    );
}
