// Assembles a running collector: store (migrated), pipeline, HTTP endpoint, and whichever exporters
// the configuration enables. Shutdown runs in the order that loses nothing: fail readiness, stop the
// exporters (intake), drain and flush the pipeline, close the HTTP server, close the store.
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Config } from './config/schema.ts';
import { mountChargebackApi } from './cost/api.ts';
import { Budgets } from './cost/budgets.ts';
import { IngestApi } from './http/ingest-api.ts';
import { mountSqlApi } from './http/sql-api.ts';
import { HttpServer } from './http/server.ts';
import { once, type Component } from './lifecycle/component.ts';
import type { Logger } from './log.ts';
import { defaultSpillDir, Pipeline, storeInserter, type RecordSink } from './pipeline/pipeline.ts';
import { replaySpill } from './pipeline/spill-replay.ts';
import { migrate } from './schema/migrations.ts';
import { openStore, type Store } from './store/store.ts';
import { readOnlyQueries, type ReadOnlyQueries } from './query/index.ts';
import { proxyComponents } from '../exporters/proxy/index.ts';
import { scrapeComponents } from '../exporters/scrape/index.ts';
import { pricesComponents } from '../exporters/prices/index.ts';
import { receiverComponents } from './receivers/index.ts';
import { alertingComponents } from './alerting/index.ts';
import { autoscaleComponents } from './autoscale/index.ts';
import { telemetryComponents, tracedInserter, tracedSink } from './telemetry/index.ts';
import { createKafkaSink, kafkaConsumerComponents } from './transport/kafka/index.ts';

/** What a feature gets to build its components from. */
export interface RuntimeContext {
  config: Config;
  store: Store;
  sink: RecordSink;
  registry: Registry;
  log: Logger;
  http: HttpServer;
  /** Tenant budgets; the proxy asks it whether a hard stop refuses a tenant. */
  budgets: Budgets;
}

export type ComponentFactory = (ctx: RuntimeContext) => Component[] | Promise<Component[]>;

// Telemetry first: it starts before, and stops after, everything that makes spans.
const FEATURES: readonly ComponentFactory[] = [
  telemetryComponents,
  proxyComponents,
  autoscaleComponents,
  scrapeComponents,
  pricesComponents,
  receiverComponents,
  alertingComponents,
];

export interface Collector {
  readonly store: Store;
  readonly pipeline: Pipeline;
  /** Where records go: the pipeline, or on a scale-out edge the Kafka producer. */
  readonly sink: RecordSink;
  /** The read-only query service for user SQL. */
  readonly queries: ReadOnlyQueries;
  readonly http: HttpServer;
  readonly registry: Registry;
  readonly components: readonly Component[];
  /** host:port the HTTP endpoint listens on. */
  readonly address: string;
  shutdown(): Promise<void>;
}

export interface StartOptions {
  /** Extra component factories (tests, demo). */
  features?: readonly ComponentFactory[];
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
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'llmeter' });
  collectDefaultMetrics({ register: registry, prefix: 'llmeter_process_' });
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
      rawTtlDays: config.store.ttl_days.raw,
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
    const q = (queries = readOnlyQueries(store, config.query, registry, log.child('query')));
    mountSqlApi(http, q, config);
    mountChargebackApi(http, store, config);
    const budgets = new Budgets({ budgets: config.cost.budgets, store, registry, log: log.child('budgets'), refreshMs: config.cost.budget_refresh_ms });
    // Scale-out: exporters publish to Kafka instead of the local pipeline, and this collector (unless
    // transport.kafka.consume is off, on an edge node) consumes the topics into the pipeline.
    const kafkaSink = config.transport.kind === 'kafka' ? createKafkaSink(config.transport.kafka, registry, log, { env: opts.env }) : undefined;
    const base: RecordSink = kafkaSink ?? pipeline;
    const ctx: RuntimeContext = { config, store, sink: traced ? tracedSink(base) : base, registry, log, http, budgets };
    // Records posted to the ingest API go where every other intake's go: on an edge, to Kafka.
    const ingest = new IngestApi(ctx.sink, config);
    ingest.mount(http);
    const factories = [...(opts.withoutFeatures ? [] : FEATURES), ...(opts.features ?? [])];
    // Start order: the Kafka sink before the exporters that write to it, the consumer last; shutdown
    // runs in reverse (consumer, exporters, sink flush or spool, then the pipeline drains).
    const components: Component[] = [...(kafkaSink ? [kafkaSink] : []), ...(opts.withoutFeatures || config.cost.budgets.length === 0 ? [] : [budgets])];
    for (const f of factories) components.push(...(await f(ctx)));
    // A command that only loads records (`llmeter ingest`) publishes them; it consumes nothing.
    if (!opts.withoutConsumer) components.push(...kafkaConsumerComponents(ctx, pipeline, { env: opts.env }));
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
          log.error('component shutdown failed', { component: c.name, error: (err as Error).message });
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
      sink: ctx.sink,
      http,
      registry,
      components,
      address: opts.withoutHttp ? '' : http.address(),
      shutdown,
    };
  } catch (err) {
    await queries?.shutdown().catch(() => {});
    for (const c of started.reverse()) await c.shutdown().catch(() => {});
    await store.close().catch(() => {});
    throw err;
  }
}
