// The query engine of the embedded store: sessions of their own on the same chDB data directory.
// Each session is a separate engine connection that runs in parallel with the store's own (so a
// heavy query never holds up inserts), and its readonly mode and limits are set once, when it opens:
// with `readonly = 1` the engine refuses every write, every settings change and every table function
// that reaches outside, whatever the statement says. A query that runs with settings of its own (a
// tenant's filter, a client's output settings, a lower limit) gets a session opened with exactly
// those; opening one costs about a millisecond, and a few are kept for the next query that asks for
// the same.
import type { BackgroundFailures } from '../lifecycle/background.ts';
import { sqlString } from '../schema/ddl.ts';
import {
  engineCall as call,
  limitSettings,
  LLMETER_OUTPUT_SETTINGS,
  settingLiteral,
  TABLES_WITH_COLUMN_SQL,
  type QueryEngine,
  type RunOptions,
  type RunResult,
} from './engine.ts';
import type { QueryConfig } from './config.ts';

/** The part of chdb's Session this engine uses. */
interface ChdbResult {
  bytes(): Uint8Array;
  text(): string;
  /** Despite its name, the number of rows of the result (chDB counts what it returns). */
  readonly rowsRead?: number;
}

interface ChdbSession {
  queryAsync(sql: string, opts?: { format?: string }): Promise<ChdbResult>;
  queryBindAsync(sql: string, params: object, opts?: { format?: string }): Promise<ChdbResult>;
  close(): void;
}

export interface EmbeddedEngineOptions {
  dataDir: string;
  database: string;
  config: QueryConfig;
  /** Runs a statement on the store's writable session (KILL QUERY is not a reading statement). */
  command: (sql: string) => Promise<void>;
  /** Where a session that could not be reopened is logged and counted. */
  failures?: BackgroundFailures;
}

export class EmbeddedQueryEngine implements QueryEngine {
  private readonly o: EmbeddedEngineOptions;
  private readonly idle: ChdbSession[] = [];
  private readonly all = new Set<ChdbSession>();
  private Session: (new (path: string) => ChdbSession) | undefined;
  private closed = false;
  private readonly waiting: ((s: ChdbSession) => void)[] = [];
  private opened = false;
  /** Idle sessions opened with a query's own settings, by those settings; oldest first. */
  private readonly kept = new Map<string, ChdbSession[]>();
  private keptCount = 0;

  constructor(o: EmbeddedEngineOptions) {
    this.o = o;
  }

