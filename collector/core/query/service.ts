// The one way user SQL reaches the store. A statement is parsed by the engine (one statement only),
// judged on its syntax tree (guard.ts), and run on an engine connection that is read-only by the
// engine's own readonly mode, under a time limit and result and memory limits. A query is stopped
// by the engine when its client goes away, when it outlives its limit, and when the collector shuts
// down. Used by /api/sql, `llmeter sql`, `llmeter top` and the ClickHouse HTTP interface.
import { randomUUID } from 'node:crypto';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { Admission } from '../lifecycle/bounded-batcher.ts';
import { once, type Component } from '../lifecycle/component.ts';
import type { Logger } from '../log.ts';
import type { QueryConfig } from './config.ts';
import { limitSettings, LLMETER_OUTPUT_SETTINGS, type QueryEngine, type RunStats } from './engine.ts';
import { ClickHouseError } from '../store/errors.ts';
import { errorMessage, LlmeterError } from '../errors.ts';
import { judgeStatement, QueryRefused, REFUSAL_CODES, refuseSettingsClause } from './guard.ts';
import { decideSettings } from './settings.ts';
import { tableFiltersSetting, tenantFilters } from './tenant.ts';

export { QueryRefused, REFUSAL_CODES } from './guard.ts';
export { ClickHouseError } from '../store/errors.ts';

/** Output formats a query may ask for: the engine's data formats that need no schema file or settings. */
const FORMATS = [
  'TabSeparated',
  'TabSeparatedRaw',
  'TabSeparatedWithNames',
  'TabSeparatedWithNamesAndTypes',
  'TabSeparatedRawWithNames',
  'TabSeparatedRawWithNamesAndTypes',
  'TSV',
  'TSVRaw',
  'TSVWithNames',
  'TSVWithNamesAndTypes',
  'CSV',
  'CSVWithNames',
  'CSVWithNamesAndTypes',
  'JSON',
  'JSONStrings',
  'JSONCompact',
  'JSONCompactStrings',
  'JSONEachRow',
  'JSONStringsEachRow',
  'JSONCompactEachRow',
  'JSONCompactStringsEachRow',
  'JSONCompactEachRowWithNames',
  'JSONCompactEachRowWithNamesAndTypes',
  'JSONEachRowWithProgress',
  'JSONObjectEachRow',
  'JSONColumns',
  'JSONCompactColumns',
  'JSONLines',
  'NDJSON',
  'Pretty',
  'PrettyCompact',
  'PrettyCompactMonoBlock',
  'PrettySpace',
  'PrettyNoEscapes',
  'PrettyCompactNoEscapes',
  'PrettyMonoBlock',
  'Markdown',
  'Vertical',
  'Values',
  'XML',
  'TSKV',
  'Native',
  'RowBinary',
  'RowBinaryWithNames',
  'RowBinaryWithNamesAndTypes',
  'JSONCompactStringsEachRowWithNames',
  'JSONCompactStringsEachRowWithNamesAndTypes',
  'PrettyJSONEachRow',
  'Parquet',
  'Arrow',
  'ArrowStream',
  'ORC',
  'Null',
];
const FORMAT_BY_NAME = new Map(FORMATS.map((f) => [f.toLowerCase(), f]));

/** The format's canonical name, or undefined when the service does not produce it. */
export function outputFormat(name: string): string | undefined {
  return FORMAT_BY_NAME.get(name.toLowerCase());
}

/** The service cannot take the query now (slots and queue full, or shutting down): retry later. */
export class QueryBusy extends LlmeterError {
  override readonly name = 'QueryBusy';
  readonly retryAfterS: number;
  constructor(message: string, retryAfterS: number) {
    super(message);
    this.retryAfterS = retryAfterS;
  }
}

export interface QueryRequest {
  sql: string;
  /** Output format when the statement has no FORMAT clause. */
  format: string;
  /** Values of `{name:Type}` placeholders. */
  params?: Record<string, string>;
  /** Aborted when the client goes away: the query is stopped. */
  signal?: AbortSignal;
  /**
   * Settings the client asked for (the ClickHouse HTTP interface's parameters). When given, the query
   * writes its result with the engine's own defaults and the harmless ones of these (settings.ts);
   * the service's limits win over any asked for.
   */
  settings?: Readonly<Record<string, string>>;
  /** The tenant whose rows alone the query may read (tenant.ts); undefined: every row. */
  tenant?: string;
}

