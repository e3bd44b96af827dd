// `llmeter scrape dcgm|vllm --url URL [--once]`: scrape one page into the configured store, once or
// on an interval until Ctrl-C. Targets for `llmeter start` are listed in the configuration instead.
import { Option, type Command } from 'commander';
import { runCommand, stopSignal, UsageError, type CliContext } from './context.ts';
import { startCollector } from '../runtime.ts';
import { scrapeConfigSchema, type ScrapeConfig } from '../../../exporters/scrape/config.ts';
import { buildScrape } from '../../../exporters/scrape/build.ts';

interface ScrapeCliOptions {
  url: string;
  once?: boolean;
  name?: string;
  node?: string;
  interval?: string;
  timeout?: string;
  counterInitial?: 'auto' | 'keep' | 'drop';
}

function positiveInt(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${what} must be a positive integer (milliseconds), got ${JSON.stringify(v)}`);
  return n;
}

export function registerScrapeCommands(program: Command, cli: CliContext): void {
  const cmd = program
    .command('scrape')
    .description('scrape a dcgm-exporter or vLLM metrics page into the configured store')
    .argument('<kind>', 'dcgm or vllm')
    .requiredOption('--url <url>', 'metrics page, e.g. http://10.0.0.5:9400/metrics')
    .option('--once', 'scrape once, wait until the rows are stored, print a summary and exit')
    .option('--name <name>', 'target name (default: the URL host:port)')
    .option('--node <node>', "node the target runs on (default: the page's Hostname label or the URL host)")
    .option('--interval <ms>', 'scrape interval (default: scrape.interval_ms)')
    .option('--timeout <ms>', 'scrape timeout (default: scrape.timeout_ms)')
    .addOption(
      new Option('--counter-initial <policy>', 'first value of a counter: keep, drop or auto (default: keep with --once, else the config)').choices([
        'auto',
        'keep',
        'drop',
      ]),
    );
  cmd.action((kind: string, o: ScrapeCliOptions) =>
    runCommand(async () => {
      if (kind !== 'dcgm' && kind !== 'vllm') throw new UsageError(`unknown kind ${JSON.stringify(kind)}; expected dcgm or vllm`);
      let url: URL;
      try {
        url = new URL(o.url);
      } catch {
        throw new UsageError(`not a URL: ${JSON.stringify(o.url)}`);
      }
      const { config } = cli.load();
      const log = o.once ? cli.consoleLogger(config.log_level) : cli.logger(config.log_level);
      const base = config.scrape;
      const scrape: ScrapeConfig = scrapeConfigSchema.parse({
        ...base,
        enabled: true,
        jitter_ratio: 0,
        counter_initial: o.counterInitial ?? (o.once ? 'keep' : base.counter_initial),
        targets: [
          {
            name: o.name ?? url.host,
            kind,
            url: url.toString(),
            ...(o.node ? { node: o.node } : {}),
            ...(positiveInt(o.interval, '--interval') ? { interval_ms: positiveInt(o.interval, '--interval') } : {}),
            ...(positiveInt(o.timeout, '--timeout') ? { timeout_ms: positiveInt(o.timeout, '--timeout') } : {}),
          },
        ],
      });
      // Listening before the slow start-up, so Ctrl-C during it stops cleanly instead of killing.
      const stop = o.once ? undefined : stopSignal(log);
      log.debug('starting the collector');
      const collector = await startCollector(config, log, { withoutFeatures: true, withoutHttp: true, withoutConsumer: true });
      try {
        const f = buildScrape({ config: scrape, sink: collector.sink, registry: collector.registry, log, failures: collector.failures });
        if (o.once) {
          const [r] = await f.scraper.scrapeAll();
          if (!r) return 1;
          if (f.inventory && (scrape.inventory.nodes.length || scrape.inventory.kubernetes.enabled || kind === 'dcgm')) {
            const inv = await f.inventory.refresh();
            await inv.result?.durable;
          }
          await r.durable;
          const st = f.scraper.statuses()[0]!;
          if (!r.ok) {
            process.stderr.write(`llmeter: scrape of ${o.url} failed: ${r.error}\n`);
            return 1;
          }
          const parts = Object.entries(r.records).map(([s, n]) => `${n} ${s}`);
          process.stdout.write(
            `${st.name}: ${r.samples} samples in ${st.lastDurationMs.toFixed(0)} ms → ${parts.join(', ') || 'no records'}${r.rejected ? `, ${r.rejected} rejected` : ''}\n`,
          );
          if (st.lastError) process.stdout.write(`  ${st.lastError}\n`);
          return r.rejected > 0 ? 3 : 0;
        }
        if (stop!.received) {
          log.info('stopped during start-up', { signal: stop!.received });
          return 0;
        }
        if (f.inventory) await f.inventory.start();
        await f.scraper.start();
        process.stdout.write(`scraping ${o.url} every ${scrape.targets[0]!.interval_ms ?? scrape.interval_ms} ms; Ctrl-C to stop\n`);
        const sig = await stop!.wait();
        log.info('shutting down', { signal: sig });
        await f.scraper.shutdown();
        await f.inventory?.shutdown();
        return 0;
      } finally {
        await collector.shutdown();
      }
    }),
  );
}