  private async open(): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    const { Session } = (await import('chdb')) as unknown as { Session: new (path: string) => ChdbSession };
    this.Session = Session;
    for (let i = 0; i < this.o.config.max_concurrent; i++) this.idle.push(await this.openSession());
  }

  private async openSession(
    settings: Readonly<Record<string, string | number>> = { ...limitSettings(this.o.config), ...LLMETER_OUTPUT_SETTINGS },
  ): Promise<ChdbSession> {
    const s = new this.Session!(this.o.dataDir);
    this.all.add(s);
    try {
      await s.queryAsync(`USE \`${this.o.database.replace(/`/g, '``')}\``);
      for (const [k, v] of Object.entries({ ...settings, max_query_size: Math.max(262_144, 4 * this.o.config.max_sql_bytes) })) {
        if (!/^\w+$/.test(k)) throw new Error(`not a setting name: ${k}`);
        await s.queryAsync(`SET ${k} = ${settingLiteral(v)}`);
      }
      // Last: after it the session can change nothing, its own settings included.
      await s.queryAsync('SET readonly = 1');
    } catch (err) {
      this.all.delete(s);
      s.close();
      throw err;
    }
    return s;
  }

  /** Runs `fn` on a session opened with `settings`: a kept one, or a new one. */
  private async withSettings<T>(settings: Readonly<Record<string, string | number>>, fn: (s: ChdbSession) => Promise<T>): Promise<T> {
    await this.open();
    const key = JSON.stringify(Object.entries(settings).sort(([a], [b]) => (a < b ? -1 : 1)));
    const idle = this.kept.get(key);
    let s = idle?.pop();
    if (s) this.keptCount--;
    else s = await call(() => this.openSession(settings));
    if (idle?.length === 0) this.kept.delete(key);
    try {
      const r = await fn(s);
      this.keep(key, s);
      return r;
    } catch (err) {
      // As in withSession: a session whose query failed is not used again.
      this.all.delete(s);
      s.close();
      throw err;
    }
  }

  /** Keeps a session for its settings' next query; past max_concurrent kept, the longest idle goes. */
  private keep(key: string, s: ChdbSession): void {
    if (this.closed) return;
    // Re-inserted last, so the map's first key is the least recently used.
    const list = this.kept.get(key) ?? [];
    this.kept.delete(key);
    this.kept.set(key, [...list, s]);
    this.keptCount++;
    while (this.keptCount > this.o.config.max_concurrent) {
      const [oldKey, oldList] = this.kept.entries().next().value as [string, ChdbSession[]];
      const old = oldList.shift()!;
      if (oldList.length === 0) this.kept.delete(oldKey);
      this.keptCount--;
      this.all.delete(old);
      old.close();
    }
  }

  private async withSession<T>(fn: (s: ChdbSession) => Promise<T>): Promise<T> {
    await this.open();
    const s = this.idle.pop() ?? (await new Promise<ChdbSession>((r) => this.waiting.push(r)));
    let next: ChdbSession | undefined = s;
    try {
      return await fn(s);
    } catch (err) {
      // A query that fails part-way through its output leaves that output in the session, and chDB
      // hands it out with the next query's result: the session is replaced, never reused.
      this.all.delete(s);
      s.close();
      next = this.closed ? undefined : await this.reopen();
      throw err;
    } finally {
      if (next) this.handOn(next);
    }
  }

  /** A session in place of one that failed; undefined when none opens, and one fewer query runs at a time. */
  private async reopen(): Promise<ChdbSession | undefined> {
    try {
      return await this.openSession();
    } catch (err) {
      this.o.failures?.report('query-sessions', err, 'a query session could not be reopened: one fewer query runs at a time');
      return undefined;
    }
  }

  private handOn(s: ChdbSession): void {
    const waiter = this.waiting.shift();
    if (waiter) waiter(s);
    else this.idle.push(s);
  }

  async format(sql: string): Promise<string> {
    // The statement goes in as a literal, not a bound parameter: chdb runs bound queries one at a
    // time for the whole process, and the store's own queries must not queue behind a user's.
    const text = await this.withSession((s) => call(() => s.queryAsync(`SELECT formatQuery(${sqlString(sql)})`, { format: 'JSONCompactEachRow' })));
    return (JSON.parse(text.text()) as [string])[0];
  }

  async explainAst(sql: string, params?: Record<string, string>): Promise<string> {
    const q = `EXPLAIN AST ${sql}`;
    const r = await this.withSession((s) =>
      call(() =>
        params && Object.keys(params).length > 0 ? s.queryBindAsync(q, params, { format: 'TabSeparatedRaw' }) : s.queryAsync(q, { format: 'TabSeparatedRaw' }),
      ),
    );
    return r.text();
  }

  async tableFunctions(): Promise<Set<string>> {
    const r = await this.withSession((s) => call(() => s.queryAsync('SELECT name FROM system.table_functions', { format: 'TabSeparatedRaw' })));
    return new Set(
      r
        .text()
        .split('\n')
        .filter(Boolean)
        .map((n) => n.toLowerCase()),
    );
  }

  async tablesWithColumn(column: string): Promise<string[]> {
    const r = await this.withSession((s) => call(() => s.queryBindAsync(TABLES_WITH_COLUMN_SQL, { column }, { format: 'TabSeparatedRaw' })));
    return r.text().split('\n').filter(Boolean);
  }

  async run(o: RunOptions): Promise<RunResult> {
    // The marker is how kill() finds the query in system.processes: chDB takes no query id.
    const sql = `${o.sql}\n/* llmeter-query ${o.id} */`;
    const query = (s: ChdbSession) =>
      call(() =>
        o.params && Object.keys(o.params).length > 0 ? s.queryBindAsync(sql, o.params, { format: o.format }) : s.queryAsync(sql, { format: o.format }),
      );
    const r = await (o.settings ? this.withSettings(o.settings, query) : this.withSession(query));
    const b = r.bytes();
    return { body: Buffer.from(b.buffer, b.byteOffset, b.byteLength), resultRows: r.rowsRead };
  }

  async kill(id: string): Promise<void> {
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new Error(`not a query id: ${id}`);
    await this.o.command(`KILL QUERY WHERE position(query, 'llmeter-query ${id}') > 0 AND NOT startsWith(query, 'KILL') ASYNC`);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.all) s.close();
    this.all.clear();
    this.idle.length = 0;
    this.kept.clear();
    this.keptCount = 0;
  }
}
