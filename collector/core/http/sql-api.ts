// POST /api/sql: one reading statement through the read-only query service, for the local operator
// (`llmeter sql` while a collector holds the embedded store, `llmeter top`) and admin-key holders.
import type { ServerResponse } from 'node:http';
import type { CoreConfig } from '../config/schema.ts';
import { QueryBusy, QueryRefused, type ReadOnlyQueries } from '../query/index.ts';
import { ClickHouseError } from '../store/errors.ts';
import { adminKeyRing, requireAdmin } from './admin-auth.ts';
import { HttpError, readBody, type HttpServer } from './server.ts';

/** A body type a web page cannot send without a CORS preflight. */
const SQL_BODY = ['application/sql'];

const SQL_FORMATS = new Set([
  'JSONEachRow',
  'JSON',
  'JSONCompact',
  'JSONCompactEachRow',
  'TabSeparated',
  'TabSeparatedWithNames',
  'CSV',
  'CSVWithNames',
  'PrettyCompact',
  'PrettyCompactMonoBlock',
  'Pretty',
  'Markdown',
  'Vertical',
]);

/** The HTTP answer for a query the service refused or the engine failed. */
export function queryErrorStatus(err: unknown): HttpError | undefined {
  if (err instanceof QueryRefused) return new HttpError(400, err.message);
  if (err instanceof QueryBusy) return new HttpError(503, err.message, { 'retry-after': String(err.retryAfterS) });
  if (err instanceof ClickHouseError) {
    if (err.code === 159) return new HttpError(504, `query stopped at its time limit (query.timeout_ms): ${err.message}`);
    if (err.code === 396 || err.code === 158)
      return new HttpError(413, `the result is larger than query.max_result_rows / query.max_result_bytes allow: ${err.message}`);
    if (err.code === 394) return new HttpError(503, 'the query was stopped (its client went away or the collector is shutting down)', { 'retry-after': '5' });
    return new HttpError(400, err.message);
  }
  return undefined;
}

/** Aborted when the client of `res` goes away before the answer is complete. */
export function clientGone(res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) ac.abort();
  });
  return ac.signal;
}

export function mountSqlApi(http: HttpServer, queries: ReadOnlyQueries, cfg: CoreConfig): void {
  const ring = adminKeyRing(cfg.http);
  http.route(
    'POST',
    '/api/sql',
    async (req, res, url) => {
      requireAdmin(req, ring);
      const format = url.searchParams.get('format') ?? 'TabSeparatedWithNames';
      if (!SQL_FORMATS.has(format)) throw new HttpError(400, `format must be one of ${[...SQL_FORMATS].join(', ')}`);
      const sql = (await readBody(req, cfg.query.max_sql_bytes)).toString('utf8');
      if (!sql.trim()) throw new HttpError(400, 'empty query: send the SQL as the request body');
      let answer;
      try {
        answer = await queries.run({ sql, format, signal: clientGone(res) });
      } catch (err) {
        throw queryErrorStatus(err) ?? err;
      }
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-llmeter-query-id': answer.id, 'x-clickhouse-format': answer.format });
      res.end(answer.body);
    },
    { bodyTypes: SQL_BODY },
  );
}
