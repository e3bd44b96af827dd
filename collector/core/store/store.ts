// The one way into ClickHouse. Every caller goes through @clickhouse/client; only the connection
// differs: chDB in-process (embedded default) or a ClickHouse server over HTTP.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import path from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type ClickHouseSettings, type DataFormat } from '@clickhouse/client';
import type { StoreConfig } from '../config/schema.ts';
import type { DdlTarget } from '../schema/ddl.ts';
import { isUnreachable, StoreUnreachable } from './errors.ts';
import { alreadyStoredCountSql, nativeInsertSql, spanHasRowsSql, type AlreadyStored } from './insert-sql.ts';
import { NativeCodec, type NativeBlocks } from './native-blocks.ts';

export interface Store {
  readonly mode: 'embedded' | 'server';
  readonly database: string;
  /** Where chDB keeps its files (embedded mode). */
  readonly dataDir?: string;
  /** The raw client. Pass no clickhouse_settings through it: in embedded mode they stick (see settings()). */
  readonly client: ClickHouseClient;
  command(sql: string, settings?: ClickHouseSettings, params?: Record<string, unknown>): Promise<void>;
  queryRows<T = Record<string, unknown>>(sql: string, params?: Record<string, unknown>, settings?: ClickHouseSettings): Promise<T[]>;
  queryText(sql: string, format: DataFormat, params?: Record<string, unknown>, settings?: ClickHouseSettings): Promise<string>;
  insert(table: string, rows: readonly object[], settings?: ClickHouseSettings): Promise<void>;
  /**
   * Native blocks (native-blocks.ts): the pipeline's inserts. The blocks hold `columns` and the
   * table's other columns take their defaults, so a collector keeps inserting while a newer one has
   * added columns to a shared table (a rolling upgrade).
   */
  /**
   * …With `unique`, rows already stored are left out; resolves with the number of rows stored when
   * the engine says (embedded), undefined otherwise.
   */
  insertBlocks(
    table: string,
    data: NativeBlocks,
    columns: readonly string[],
    settings?: ClickHouseSettings,
    unique?: AlreadyStored,
  ): Promise<number | undefined>;
  /** Positional rows in `columns` order (every insertable column when absent), encoded and inserted as one block. */
  insertRows(table: string, rows: readonly (readonly unknown[])[], settings?: ClickHouseSettings, columns?: readonly string[]): Promise<void>;
  ddlTarget(): DdlTarget;
  close(): Promise<void>;
}

/** chDB's own entry (the connection's `.chdb` extension): statements run in the process's one session. */
interface ChdbSession {
  queryAsync(sql: string, opts?: { format?: string }): Promise<{ text(): string }>;
}

// Decimals and 64-bit integers come back as strings so money is never turned into a float.
const READ_SETTINGS: ClickHouseSettings = {
  output_format_json_quote_64bit_integers: 1,
  output_format_json_quote_decimals: 1,
};

class ClickHouseStore implements Store {
  readonly mode: 'embedded' | 'server';
  readonly database: string;
  readonly dataDir?: string;
  readonly client: ClickHouseClient;
  private readonly cfg: StoreConfig;
  private closed = false;
  private readonly defaults = new Map<string, string | number>();

  private readonly chdb?: ChdbSession;
  /** Column types per table, for insertRows. */
  private readonly columnTypes = new Map<string, Map<string, string>>();
  /** Where embedded inserts put their batch for the engine to read (see insertDirFor). */
  private readonly insertDir?: string;
  private insertSeq = 0;

  constructor(mode: 'embedded' | 'server', client: ClickHouseClient, cfg: StoreConfig, dataDir?: string, chdb?: ChdbSession) {
    this.chdb = chdb;
    if (chdb && dataDir) this.insertDir = insertDirFor(dataDir);
    this.mode = mode;
    this.client = client;
    this.cfg = cfg;
    this.database = cfg.database;
    this.dataDir = dataDir;
  }

  async command(sql: string, settings?: ClickHouseSettings, params?: Record<string, unknown>): Promise<void> {
    await this.drainingOnFailure(async () => {
      await this.client.command({ query: sql, query_params: params, clickhouse_settings: await this.settings(settings) });
    });
  }

  async queryRows<T>(sql: string, params?: Record<string, unknown>, settings?: ClickHouseSettings): Promise<T[]> {
    return this.drainingOnFailure(async () => {
      const rs = await this.client.query({
        query: sql,
        format: 'JSONEachRow',
        query_params: params,
        clickhouse_settings: await this.settings({ ...READ_SETTINGS, ...settings }),
      });
      return rs.json<T>();
    });
  }

