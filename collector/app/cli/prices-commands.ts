// `llmeter prices …`: sync a source once, and look up the price of a node at an instant or its cost
// over an interval.
import type { Command } from 'commander';
import { Registry } from 'prom-client';
import { nodeCostsFromStore, priceAtFromStore } from '../../features/cost/asof-sql.ts';
import { runCommand, stopSignal, UsageError, type CliContext } from './context.ts';
import { startCollector } from '../runtime.ts';
import { CAPACITY_TYPES } from '../../core/schema/tables.ts';
import { PricesMetrics } from '../../../exporters/prices/metrics.ts';
import { buildSource, isSourceName, lookbackOf, SOURCE_NAMES } from '../../../exporters/prices/sources/index.ts';
import { syncSource } from '../../../exporters/prices/sync.ts';
import { regionOfZone } from '../../../exporters/prices/sources/aws-spot.ts';
import { registerWatchCommand } from './prices-watch-command.ts';

export function parseTimeArg(s: string, what: string): number {
  if (s === 'now') return Date.now();
  const rel = /^-(\d+)([smhd])$/.exec(s);
  if (rel) return Date.now() - Number(rel[1]) * { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[rel[2] as 's' | 'm' | 'h' | 'd'];
  const t = /^\d{10,13}$/.test(s) ? Number(s) * (s.length === 10 ? 1000 : 1) : Date.parse(s);
  if (!Number.isFinite(t)) throw new UsageError(`${what}: not a time: ${JSON.stringify(s)} (ISO-8601, epoch, "now" or "-6h")`);
  return t;
}

/** Provider and region from a zone name when the flags do not say. */
export function guessLocation(instanceType: string, zone: string): { provider: string; region: string } {
  if (/^Standard_/.test(instanceType)) return { provider: 'azure', region: zone.replace(/-\d+$/, '') };
  if (/^[a-z]+-[a-z]+\d+-[a-z]$/.test(zone)) return { provider: 'gcp', region: zone.replace(/-[a-z]$/, '') };
  if (/^[a-z]{2}(-gov)?-[a-z]+-\d+[a-z]$/.test(zone)) return { provider: 'aws', region: regionOfZone(zone) };
  return { provider: '', region: '' };
}

interface NodeFlags {
  provider?: string;
  region?: string;
  capacityType: string;
  os: string;
}

function nodeSpec(instanceType: string, zone: string, o: NodeFlags) {
  const g = guessLocation(instanceType, zone);
  const provider = o.provider ?? g.provider;
  if (!provider) throw new UsageError('cannot tell the provider from the zone; pass --provider');
  if (!(CAPACITY_TYPES as readonly string[]).includes(o.capacityType)) throw new UsageError(`--capacity-type must be one of ${CAPACITY_TYPES.join(', ')}`);
  return { provider, instance_type: instanceType, region: o.region ?? g.region, zone: zone === '-' ? '' : zone, capacity_type: o.capacityType, os: o.os };
}

export function registerPricesCommands(program: Command, cli: CliContext): void {
  const prices = program.command('prices').description('price feeds, as-of prices and interruption notices');
  registerWatchCommand(prices, cli);

  prices
    .command('sync')
    .description(`fetch one price source now and store what changed: ${SOURCE_NAMES.join(', ')}`)
    .argument('<source>', 'source name')
    .option('--endpoint <url>', 'API endpoint instead of the configured one (a mirror or a test server)')
    .option('--since <time>', 'start of the history fetched (sources with history; default: the last stored change)')
    .option('--until <time>', 'end of the history fetched (default: now)')
    .action((name: string, o: { endpoint?: string; since?: string; until?: string }) =>
      runCommand(async () => {
        if (!isSourceName(name)) throw new UsageError(`unknown source ${JSON.stringify(name)}; expected one of ${SOURCE_NAMES.join(', ')}`);
        const since = o.since ? parseTimeArg(o.since, '--since') : undefined;
        const until = o.until ? parseTimeArg(o.until, '--until') : undefined;
        const { config } = cli.load();
        const log = cli.consoleLogger(config.log_level);
        const source = buildSource(config.prices, name, o.endpoint);
        // Ctrl-C, from start-up on, stops the sync (nothing is written) and the store is closed cleanly.
        const stop = stopSignal(log);
        const collector = await startCollector(config, log, { withoutFeatures: true, withoutHttp: true, withoutConsumer: true });
        let report;
        try {
          report = await syncSource(
            source,
            {
              sink: collector.sink,
              store: collector.store,
              metrics: new PricesMetrics(new Registry()),
              retry: config.prices.retry,
              log: log.child('prices'),
              lookbackMs: lookbackOf(config.prices, name),
            },
            { since, until, signal: stop.signal },
          );
        } finally {
          await collector.shutdown();
        }
        const skipped = Object.entries(report.skipped)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ');
        process.stdout.write(
          `${report.source}: ${report.ok ? 'ok' : 'FAILED'} after ${report.attempts} attempt(s), ${report.pages} page(s); ` +
            `${report.fetched} prices fetched, ${report.written} changes written, ${report.unchanged} unchanged` +
            `${report.rejected ? `, ${report.rejected} rejected` : ''}${skipped ? `; skipped ${skipped}` : ''}\n`,
        );
        if (!report.ok) process.stderr.write(`llmeter: ${report.error}\n`);
        return report.ok ? (report.rejected ? 3 : 0) : 1;
      }),
    );

  const nodeOptions = (c: Command) =>
    c
      .option('--provider <name>', 'aws, gcp, azure, runpod, lambda, vast, book… (default: from the zone)')
      .option('--region <region>', 'region (default: from the zone)')
      .option('--capacity-type <type>', `one of ${CAPACITY_TYPES.join(', ')}`, 'on_demand')
      .option('--os <os>', 'operating system of the price', 'linux')
      .option('--json', 'print JSON');

  nodeOptions(
    prices
      .command('at')
      .description('the price of an instance type in a zone at an instant (last change at or before it)')
      .argument('<instance-type>')
      .argument('<zone>', 'zone (us-east-1a…); "-" for a region-wide price with --region')
      .argument('[time]', 'ISO-8601, epoch, "now" or "-6h"', 'now'),
  ).action((instanceType: string, zone: string, time: string, o: NodeFlags & { json?: boolean }) =>
    runCommand(async () => {
      const t = parseTimeArg(time, 'time');
      const node = nodeSpec(instanceType, zone, o);
      const { config } = cli.load();
      const collector = await startCollector(config, cli.consoleLogger(config.log_level), { withoutFeatures: true, withoutHttp: true, withoutConsumer: true });
      try {
        const p = await priceAtFromStore(collector.store, node, t);
        if (o.json) process.stdout.write(JSON.stringify({ ...node, at: new Date(t).toISOString(), price: p ?? null }) + '\n');
        else if (!p) process.stdout.write(`no price known for ${instanceType} (${node.capacity_type}) in ${zone} at ${new Date(t).toISOString()}\n`);
        else
          process.stdout.write(
            `${instanceType} ${node.capacity_type} ${zone} at ${new Date(t).toISOString()}: $${p.usd_per_hour}/h (since ${p.effective_from} UTC, source ${p.source})\n`,
          );
        return p ? 0 : 4;
      } finally {
        await collector.shutdown();
      }
    }),
  );

  nodeOptions(
    prices
      .command('cost')
      .description('the cost of one instance over [from, to): the sum over price segments')
      .argument('<instance-type>')
      .argument('<zone>')
      .argument('<from>')
      .argument('[to]', 'default: now', 'now'),
  ).action((instanceType: string, zone: string, from: string, to: string, o: NodeFlags & { json?: boolean }) =>
    runCommand(async () => {
      const a = parseTimeArg(from, 'from');
      const b = parseTimeArg(to, 'to');
      if (b <= a) throw new UsageError('to must be after from');
      const node = { node: instanceType, ...nodeSpec(instanceType, zone, o) };
      const { config } = cli.load();
      const collector = await startCollector(config, cli.consoleLogger(config.log_level), { withoutFeatures: true, withoutHttp: true, withoutConsumer: true });
      try {
        const [c] = await nodeCostsFromStore(collector.store, [node], a, b);
        if (o.json) process.stdout.write(JSON.stringify(c) + '\n');
        else
          process.stdout.write(
            `$${c!.cost} over ${((b - a) / 3.6e6).toFixed(3)} h (priced ${(c!.priced_ms / 3.6e6).toFixed(3)} h, on-demand fallback ${(c!.fallback_ms / 3.6e6).toFixed(3)} h, unpriced ${(c!.unpriced_ms / 3.6e6).toFixed(3)} h; sources ${c!.sources.join(', ') || 'none'})\n`,
          );
        return 0;
      } finally {
        await collector.shutdown();
      }
    }),
  );
}