export interface QueryAnswer extends RunStats {
  id: string;
  body: Buffer;
  format: string;
  /** Time from the request's arrival to its answer. */
  elapsedMs: number;
  /** Settings asked for that the query did not run with. */
  ignoredSettings: string[];
}

export interface ReadOnlyQueriesOptions {
  engine: QueryEngine;
  config: QueryConfig;
  /** Databases whose tables may be read; the first is the one unqualified names resolve to. */
  databases: readonly string[];
  registry: Registry;
  log: Logger;
}

type QueryOutcome = 'ok' | 'refused' | 'failed' | 'timeout' | 'too_large' | 'cancelled' | 'busy';

export class ReadOnlyQueries implements Component {
  readonly name = 'query';
  private readonly engine: QueryEngine;
  private readonly cfg: QueryConfig;
  private readonly databases: readonly string[];
  private readonly log: Logger;
  private tableFunctions: Promise<Set<string>> | undefined;
  private tenantTables: Promise<string[]> | undefined;
  private readonly database: string;
  /** Query slots: at most max_concurrent run, max_queued wait; at shutdown those waiting are turned away. */
  private readonly slots: Admission;
  private readonly live = new Map<string, Promise<unknown>>();
  private closed = false;
  private readonly queries: Counter<'outcome'>;
  private readonly duration: Histogram<'outcome'>;
  private readonly runningGauge: Gauge;
  private readonly waitingGauge: Gauge;

