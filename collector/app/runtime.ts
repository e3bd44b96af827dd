// Assembles a running collector: store (migrated), pipeline, HTTP endpoint, and whichever exporters
// the configuration enables. Shutdown runs in the order that loses nothing: fail readiness, stop the
// exporters (intake), drain and flush the pipeline, close the HTTP server, close the store.
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Config } from './config-schema.ts';
import { buildFeatures, type Provided } from './features.ts';
import type { CoreServices } from '../core/feature.ts';
import { errorMessage } from '../core/errors.ts';
import { IngestApi } from '../core/http/ingest-api.ts';
import { mountSqlApi } from '../core/http/sql-api.ts';
import { HttpServer } from '../core/http/server.ts';
import { BackgroundFailures } from '../core/lifecycle/background.ts';
import { once, type Component } from '../core/lifecycle/component.ts';
import type { Logger } from '../core/log.ts';
import { defaultSpillDir, Pipeline, storeInserter, type RecordSink } from '../core/pipeline/pipeline.ts';
import { replaySpill } from '../core/pipeline/spill-replay.ts';
import { migrate } from '../core/schema/migrations/index.ts';
import { RetentionSweep } from '../core/store/retention.ts';
import { openStore, type Store } from '../core/store/store.ts';
import { readOnlyQueries, type ReadOnlyQueries } from '../core/query/index.ts';
import { tracedInserter, tracedSink } from '../features/telemetry/index.ts';
import { createKafkaSink, kafkaConsumerComponents } from '../features/kafka/index.ts';

/** Components built beside the configured features (tests, the demo). */
export type ExtraFactory = (core: CoreServices) => Component[] | Promise<Component[]>;

export interface Collector {
  readonly store: Store;
  readonly pipeline: Pipeline;
  /** Where records go: the pipeline, or on a scale-out edge the Kafka producer. */
  readonly sink: RecordSink;
  /** The read-only query service for user SQL. */
  readonly queries: ReadOnlyQueries;
  readonly http: HttpServer;
  readonly registry: Registry;
  /** Where background work that failed is logged and counted (llmeter_background_failures_total). */
  readonly failures: BackgroundFailures;
  readonly components: readonly Component[];
  /** What the configured features offered (undefined with withoutFeatures). */
  readonly provided: Provided | undefined;
  /** host:port the HTTP endpoint listens on. */
  readonly address: string;
  shutdown(): Promise<void>;
}

export interface StartOptions {
  /** Components to build beside the configured features (tests, demo). */
  features?: readonly ExtraFactory[];
  /** Leave out the configured features (for `llmeter ingest`, which needs only the pipeline). */
  withoutFeatures?: boolean;
  /** Skip the HTTP endpoint. */
  withoutHttp?: boolean;
  /** Do not consume the Kafka topics even where transport.kafka.consume is on. */
  withoutConsumer?: boolean;
  /** Environment for settings that name an environment variable (Kafka sasl.password_env). */
  env?: Readonly<Record<string, string | undefined>>;
}

