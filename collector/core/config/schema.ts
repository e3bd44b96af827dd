// The core's sections of the configuration: the store, the pipeline, the HTTP endpoint and the
// read-only query service. Each feature owns its section's schema in its own module; the
// composition root (collector/app/config-schema.ts) puts them together. Objects are strict so a
// misspelt key is an error that names it, not a silently ignored setting.
import { z } from 'zod';
import { queryConfigSchema } from '../query/config.ts';

export { queryConfigSchema, type QueryConfig } from '../query/config.ts';

export const listenAddress = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9464');

export const storeConfigSchema = z
  .strictObject({
    url: z.url().optional().describe('ClickHouse server URL (http[s]://host:8123). Absent: embedded chDB.'),
    user: z.string().default('default').describe('ClickHouse user (server mode).'),
    password: z.string().default('').describe('ClickHouse password; prefer password_file or CLICKHOUSE_PASSWORD.'),
    password_file: z.string().optional().describe('File holding the ClickHouse password.'),
    database: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'letters, digits and _ only')
      .default('llmeter')
      .describe('Database for all tables.'),
    cluster: z.string().optional().describe('Cluster name: ReplicatedMergeTree + Distributed tables ON CLUSTER.'),
    data_dir: z.string().default('./data').describe('Embedded mode: where chDB keeps its files.'),
    request_timeout_ms: z.number().int().positive().default(30_000).describe('Server mode: per-request timeout.'),
    max_open_connections: z.number().int().positive().default(10).describe('Server mode: HTTP connection pool size.'),
    ttl_days: z
      .strictObject({
        raw: z.number().int().min(0).default(90).describe('Retention of raw signal rows (0 = forever).'),
        reference: z
          .number()
          .int()
          .min(0)
          .default(730)
          .describe('Retention of events, nodes, dead letters; prices are kept while in force, replaced ones this long.'),
        rollup: z.number().int().min(0).default(730).describe('Retention of hourly rollups.'),
      })
      .prefault({}),
  })
  .prefault({});

export const pipelineConfigSchema = z
  .strictObject({
    queue_capacity: z
      .number()
      .int()
      .positive()
      .default(500_000)
      .describe('Rows a table queue holds before producers are paused (at least twice batch_rows, so one batch fills while another is written).'),
    batch_rows: z
      .number()
      .int()
      .positive()
      .default(200_000)
      .describe(
        'Flush a batch at this many rows (large batches leave ClickHouse fewer parts to write and merge: about half the insert CPU of 20,000-row batches, see bench/README.md)…',
      ),
    batch_ms: z
      .number()
      .int()
      .positive()
      .default(1_000)
      .describe(
        "…or after this many milliseconds, whichever comes first. Samples from scheduled GPU and model-server scrapes may wait up to their target's scrape interval instead, so a large fleet writes one insert a round rather than one a second.",
      ),
    max_inflight: z.number().int().positive().default(2).describe('Concurrent inserts per table.'),
    retry: z
      .strictObject({
        max_attempts: z
          .number()
          .int()
          .positive()
          .default(8)
          .describe('Attempts after which a failing insert is logged as an error (it keeps retrying: rows are never dropped for a retryable error).'),
        initial_ms: z.number().int().positive().default(200).describe('First retry delay; doubles each attempt, with jitter.'),
        max_ms: z.number().int().positive().default(30_000).describe('Longest retry delay.'),
      })
      .prefault({}),
    shutdown_timeout_ms: z.number().int().positive().default(60_000).describe('How long shutdown waits for the final flush.'),
    unready_after_ms: z
      .number()
      .int()
      .positive()
      .default(30_000)
      .describe(
        '/readyz answers 503 once inserts into some table have failed for this long without one success (ClickHouse down, a table missing), and 200 again after the next success.',
      ),
  })
  .prefault({});

export const httpConfigSchema = z
  .strictObject({
    listen: listenAddress.default('127.0.0.1:9464').describe('Collector HTTP endpoint (/healthz, /metrics, /api/*).'),
    max_body_bytes: z
      .number()
      .int()
      .positive()
      .default(8 * 1024 * 1024)
      .describe('Largest request body accepted.'),
    max_concurrent_bodies: z
      .number()
      .int()
      .positive()
      .default(4)
      .describe('Bodies /api/v1/ingest takes in at once (each up to max_body_bytes in memory); more get 503 with Retry-After.'),
    admin_keys: z
      .array(z.string().regex(/^sha256:[0-9a-fA-F]{64}$/, 'expected sha256:<64 hex digits> (make one with `llmeter hash-key`)'))
      .default([])
      .describe('Digests of admin keys for /api/sql and /api/v1/ingest. With none, those accept loopback clients only.'),
    admin_key_file: z.string().optional().describe('File holding an admin key (hashed at start-up).'),
    allowed_hosts: z
      .array(z.string().regex(/^(\*|(\*\.)?[A-Za-z0-9.-]+)$/, 'expected a host name, *.domain or *'))
      .default([])
      .describe(
        'Host names the endpoint answers to besides IP addresses and localhost (the name clients and a reverse proxy use, e.g. llmeter.internal). A request naming any other Host is refused (DNS-rebinding guard). "*" turns the check off.',
      ),
    allowed_origins: z
      .array(z.string().refine((o) => o === '*' || /^https?:\/\/[^/\s]+$/.test(o), 'expected "*" or scheme://host[:port] with no path'))
      .default([])
      .describe('Browser origins allowed to call /api/* (a page on another origin is refused). Empty: none.'),
  })
  .prefault({});

export const logLevelSchema = z.enum(['debug', 'info', 'warn', 'error']).default('info');

/** The sections every configuration has, whatever features it composes. */
export const coreSections = {
  store: storeConfigSchema,
  pipeline: pipelineConfigSchema,
  http: httpConfigSchema,
  query: queryConfigSchema,
};

export type StoreConfig = z.infer<typeof storeConfigSchema>;
export type PipelineConfig = z.infer<typeof pipelineConfigSchema>;
export type HttpConfig = z.infer<typeof httpConfigSchema>;

/** What the core reads of a configuration. */
export interface CoreConfig {
  store: StoreConfig;
  pipeline: PipelineConfig;
  http: HttpConfig;
  query: z.infer<typeof queryConfigSchema>;
  log_level: z.infer<typeof logLevelSchema>;
}