  async queryText(sql: string, format: DataFormat, params?: Record<string, unknown>, settings?: ClickHouseSettings): Promise<string> {
    return this.drainingOnFailure(async () => {
      const rs = await this.client.query({
        query: sql,
        format,
        query_params: params,
        clickhouse_settings: await this.settings({ ...READ_SETTINGS, ...settings }),
      });
      return rs.text();
    });
  }

  /**
   * chDB keeps the output of a query that failed part-way through it and hands it out with the next
   * query's result (rows of one query in another's answer). In embedded mode a failed call is
   * followed by a throwaway query that takes that output away.
   */
  private async drainingOnFailure<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      // The call's own error is the one to report; a drain that fails too leaves nothing to add.
      if (this.chdb) await this.chdb.queryAsync('SELECT 1').catch(() => undefined);
      throw err;
    }
  }

  async insert(table: string, rows: readonly object[], settings?: ClickHouseSettings): Promise<void> {
    await this.client.insert({ table, values: rows as object[], format: 'JSONEachRow', clickhouse_settings: await this.settings(settings) });
  }

  async insertRows(table: string, rows: readonly (readonly unknown[])[], settings?: ClickHouseSettings, columns?: readonly string[]): Promise<void> {
    if (rows.length === 0) return;
    const types = await this.typesOf(table, columns);
    const names = columns && columns.length > 0 ? columns : [...types.keys()];
    await this.insertBlocks(
      table,
      new NativeCodec(
        names,
        names.map((c) => types.get(c)!),
      ).encode(rows),
      names,
      settings,
    );
  }

  async insertBlocks(
    table: string,
    data: NativeBlocks,
    columns: readonly string[],
    settings?: ClickHouseSettings,
    unique?: AlreadyStored,
  ): Promise<number | undefined> {
    if (data.count === 0) return 0;
    const chunks = data.chunks;
    if (this.chdb && this.insertDir) {
      // The settings go in the statement itself, so they do not stick to the session.
      const file = path.join(this.insertDir, `${++this.insertSeq}.native`);
      try {
        const fh = await open(file, 'w');
        try {
          const { bytesWritten } = await fh.writev(chunks);
          const size = chunks.reduce((n, b) => n + b.length, 0);
          if (bytesWritten !== size) throw new Error(`insert into ${table}: wrote ${bytesWritten} of ${size} bytes to ${file}`);
        } finally {
          await fh.close();
        }
        let stored = data.count;
        // Most batches are newer than anything stored (a scrape round, a second of requests): the
        // check against stored rows, and its count, are skipped when no stored row shares the span.
        const overlap = unique !== undefined && (await this.firstNumber(spanHasRowsSql(table, unique))) > 0;
        if (unique && overlap) stored -= await this.firstNumber(alreadyStoredCountSql(table, file, unique));
        await this.chdb.queryAsync(nativeInsertSql(table, columns, { file }, settings, unique, overlap));
        return stored;
      } finally {
        await rm(file, { force: true });
      }
    }
    const r = await this.client.exec({
      query: nativeInsertSql(table, columns, 'request body', undefined, unique),
      values: Readable.from(chunks),
      clickhouse_settings: settings,
    });
    r.stream.resume();
    await finished(r.stream);
    return unique ? undefined : data.count;
  }

  private async firstNumber(sql: string): Promise<number> {
    return Number((JSON.parse((await this.chdb!.queryAsync(sql, { format: 'JSONCompactEachRow' })).text()) as [string | number])[0]);
  }

  /** The insertable columns of `table` (qualified or not) and their types, asked once per table. */
  private async typesOf(table: string, wanted: readonly string[] | undefined): Promise<Map<string, string>> {
    let types = this.columnTypes.get(table);
    if (!types || wanted?.some((c) => !types!.has(c))) {
      const [db, name] = table.includes('.') ? table.split('.', 2) : [this.database, table];
      const rows = await this.queryRows<{ name: string; type: string }>(
        `SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {name:String} AND default_kind NOT IN ('MATERIALIZED', 'ALIAS', 'EPHEMERAL') ORDER BY position`,
        { db, name },
      );
      types = new Map(rows.map((r) => [r.name, r.type]));
      const missing = (wanted ?? []).filter((c) => !types!.has(c));
      if (types.size === 0) throw new Error(`insert into ${table}: no such table`);
      if (missing.length > 0) throw new Error(`insert into ${table}: no column ${missing.join(', ')}`);
      // Kept only once complete: a table created later is asked about again.
      this.columnTypes.set(table, types);
    }
    return types;
  }

  /**
   * chDB's connection applies per-request settings as session-wide `SET`s, so a setting given once
   * (an insert deduplication token!) would silently apply to every later request. In embedded mode
   * every request therefore restates each setting ever used: its own value, or the engine default.
   */
  private async settings(s: ClickHouseSettings | undefined): Promise<ClickHouseSettings | undefined> {
    if (this.mode !== 'embedded') return s;
    const keys = Object.keys(s ?? {});
    if (keys.includes('readonly')) throw new Error('readonly cannot be set per request on the embedded store: it would stay on for the whole session');
    const unknown = keys.filter((k) => !this.defaults.has(k));
    if (unknown.length > 0) {
      const rs = await this.client.query({
        query: 'SELECT name, default FROM system.settings WHERE name IN {names:Array(String)}',
        query_params: { names: unknown },
        format: 'JSONEachRow',
      });
      for (const r of await rs.json<{ name: string; default: string }>()) this.defaults.set(r.name, /^-?\d+$/.test(r.default) ? Number(r.default) : r.default);
    }
    if (this.defaults.size === 0) return s;
    const out: Record<string, unknown> = {};
    for (const [k, d] of this.defaults) out[k] = d;
    return { ...(out as ClickHouseSettings), ...s };
  }

  ddlTarget(): DdlTarget {
    return {
      database: this.database,
      cluster: this.mode === 'server' ? this.cfg.cluster : undefined,
      rawTtlDays: this.cfg.ttl_days.raw,
      referenceTtlDays: this.cfg.ttl_days.reference,
      rollupTtlDays: this.cfg.ttl_days.rollup,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close();
  }
}

