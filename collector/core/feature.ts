// What a feature is to the composition root. A feature (the proxy, the scrapers, the price feeds,
// the cost engine, the receivers, alerting, autoscaling, telemetry, the Kafka transport) exports one
// descriptor: its name, the configuration section it reads and that section's schema, the names of
// what it takes from other features, and a factory. The composition root (collector/app) builds the
// configuration schema from the descriptors, calls the factories in an order that satisfies their
// needs, and hands each one what it needs explicitly: no feature finds another through a registry.
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import type { CoreConfig } from './config/schema.ts';
import type { HttpServer } from './http/server.ts';
import type { BackgroundFailures } from './lifecycle/background.ts';
import type { Component } from './lifecycle/component.ts';
import type { Logger } from './log.ts';
import type { Pipeline, RecordSink } from './pipeline/pipeline.ts';
import type { ReadOnlyQueries } from './query/service.ts';
import type { Store } from './store/store.ts';

/** What every feature may use: the core's running parts. */
export interface CoreServices {
  /** The core's sections of the configuration. */
  config: CoreConfig;
  store: Store;
  /** Where records go: the local pipeline, or the Kafka producer on a scale-out edge. */
  sink: RecordSink;
  /** The local pipeline (the Kafka consumer feeds it). */
  pipeline: Pipeline;
  queries: ReadOnlyQueries;
  registry: Registry;
  log: Logger;
  http: HttpServer;
  /** Where background work that failed is logged and counted. */
  failures: BackgroundFailures;
}

/** What a factory returns: its components (started in order, stopped in reverse) and what it offers other features. */
export interface Built<Provides> {
  components: Component[];
  provides: Provides;
}

export interface Feature<Schema extends z.ZodType, Needs, Provides> {
  readonly name: string;
  /** The top-level configuration key the feature reads (`proxy:`). */
  readonly section: string;
  readonly schema: Schema;
  /** The features (or composition-root values) it takes something from, by name: documentation and start order. */
  readonly needs: readonly string[];
  create(core: CoreServices, config: z.infer<Schema>, needs: Needs): Built<Provides> | Promise<Built<Provides>>;
}

/** Typed identity: keeps a descriptor's types while checking it against Feature. */
export function defineFeature<Schema extends z.ZodType, Needs, Provides>(f: Feature<Schema, Needs, Provides>): Feature<Schema, Needs, Provides> {
  return f;
}

/** A tenant and the digests of its keys: the tenants' keys, known to the proxy, the cost API and the receivers. */
export interface TenantKeys {
  tenant: string;
  digests: readonly Buffer[];
}
