// `llmeter report chargeback`: the per-tenant chargeback for a period, as CSV, JSON or HTML.
import { writeFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { errorMessage } from '../../core/errors.ts';
import { ParamError, parseChargebackParams } from '../../features/cost/params.ts';
import { renderChargeback } from '../../features/cost/report.ts';
import type { ChargebackReport } from '../../features/cost/chargeback.ts';
import { tenantNamesOf } from '../tenant-names.ts';
import { reportGaps } from './chargeback-gaps.ts';
import { parseTime } from '../../features/cost/params.ts';
import { whatIf, whatIfText } from '../../features/cost/whatif.ts';
import { openStore } from '../../core/store/store.ts';
import { migrate } from '../../core/schema/migrations/index.ts';
import { isAlive, readRunningCollector } from './running.ts';
import { runCommand, UsageError, type CliContext } from './context.ts';

interface Opts {
  from?: string;
  to?: string;
  tenant?: string;
  idle?: string;
  scope?: string;
  groupBy?: string;
  format?: string;
  out?: string;
  source?: string;
  allowUnpriced?: boolean;
}

export function registerReportCommands(program: Command, cli: CliContext): void {
  const report = program.command('report').description('reports built from the store');
  report
    .command('chargeback')
    .description('per-tenant chargeback for a period: usage, share of idle, totals and the reconciliation line')
    .requiredOption('--from <time>', 'start of the period (ISO-8601; a bare date is midnight UTC)')
    .requiredOption('--to <time>', 'end of the period (exclusive)')
    .option('--tenant <names>', 'only these tenants (comma-separated); the split still uses every tenant')
    .addOption(
      new Option('--idle <policy>', 'idle capacity: its own line, or shared by use or evenly')
        .choices(['separate', 'share-weighted', 'share-even'])
        .default('separate'),
    )
    .addOption(new Option('--scope <scope>', 'where idle is shared: within each node or each pool').choices(['node', 'pool']).default('node'))
    .option('--group-by <dims>', 'break each tenant down by model, node, pool, tier, day (comma-separated)')
    .addOption(new Option('--format <format>', 'output format').choices(['csv', 'json', 'html']).default('csv'))
    .option('--out <file>', 'write to a file instead of stdout')
    .addOption(new Option('--source <source>', 'read usage from the hourly rollups or the raw table').choices(['rollup', 'raw']).default('rollup'))
    .option('--allow-unpriced', 'exit 0 even when node-minutes of the period had no price (they are still warned about)')
    .action((o: Opts) =>
      runCommand(async () => {
        let parsed;
        try {
          parsed = parseChargebackParams({ ...o });
        } catch (err) {
          if (err instanceof ParamError) throw new UsageError(err.message);
          throw err;
        }
        const { config } = cli.load();
        let body: string;
        let report: ChargebackReport;
        const running = readRunningCollector(config.store.data_dir);
        if (!config.store.url && isAlive(running?.pid)) {
          // A running collector holds the embedded store: ask it.
          const q = new URLSearchParams({
            from: parsed.options.from.toISOString(),
            to: parsed.options.to.toISOString(),
            idle: parsed.options.idle!,
            scope: parsed.options.scope!,
            group_by: (parsed.options.groupBy ?? []).join(','),
            format: parsed.format,
            source: parsed.options.source!,
          });
          if (parsed.options.tenants) q.set('tenant', parsed.options.tenants.join(','));
          const headers: Record<string, string> = {};
          if (process.env.LLMETER_ADMIN_KEY) headers.authorization = `Bearer ${process.env.LLMETER_ADMIN_KEY}`;
          const res = await fetch(`http://${running!.address}/api/chargeback?${q}`, { headers });
          body = await res.text();
          if (!res.ok) throw new Error(`collector answered ${res.status}: ${body}`);
          if (parsed.format === 'json') report = JSON.parse(body) as ChargebackReport;
          else {
            // The gaps to warn about come with the report's JSON.
            q.set('format', 'json');
            const j = await fetch(`http://${running!.address}/api/chargeback?${q}`, { headers });
            if (!j.ok) throw new Error(`collector answered ${j.status}: ${await j.text()}`);
            report = (await j.json()) as ChargebackReport;
          }
        } else {
          const store = await openStore(config.store);
          try {
            if (store.mode === 'embedded') await migrate(store, store.ddlTarget());
            // The configured tenants are on the bill even with no traffic (the collector's API does the same).
            ({ body, report } = await renderChargeback(store, { ...parsed.options, configuredTenants: tenantNamesOf(config.proxy) }, parsed.format));
          } finally {
            await store.close();
          }
        }
        if (o.out) {
          writeFileSync(o.out, body);
          process.stdout.write(`wrote ${o.out}\n`);
        } else process.stdout.write(body);
        return reportGaps(report, o.allowUnpriced === true);
      }),
    );
}

export function registerWhatIfCommand(program: Command, cli: CliContext): void {
  const report = program.commands.find((c) => c.name() === 'report')!;
  report
    .command('whatif')
    .description(
      "the period's traffic priced as hosted APIs per token, serverless GPU per second and dedicated GPUs (cost.whatif in the config), with the break-even volume",
    )
    .requiredOption('--from <time>', 'start of the period')
    .requiredOption('--to <time>', 'end of the period (exclusive)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action((o: { from: string; to: string; format: string }) =>
      runCommand(async () => {
        let from: Date;
        let to: Date;
        try {
          from = parseTime('from', o.from);
          to = parseTime('to', o.to);
        } catch (err) {
          throw new UsageError(errorMessage(err));
        }
        if (to <= from) throw new UsageError('to: must be after from');
        const { config } = cli.load();
        const store = await openStore(config.store);
        try {
          if (store.mode === 'embedded') await migrate(store, store.ddlTarget());
          const w = await whatIf(store, config.cost.whatif, from, to);
          process.stdout.write(o.format === 'json' ? JSON.stringify(w, null, 2) + '\n' : whatIfText(w));
        } finally {
          await store.close();
        }
      }),
    );
}
