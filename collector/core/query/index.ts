// Builds the read-only query service for a store: sessions of its own on the embedded engine, or the
// store's client on a server.
import type { Registry } from 'prom-client';
import type { BackgroundFailures } from '../lifecycle/background.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/store.ts';
import type { QueryConfig } from './config.ts';
import { EmbeddedQueryEngine } from './embedded-engine.ts';
import { ServerQueryEngine } from './server-engine.ts';
import { ReadOnlyQueries } from './service.ts';

export { ReadOnlyQueries, QueryBusy, QueryRefused, ClickHouseError, outputFormat, type QueryAnswer, type QueryRequest } from './service.ts';
export { queryConfigSchema, type QueryConfig } from './config.ts';

/** Databases user queries may read: the store's own and the engine's catalogue. */
export function readableDatabases(store: Store): string[] {
  return [store.database, 'system', 'information_schema', 'INFORMATION_SCHEMA'];
}

export function readOnlyQueries(store: Store, config: QueryConfig, registry: Registry, log: Logger, failures?: BackgroundFailures): ReadOnlyQueries {
  const engine =
    store.mode === 'embedded' && store.dataDir
      ? new EmbeddedQueryEngine({ dataDir: store.dataDir, database: store.database, config, command: (sql) => store.command(sql), failures })
      : new ServerQueryEngine(store.client, config);
  return new ReadOnlyQueries({ engine, config, databases: readableDatabases(store), registry, log });
}
