// `llmeter top`: a live terminal view of a running collector, through its HTTP API.
import { Option, type Command } from 'commander';
import { runTop } from '../top/run.ts';
import { SORT_KEYS, type SortKey } from '../top/render.ts';
import { readRunningCollector } from './running.ts';
import { runCommand, UsageError, type CliContext } from './context.ts';

export interface TopFlags {
  url?: string;
  interval: string;
  window: string;
  sort: SortKey;
  tenant?: string;
  model?: string;
  plain?: boolean;
  once?: boolean;
  iterations?: string;
}

const list = (s: string | undefined) =>
  s
    ? s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '')
    : undefined;

/** Turns the flags into runTop's options (exported for tests and the standalone entry). */
export function topOptions(f: TopFlags, defaultUrl: string) {
  const intervalMs = Math.round(Number(f.interval) * 1000);
  const windowS = Number(f.window);
  if (!Number.isFinite(intervalMs) || intervalMs < 200) throw new UsageError('--interval: expected seconds, at least 0.2');
  if (!Number.isFinite(windowS) || windowS < 1) throw new UsageError('--window: expected seconds, at least 1');
  const iterations = f.once ? 1 : f.iterations ? Number(f.iterations) : 0;
  if (!Number.isInteger(iterations) || iterations < 0) throw new UsageError('--iterations: expected a whole number');
  const url = f.url ?? defaultUrl;
  if (!/^https?:\/\//.test(url)) throw new UsageError('--url: expected http(s)://host:port');
  return {
    url,
    intervalMs,
    windowS,
    sort: f.sort,
    tenants: list(f.tenant),
    models: list(f.model),
    plain: f.plain,
    iterations,
    adminKey: process.env.LLMETER_ADMIN_KEY,
  };
}

export function addTopOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'collector HTTP endpoint (default: the collector running on this data directory, else http://127.0.0.1:9464)')
    .option('--interval <seconds>', 'refresh interval', '2')
    .option('--window <seconds>', 'window of requests behind the per-model numbers', '60')
    .addOption(new Option('--sort <key>', 'model order').choices([...SORT_KEYS]).default('rps'))
    .option('--tenant <names>', 'only these tenants (comma-separated)')
    .option('--model <names>', 'only these models (comma-separated)')
    .option('--plain', 'plain lines each refresh even on a terminal')
    .option('--once', 'one refresh, then exit')
    .option('--iterations <n>', 'exit after n refreshes');
}

export function registerTopCommand(program: Command, cli: CliContext): void {
  addTopOptions(
    program
      .command('top')
      .description('live view of a running llmeter: per model, GPU, tenant, price and the alerts firing (plain lines when not on a terminal)'),
  ).action((f: TopFlags) =>
    runCommand(async () => {
      let fallback = 'http://127.0.0.1:9464';
      if (!f.url) {
        const { config } = cli.load();
        const running = readRunningCollector(config.store.data_dir);
        fallback = `http://${running?.address ?? config.http.listen.replace(/^0\.0\.0\.0:/, '127.0.0.1:')}`;
      }
      await runTop(topOptions(f, fallback));
    }),
  );
}