/**
 * This process's folder for insert files, `<data>/inserts/<pid>`, made empty. Folders of processes
 * that are gone (a crash between writing a file and removing it) are removed; a live one is left
 * alone, so a second process opening the directory never takes a running collector's files.
 */
export function insertDirFor(dataDir: string): string {
  const root = path.join(dataDir, 'inserts');
  mkdirSync(root, { recursive: true });
  for (const name of readdirSync(root)) {
    const pid = Number(name);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) continue;
    rmSync(path.join(root, name), { recursive: true, force: true });
  }
  const own = path.join(root, String(process.pid));
  mkdirSync(own, { recursive: true });
  return own;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface OpenStoreOptions {
  /** Make `database` the current one (creating it if needed), so unqualified names resolve. */
  useDatabase?: boolean;
}

/**
 * The client's own log is off: every failure it would print (with its arguments and stack) is thrown
 * to the caller too, which reports it in its own words.
 */
const QUIET = { level: ClickHouseLogLevel.OFF };

export async function openStore(cfg: StoreConfig, opts: OpenStoreOptions = { useDatabase: true }): Promise<Store> {
  if (cfg.url) {
    const client = createClient({
      url: cfg.url,
      username: cfg.user,
      password: cfg.password,
      database: 'default',
      request_timeout: cfg.request_timeout_ms,
      max_open_connections: cfg.max_open_connections,
      compression: { request: true, response: true },
      log: QUIET,
    });
    const store = new ClickHouseStore('server', client, cfg);
    if (opts.useDatabase) {
      try {
        await store.command(`CREATE DATABASE IF NOT EXISTS \`${cfg.database}\`${cfg.cluster ? ` ON CLUSTER \`${cfg.cluster}\`` : ''}`);
      } catch (err) {
        await client.close().catch(() => {});
        // The first statement: a server that does not answer at all is a setting to fix, said once.
        if (isUnreachable(err)) throw new StoreUnreachable(cfg.url, err);
        throw err;
      }
      // A fresh client bound to the database: @clickhouse/client sends it with every request.
      await client.close();
      const bound = createClient({
        url: cfg.url,
        username: cfg.user,
        password: cfg.password,
        database: cfg.database,
        request_timeout: cfg.request_timeout_ms,
        max_open_connections: cfg.max_open_connections,
        compression: { request: true, response: true },
        log: QUIET,
      });
      return new ClickHouseStore('server', bound, cfg);
    }
    return store;
  }
  const dataDir = path.resolve(cfg.data_dir);
  mkdirSync(dataDir, { recursive: true });
  // Imported lazily: the native engine (hundreds of MB) is only loaded in embedded mode.
  const { createChdbConnection } = await import('chdb/connection');
  // chdb types its connection against its own copy of @clickhouse/client-common; the runtime
  // contract is the same, the declarations differ only by package identity.
  type ConnectionOption = NonNullable<Parameters<typeof createClient>[0]>['connection'];
  const conn = createChdbConnection({ path: dataDir });
  const client = createClient({ connection: conn as unknown as ConnectionOption, log: QUIET });
  const store = new ClickHouseStore('embedded', client, cfg, dataDir, conn.chdb as unknown as ChdbSession);
  if (opts.useDatabase) {
    await store.command(`CREATE DATABASE IF NOT EXISTS \`${cfg.database}\``);
    // chDB keeps one session per process; USE makes unqualified names (user SQL) resolve.
    await store.command(`USE \`${cfg.database}\``);
  }
  return store;
}
