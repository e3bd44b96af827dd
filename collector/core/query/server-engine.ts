// The query engine of a ClickHouse server: the store's client, with readonly and the limits sent as
// settings of each query (the server applies them to that query alone), a query id to stop it by,
// and the server cancelling a reading query whose client went away.
import type { ClickHouseClient, ClickHouseSettings } from '@clickhouse/client';
import {
  engineCall as call,
  limitSettings,
  LLMETER_OUTPUT_SETTINGS,
  TABLES_WITH_COLUMN_SQL,
  type QueryEngine,
  type RunOptions,
  type RunResult,
} from './engine.ts';
import type { QueryConfig } from './config.ts';

export class ServerQueryEngine implements QueryEngine {
  private readonly client: ClickHouseClient;
  private readonly cfg: QueryConfig;

  constructor(client: ClickHouseClient, cfg: QueryConfig) {
    this.client = client;
    this.cfg = cfg;
  }

  async format(sql: string): Promise<string> {
    const rows = await call(async () =>
      (await this.client.query({ query: 'SELECT formatQuery({q:String}) AS f', query_params: { q: sql }, format: 'JSONEachRow' })).json<{ f: string }>(),
    );
    return rows[0]!.f;
  }

  async explainAst(sql: string, params?: Record<string, string>): Promise<string> {
    return call(async () => (await this.client.query({ query: `EXPLAIN AST ${sql}`, query_params: params, format: 'TabSeparatedRaw' })).text());
  }

  async tableFunctions(): Promise<Set<string>> {
    const text = await call(async () => (await this.client.query({ query: 'SELECT name FROM system.table_functions', format: 'TabSeparatedRaw' })).text());
    return new Set(
      text
        .split('\n')
        .filter(Boolean)
        .map((n) => n.toLowerCase()),
    );
  }

  async tablesWithColumn(column: string): Promise<string[]> {
    const text = await call(async () =>
      (await this.client.query({ query: TABLES_WITH_COLUMN_SQL, query_params: { column }, format: 'TabSeparatedRaw' })).text(),
    );
    return text.split('\n').filter(Boolean);
  }

  async run(o: RunOptions): Promise<RunResult> {
    const settings = {
      ...(o.settings ?? { ...limitSettings(this.cfg), ...LLMETER_OUTPUT_SETTINGS }),
      cancel_http_readonly_queries_on_client_close: 1,
      // Last: the server checks each setting against the ones before it.
      readonly: '1',
    } as ClickHouseSettings;
    return call(async () => {
      const r = await this.client.exec({ query: `${o.sql}\nFORMAT ${o.format}`, query_params: o.params, query_id: o.id, clickhouse_settings: settings });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of r.stream as AsyncIterable<Buffer>) {
        size += c.length;
        if (size > this.cfg.max_result_bytes) {
          r.stream.destroy();
          throw Object.assign(new Error(`the result is larger than query.max_result_bytes (${this.cfg.max_result_bytes} bytes)`), { code: '396' });
        }
        chunks.push(c);
      }
      const summary = r.summary;
      const n = (v: string | undefined) => (v === undefined ? undefined : Number(v));
      return {
        body: Buffer.concat(chunks, size),
        readRows: n(summary?.read_rows),
        readBytes: n(summary?.read_bytes),
        resultRows: n(summary?.result_rows),
      };
    });
  }

  async kill(id: string): Promise<void> {
    await this.client.command({ query: 'KILL QUERY WHERE query_id = {id:String} ASYNC', query_params: { id } });
  }

  async close(): Promise<void> {}
}