  constructor(o: ReadOnlyQueriesOptions) {
    this.engine = o.engine;
    this.cfg = o.config;
    this.slots = new Admission({ capacity: o.config.max_concurrent, waitingRoom: o.config.max_queued, roomCounts: 'waiters', onClose: 'refuse' });
    this.databases = o.databases;
    this.database = o.databases[0]!;
    this.log = o.log;
    const registers = [o.registry];
    this.queries = new Counter({
      name: 'llmeter_queries_total',
      help: 'User queries by outcome: ok, refused (not a reading statement), failed (engine error), timeout, too_large, cancelled (client gone or shutdown), busy (503).',
      labelNames: ['outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'llmeter_query_duration_seconds',
      help: "Time from a user query's arrival to its answer.",
      labelNames: ['outcome'],
      buckets: [0.005, 0.02, 0.1, 0.5, 2, 10, 30, 120],
      registers,
    });
    this.runningGauge = new Gauge({ name: 'llmeter_queries_running', help: 'User queries running now.', registers });
    this.waitingGauge = new Gauge({ name: 'llmeter_queries_waiting', help: 'User queries waiting for a free slot.', registers });
  }

  async start(): Promise<void> {}
  async forceFlush(): Promise<void> {}

  /** Parses and judges a statement without running it. */
  async judge(sql: string, params?: Record<string, string>) {
    if (Buffer.byteLength(sql) > this.cfg.max_sql_bytes)
      throw new QueryRefused(`the statement is longer than query.max_sql_bytes (${this.cfg.max_sql_bytes} bytes)`, REFUSAL_CODES.syntax);
    if (sql.trim() === '') throw new QueryRefused('empty query', REFUSAL_CODES.syntax);
    let formatted: string;
    let ast: string;
    try {
      formatted = await this.engine.format(sql);
      refuseSettingsClause(formatted);
      ast = await this.engine.explainAst(formatted, params);
    } catch (err) {
      throw err instanceof ClickHouseError ? new QueryRefused(err.message, err.code ?? REFUSAL_CODES.syntax, { cause: err }) : err;
    }
    this.tableFunctions ??= this.engine.tableFunctions();
    return judgeStatement(formatted, ast, { databases: this.databases, tableFunctions: await this.tableFunctions });
  }

  async run(req: QueryRequest): Promise<QueryAnswer> {
    const t0 = performance.now();
    let outcome: QueryOutcome = 'failed';
    try {
      if (this.closed) throw new QueryBusy('the collector is shutting down', 5);
      const judged = await this.judge(req.sql, req.params).catch((err: unknown) => {
        if (err instanceof QueryRefused) outcome = 'refused';
        throw err;
      });
      const format = outputFormat(judged.format ?? req.format);
      if (!format) {
        outcome = 'refused';
        throw new QueryRefused(`unknown or unsupported output format ${judged.format ?? req.format}`, REFUSAL_CODES.format);
      }
      const { settings, timeoutMs, ignored } = await this.sessionSettings(req);
      await this.admit(t0, timeoutMs);
      const id = randomUUID();
      try {
        const { body, ...stats } = await this.execute(id, judged.sql, format, req, settings, timeoutMs);
        outcome = 'ok';
        return { id, body, format, ...stats, ignoredSettings: ignored, elapsedMs: performance.now() - t0 };
      } finally {
        this.release();
      }
    } catch (err) {
      if (err instanceof QueryBusy) outcome = 'busy';
      else if (err instanceof ClickHouseError)
        outcome = err.code === 159 ? 'timeout' : err.code === 396 || err.code === 158 ? 'too_large' : err.code === 394 ? 'cancelled' : outcome;
      throw err;
    } finally {
      this.queries.inc({ outcome });
      this.duration.observe({ outcome }, (performance.now() - t0) / 1000);
    }
  }

  /**
   * The settings a request runs with when it brings its own (asked settings, a tenant): the limits,
   * lowered where the request asked for less, the output settings, and the tenant's filters last.
   * Undefined settings: the engine's defaults for user queries.
   */
  private async sessionSettings(req: QueryRequest): Promise<{ settings?: Record<string, string | number>; timeoutMs: number; ignored: string[] }> {
    if (req.settings === undefined && req.tenant === undefined) return { timeoutMs: this.cfg.timeout_ms, ignored: [] };
    const decided = decideSettings(req.settings ?? {}, this.cfg);
    const settings: Record<string, string | number> = {
      ...limitSettings(this.cfg),
      ...(req.settings === undefined ? LLMETER_OUTPUT_SETTINGS : {}),
      ...decided.applied,
    };
    if (req.tenant !== undefined) {
      this.tenantTables ??= this.engine.tablesWithColumn('tenant').catch((err: unknown) => {
        this.tenantTables = undefined;
        throw err;
      });
      settings.additional_table_filters = tableFiltersSetting(tenantFilters(req.tenant, this.database, await this.tenantTables));
    }
    return { settings, timeoutMs: Math.round(Number(settings.max_execution_time) * 1000), ignored: decided.ignored };
  }

  private async execute(id: string, sql: string, format: string, req: QueryRequest, settings: Record<string, string | number> | undefined, timeoutMs: number) {
    const stop = () => {
      this.log.debug('stopping query', { id });
      this.engine.kill(id).catch((err: unknown) => this.log.warn('could not stop a query', { id, error: errorMessage(err) }));
    };
    req.signal?.addEventListener('abort', stop, { once: true });
    // The engine stops a query at its time limit itself; this is the backstop when it does not.
    const backstop = setTimeout(stop, timeoutMs + 5_000);
    const p = this.engine.run({ sql, format, params: req.params, id, settings });
    this.live.set(
      id,
      // Its outcome is the caller's (run() awaits `p`); shutdown only waits for it to end.
      p.catch(() => undefined),
    );
    try {
      const r = await p;
      if (r.body.length > this.cfg.max_result_bytes)
        throw new ClickHouseError(`the result is larger than query.max_result_bytes (${this.cfg.max_result_bytes} bytes)`, 396);
      return r;
    } finally {
      clearTimeout(backstop);
      req.signal?.removeEventListener('abort', stop);
      this.live.delete(id);
    }
  }

  /** A slot to run in: at once, or after waiting at most what is left of the time limit. */
  private async admit(since: number, timeoutMs: number): Promise<void> {
    let a = this.slots.take(1, { timeoutMs: Math.max(0, timeoutMs - (performance.now() - since)) });
    if (a === 'full')
      throw new QueryBusy(`${this.slots.held} queries are running and ${this.slots.waiting} waiting (query.max_concurrent, query.max_queued)`, 1);
    if (a instanceof Promise) {
      this.waitingGauge.set(this.slots.waiting);
      a = await a;
      this.waitingGauge.set(this.slots.waiting);
      if (a === 'full') throw new QueryBusy(`no query slot came free within query.timeout_ms (${this.cfg.timeout_ms} ms)`, 5);
    }
    if (a === 'closed') throw new QueryBusy('the collector is shutting down', 5);
    this.runningGauge.set(this.slots.held);
  }

  private release(): void {
    this.slots.release(1);
    this.runningGauge.set(this.slots.held);
    this.waitingGauge.set(this.slots.waiting);
  }

  /** Refuses new queries, stops the running ones and waits for them to end. */
  shutdown = once(async () => {
    this.closed = true;
    this.slots.close();
    const live = [...this.live];
    // A query that ended on its own meanwhile leaves nothing to stop.
    await Promise.all(live.map(([id]) => this.engine.kill(id).catch(() => undefined)));
    await Promise.all(live.map(([, p]) => p));
    await this.engine.close();
  });
}
