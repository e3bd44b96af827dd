// Core commands: start, migrate, sql, ingest, config check, hash-key.
import { createReadStream, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { Registry } from 'prom-client';
import { ConfigError } from '../../core/config/load.ts';
import { exposureOf } from '../exposure.ts';
import { ingestNdjson } from '../../core/pipeline/ingest.ts';
import { isSignal } from '../../core/records/validate.ts';
import { migrate } from '../../core/schema/migrations/index.ts';
import { SIGNALS } from '../../core/schema/tables.ts';
import { openStore } from '../../core/store/store.ts';
import { QueryRefused, readOnlyQueries } from '../../core/query/index.ts';
import { startCollector } from '../runtime.ts';
import { keyDigestHex } from '../../core/security/keys.ts';
import { clearRunningCollector, isAlive, readRunningCollector, writeRunningCollector } from './running.ts';
import { runCommand, untilSignal, UsageError, type CliContext } from './context.ts';
import { ingestViaCollector, sqlViaCollector } from './via-collector.ts';
import type { RejectionReason } from '../../core/pipeline/pipeline.ts';

function isLockError(err: unknown): boolean {
  const msg = err instanceof Error ? `${err.message} ${String((err as { cause?: unknown }).cause ?? '')}` : String(err);
  return /Cannot lock file|Another server instance|Failed to create connection for path/i.test(msg);
}

export function registerCoreCommands(program: Command, cli: CliContext): void {
  program
    .command('start')
    .description('run the collector: embedded ClickHouse, record pipeline, HTTP endpoint and the configured exporters, until Ctrl-C')
    .option('--listen <host:port>', 'HTTP address (config http.listen)')
    .action((o: { listen?: string }) =>
      runCommand(async () => {
        const { config, file } = cli.load({ 'http.listen': o.listen }, { 'http.listen': '--listen' });
        const log = cli.logger(config.log_level);
        const exposure = exposureOf(config);
        if (exposure.errors.length > 0) throw new ConfigError(file ?? 'defaults', exposure.errors);
        for (const w of exposure.warnings) log.warn(w);
        const collector = await startCollector(config, log, { env: process.env });
        if (collector.store.dataDir) writeRunningCollector(collector.store.dataDir, collector.address);
        const where = collector.store.mode === 'embedded' ? `embedded chDB at ${collector.store.dataDir}` : `ClickHouse server ${config.store.url}`;
        process.stdout.write(
          [
            `llmeter collector running (${file ? `config ${file}` : 'default configuration'})`,
            `  store:    ${where}, database ${collector.store.database}`,
            `  http:     http://${collector.address}  (/healthz /readyz /metrics /api/sql)`,
            `  running:  ${collector.components.map((c) => c.name).join(', ') || 'no exporters enabled (see docs/configuration.md)'}`,
            'Press Ctrl-C to stop; buffered records are flushed first.',
            '',
          ].join('\n'),
        );
        const sig = await untilSignal(log);
        log.info('shutting down', { signal: sig });
        await collector.shutdown();
        if (collector.store.dataDir) clearRunningCollector(collector.store.dataDir);
        const total = async (name: string) => ((await collector.registry.getSingleMetric(name)?.get())?.values ?? []).reduce((a, v) => a + v.value, 0);
        const [written, spilled] = [await total('llmeter_rows_written_total'), await total('llmeter_rows_spilled_total')];
        const dropped = (await total('llmeter_rows_dropped_total')) + (await total('llmeter_kafka_producer_records_dropped_total'));
        const kafka =
          config.transport.kind === 'kafka'
            ? `; Kafka: ${await total('llmeter_kafka_producer_records_sent_total')} records sent, ${await total('llmeter_kafka_spool_records')} left in the spool (sent at the next start)`
            : '';
        process.stdout.write(`llmeter stopped: ${written} rows written, ${dropped} dropped, ${spilled} spilled to disk${kafka}\n`);
        // Spilled rows are on disk, not in the store, and spooled records not yet in Kafka (the next
        // start sends them): not a clean stop.
        const spooled = config.transport.kind === 'kafka' ? await total('llmeter_kafka_spool_records') : 0;
        return dropped > 0 || spilled > 0 || spooled > 0 ? 1 : 0;
      }),
    );

  program
    .command('migrate')
    .description('create or update the ClickHouse schema (idempotent)')
    .action(() =>
      runCommand(async () => {
        const { config } = cli.load();
        const store = await openStore(config.store);
        try {
          const r = await migrate(store, store.ddlTarget());
          for (const a of r.applied) process.stdout.write(`applied migration ${a.version}: ${a.name} (${a.statements} statements)\n`);
          process.stdout.write(
            `schema at version ${Math.max(0, ...r.applied.map((a) => a.version), ...r.alreadyApplied)} (${r.applied.length} applied now, ${r.alreadyApplied.length} already applied)\n`,
          );
        } finally {
          await store.close();
        }
      }),
    );

  program
    .command('sql')
    .description(
      'run one reading statement (SELECT, SHOW, DESCRIBE, EXISTS, EXPLAIN) against the store and print the result, read-only (embedded mode has no clickhouse-client)',
    )
    .argument('<query>', 'the SQL; "-" reads it from stdin')
    .option('-f, --format <format>', 'ClickHouse output format (default: PrettyCompactMonoBlock on a terminal, TabSeparatedWithNames otherwise)')
    .action((query: string, o: { format?: string }) =>
      runCommand(async () => {
        const sql = query === '-' ? await readStdin() : query;
        const format = o.format ?? (process.stdout.isTTY ? 'PrettyCompactMonoBlock' : 'TabSeparatedWithNames');
        const { config } = cli.load();
        // A live collector holds the embedded store: ask it rather than fail on chDB's lock.
        if (!config.store.url && isAlive(readRunningCollector(config.store.data_dir)?.pid)) {
          process.stdout.write(await sqlViaCollector(config, sql, format));
          return;
        }
        let store;
        try {
          store = await openStore(config.store);
        } catch (err) {
          if (config.store.url || !isLockError(err)) throw err;
          // Another llmeter process holds the embedded store: ask it.
          process.stdout.write(await sqlViaCollector(config, sql, format));
          return;
        }
        const queries = readOnlyQueries(store, config.query, new Registry(), cli.consoleLogger(config.log_level));
        try {
          if (store.mode === 'embedded') await migrate(store, store.ddlTarget());
          process.stdout.write((await queries.run({ sql, format })).body);
        } catch (err) {
          if (err instanceof QueryRefused) throw new UsageError(`not run: ${err.message}`);
          throw err;
        } finally {
          await queries.shutdown();
          await store.close();
        }
      }),
    );

  program
    .command('ingest')
    .description(`load canonical records (NDJSON) of one signal: ${SIGNALS.join(', ')}`)
    .argument('<signal>', 'signal name')
    .argument('<file>', 'NDJSON file, or "-" for stdin')
    .action((signal: string, file: string) =>
      runCommand(async () => {
        if (!isSignal(signal)) throw new UsageError(`unknown signal ${JSON.stringify(signal)}; expected one of ${SIGNALS.join(', ')}`);
        if (file !== '-' && !existsSync(file)) throw new UsageError(`no such file: ${file}`);
        const { config } = cli.load();
        const log = cli.consoleLogger(config.log_level);
        const input = () => (file === '-' ? process.stdin : createReadStream(file));
        let report: { accepted: number; rejected: number; dropped?: number; reasons: RejectionReason[] };
        // A live collector holds the embedded store: load through it, as `llmeter sql` queries.
        if (!config.store.url && isAlive(readRunningCollector(config.store.data_dir)?.pid)) {
          report = await ingestViaCollector(config, signal, input());
        } else {
          let collector;
          try {
            collector = await startCollector(config, log, { withoutFeatures: true, withoutHttp: true, withoutConsumer: true });
          } catch (err) {
            if (config.store.url || !isLockError(err)) throw err;
            report = await ingestViaCollector(config, signal, input());
          }
          if (collector) {
            try {
              // The configured transport: on an edge, Kafka.
              const r = await ingestNdjson(collector.sink, signal, input(), { source: 'ingest' });
              await r.durable;
              report = r;
            } finally {
              await collector.shutdown();
            }
          }
        }
        report = report!;
        process.stdout.write(
          `${signal}: ${report.accepted} accepted, ${report.rejected} rejected (to dead_letters)${report.dropped ? `, ${report.dropped} dropped` : ''}\n`,
        );
        for (const r of report.reasons.slice(0, 20)) process.stdout.write(`  ${r.count} × ${r.reason}${r.first ? ` (first at ${r.first})` : ''}\n`);
        return report.rejected > 0 || (report.dropped ?? 0) > 0 ? 3 : 0;
      }),
    );

  const configCmd = program.command('config').description('configuration tools');
  configCmd
    .command('check')
    .description('validate a configuration file (and the environment overrides) without starting anything')
    .argument('[file]', 'file to check (default: the one llmeter would load)')
    .action((file: string | undefined) =>
      runCommand(async () => {
        if (file && !existsSync(file)) throw new ConfigError(file, ['file not found']);
        const { file: used, config } = cli.load({}, {}, file);
        const exposure = exposureOf(config);
        if (exposure.errors.length > 0) throw new ConfigError(used ?? 'defaults', exposure.errors);
        process.stdout.write(`${used ?? 'defaults (no llmeter.yaml found)'}: valid\n`);
        process.stdout.write(
          `  store: ${config.store.url ? `server ${config.store.url}` : `embedded chDB in ${config.store.data_dir}`}; transport: ${config.transport.kind}; http: ${config.http.listen}\n`,
        );
        for (const w of exposure.warnings) process.stdout.write(`  warning: ${w}\n`);
      }),
    );

  program
    .command('hash-key')
    .description('print the sha256 digest of an API key for the configuration (reads the key from stdin; --new makes one)')
    .option('--new', 'generate a new random key and print it with its digest')
    .action((o: { new?: boolean }) =>
      runCommand(async () => {
        const key = o.new ? `llm_${randomBytes(24).toString('base64url')}` : (await readStdin()).trim();
        if (!key) throw new UsageError('no key on stdin');
        if (o.new) process.stdout.write(`key:    ${key}\n`);
        process.stdout.write(`digest: sha256:${keyDigestHex(key)}\n`);
      }),
    );
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