export async function startCollector(config: Config, log: Logger, opts: StartOptions = {}): Promise<Collector> {
  // No constant labels: the scrape gives the target its job, instance (and, through the Prometheus
  // Operator, service, namespace, pod); a label of ours by one of those names would be renamed.
  const registry = new Registry();
  // The standard process_* and nodejs_* names, as every Prometheus client library writes them, so
  // the usual dashboards and recording rules for a process work as they are.
  collectDefaultMetrics({ register: registry });
  // prom-client also writes the sums of nodejs_active_{handles,requests,resources} as gauges named
  // *_total, which Prometheus reads as counters (promtool flags them); sum() over the per-type
  // gauges gives the same number.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  const failures = new BackgroundFailures(registry, log);
  const store = await openStore(config.store);
  const started: Component[] = [];
  let queries: ReadOnlyQueries | undefined;
  try {
    const m = await migrate(store, store.ddlTarget());
    if (m.applied.length) log.info('schema migrated', { applied: m.applied.map((a) => a.version) });
    // Spans only when self-tracing is on: a disabled tracer still costs a little per call.
    const traced = config.telemetry.enabled;
    const pipeline = new Pipeline({
      config: config.pipeline,
      inserter: traced ? tracedInserter(storeInserter(store)) : storeInserter(store),
      registry,
      log: log.child('pipeline'),
      spillDir: store.dataDir ? defaultSpillDir(store.dataDir) : undefined,
      retention: store.ddlTarget(),
    });
    await pipeline.start();
    if (store.dataDir) await replaySpill(pipeline, defaultSpillDir(store.dataDir), log.child('pipeline'));
    const http = new HttpServer({
      listen: config.http.listen,
      registry,
      log: log.child('http'),
      guard: config.http,
      ready: () => pipeline.failingForMs() < config.pipeline.unready_after_ms,
    });
    const q = (queries = readOnlyQueries(store, config.query, registry, log.child('query'), failures));
    mountSqlApi(http, q, config);
    // Scale-out: exporters publish to Kafka instead of the local pipeline, and this collector (unless
    // transport.kafka.consume is off, on an edge node) consumes the topics into the pipeline.
    const kafkaSink = config.transport.kind === 'kafka' ? createKafkaSink(config.transport.kafka, registry, log, { env: opts.env }) : undefined;
    const base: RecordSink = kafkaSink ?? pipeline;
    const core: CoreServices = { config, store, sink: traced ? tracedSink(base) : base, pipeline, queries: q, registry, log, http, failures };
    // Records posted to the ingest API go where every other intake's go: on an edge, to Kafka.
    const ingest = new IngestApi(core.sink, config);
    ingest.mount(http);
    // Start order: the Kafka sink before the exporters that write to it, the consumer last; shutdown
    // runs in reverse (consumer, exporters, sink flush or spool, then the pipeline drains).
    const components: Component[] = kafkaSink ? [kafkaSink] : [];
    let provided: Provided | undefined;
    if (!opts.withoutFeatures) {
      components.push(new RetentionSweep(store, failures));
      const built = await buildFeatures(core, config);
      components.push(...built.components);
      provided = built.provided;
    }
    for (const f of opts.features ?? []) components.push(...(await f(core)));
    // A command that only loads records (`llmeter ingest`) publishes them; it consumes nothing.
    if (!opts.withoutConsumer)
      components.push(...kafkaConsumerComponents(config.transport, { pipeline, pipelineConfig: config.pipeline, registry, log, failures }, { env: opts.env }));
    if (!opts.withoutHttp) {
      await http.start();
      started.push(http);
    }
    for (const c of components) {
      await c.start();
      started.push(c);
    }
    http.setReady(true);
    const shutdown = once(async () => {
      http.setReady(false);
      // User queries first: a long one must not hold up the rest of the shutdown. Then the ingest
      // API: new bodies get 503 from now on, and the ones being stored finish while the transport runs.
      await q.shutdown();
      await ingest.shutdown();
      for (const c of [...components].reverse()) {
        try {
          await c.shutdown();
        } catch (err) {
          log.error('component shutdown failed', { component: c.name, error: errorMessage(err) });
        }
      }
      await pipeline.shutdown();
      if (!opts.withoutHttp) await http.shutdown();
      await store.close();
    });
    return {
      store,
      queries: q,
      pipeline,
      sink: core.sink,
      http,
      registry,
      failures,
      components,
      provided,
      address: opts.withoutHttp ? '' : http.address(),
      shutdown,
    };
  } catch (err) {
    // Best-effort cleanup of a start that failed: the start's own error is the one to report, and a
    // part that cannot stop now must not hide it.
    await queries?.shutdown().catch(() => {});
    for (const c of started.reverse()) await c.shutdown().catch(() => {});
    await store.close().catch(() => {});
    throw err;
  }
}
