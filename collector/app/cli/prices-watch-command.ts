// `llmeter prices watch`: this machine's interruption watchers without `llmeter start`, to try them
// or to run them on their own: one poll of each (`--once`) or polling until Ctrl-C. Notices are
// stored in the configured store as under the collector; each is printed as it is published.
import type { Command } from 'commander';
import { errorMessage } from '../../core/errors.ts';
import { runCommand, stopSignal, UsageError, type CliContext } from './context.ts';
import { startCollector } from '../runtime.ts';
import { NoticeHub } from '../../../exporters/prices/interruptions/hub.ts';
import { pollingWatchers, WATCHER_NAMES, type WatcherName } from '../../../exporters/prices/interruptions/index.ts';
import type { CapacityNotice } from '../../../exporters/prices/interruptions/notice.ts';
import { WatcherMetrics } from '../../../exporters/prices/interruptions/poller.ts';

interface WatchOptions {
  once?: boolean;
  watcher?: string[];
  endpoint?: string;
}

function watcherNames(names: readonly string[] | undefined, endpoint: string | undefined): WatcherName[] | undefined {
  for (const n of names ?? []) {
    if (!(WATCHER_NAMES as readonly string[]).includes(n)) throw new UsageError(`unknown watcher ${JSON.stringify(n)}; expected ${WATCHER_NAMES.join(', ')}`);
  }
  if (endpoint !== undefined && names?.length !== 1) throw new UsageError('--endpoint needs exactly one --watcher');
  return names as WatcherName[] | undefined;
}

function describeNotice(n: CapacityNotice): string {
  const at = n.actionAt !== null ? ` at ${new Date(n.actionAt).toISOString()}` : '';
  return `${n.kind} from ${n.provider} ${n.channel}: instance ${n.instanceId || '-'}, action ${n.action}${at}`;
}

export function registerWatchCommand(prices: Command, cli: CliContext): void {
  prices
    .command('watch')
    .description("poll this machine's interruption notices (metadata services, EventBridge file) into the store, without `llmeter start`")
    .option('--once', 'poll each watcher once, print what it found and exit')
    .option('--watcher <name...>', `only these watchers, enabled in the configuration or not: ${WATCHER_NAMES.join(', ')}`)
    .option('--endpoint <url>', 'metadata service (or EventBridge file) instead of the configured one; with one --watcher')
    .action((o: WatchOptions) =>
      runCommand(async () => {
        const only = watcherNames(o.watcher, o.endpoint);
        const { config } = cli.load();
        const log = o.once ? cli.consoleLogger(config.log_level) : cli.logger(config.log_level);
        const c = config.prices.interruptions;
        const stop = stopSignal(log);
        const collector = await startCollector(config, log, { withoutFeatures: true, withoutHttp: true, withoutConsumer: true });
        try {
          // A hub of its own: a notice seen before is stored again (the table keeps it once) and
          // printed, since trying a watcher means seeing what it finds now.
          const hub = new NoticeHub({
            sink: collector.sink,
            registry: collector.registry,
            log: log.child('spot'),
            dedupeWindow: c.dedupe_window,
            suppressMs: c.drain_suppress_ms,
          });
          const watchers = pollingWatchers(c, { hub, metrics: new WatcherMetrics(collector.registry), log: log.child('spot') }, only, o.endpoint);
          if (!watchers.length) throw new UsageError('no interruption watcher to run: enable one under prices.interruptions, or name it with --watcher');
          let published = 0;
          hub.onNotice((n) => {
            published++;
            process.stdout.write(describeNotice(n) + '\n');
          });
          if (o.once) {
            let failed = 0;
            for (const w of watchers) {
              if (stop.signal.aborted) break;
              const before = published;
              try {
                await w.pollOnce(stop.signal);
                const n = published - before;
                process.stdout.write(`${w.name}: ok, ${n} notice${n === 1 ? '' : 's'}\n`);
              } catch (err) {
                failed++;
                const msg = errorMessage(err);
                process.stdout.write(`${w.name}: FAILED\n`);
                process.stderr.write(`llmeter: ${w.name}: ${msg}\n`);
              }
            }
            return failed || stop.signal.aborted ? 1 : 0;
          }
          if (stop.received) return 0;
          for (const w of watchers) await w.start();
          process.stdout.write(`watching ${watchers.map((w) => w.name).join(', ')}; Ctrl-C to stop\n`);
          const sig = await stop.wait();
          log.info('shutting down', { signal: sig });
          await Promise.all(watchers.map((w) => w.shutdown()));
          return 0;
        } finally {
          await collector.shutdown();
        }
      }),
    );
}
