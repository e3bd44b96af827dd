// Admin endpoints for the local operator while the collector holds the embedded store (chDB allows
// one process per data directory): read-only SQL and NDJSON ingest. Guarded by admin keys; with none
// configured, only loopback clients are served.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/schema.ts';
import type { Pipeline } from '../pipeline/pipeline.ts';
import { isSignal } from '../records/validate.ts';
import { bearerToken, KeyRing, parseDigest, readKeyFile } from '../security/keys.ts';
import { EngineError, QueryBusy, QueryRefused, type ReadOnlyQueries } from '../query/index.ts';
import { HttpError, readBody, sendJson, type HttpServer } from './server.ts';
import { ingestNdjson } from '../pipeline/ingest.ts';
import { Readable } from 'node:stream';

/** Body types of the admin endpoints: ones a web page cannot send without a CORS preflight. */
const SQL_BODY = ['application/sql'];
export const NDJSON_BODY = ['application/x-ndjson', 'application/jsonl', 'application/json'];

const SQL_FORMATS = new Set(['JSONEachRow', 'JSON', 'JSONCompact', 'JSONCompactEachRow', 'TabSeparated', 'TabSeparatedWithNames', 'CSV', 'CSVWithNames', 'PrettyCompact', 'PrettyCompactMonoBlock', 'Pretty', 'Markdown', 'Vertical']);

export function adminKeyRing(cfg: Config['http']): KeyRing<'admin'> {
  const ring = new KeyRing<'admin'>();
  for (const d of cfg.admin_keys) ring.add(parseDigest(d), 'admin');
  if (cfg.admin_key_file) ring.addKey(readKeyFile(cfg.admin_key_file), 'admin');
  return ring;
}

/**
 * A client on this machine: a loopback peer that is not a reverse proxy passing on someone else's
 * request (which says so in a forwarding header). Behind a proxy on the same host every request
 * arrives from loopback, so without this test the proxy would make everyone a local operator.
 */
export function isLocalClient(req: IncomingMessage): boolean {
  const a = req.socket.remoteAddress ?? '';
  const loopback = a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.');
  const h = req.headers;
  return loopback && h.forwarded === undefined && h['x-forwarded-for'] === undefined && h['x-real-ip'] === undefined;
}

export function requireAdmin(req: IncomingMessage, ring: KeyRing<'admin'>): void {
  if (ring.size === 0) {
    if (!isLocalClient(req)) throw new HttpError(403, 'admin endpoints accept clients on this machine only (not through a proxy) until http.admin_keys is configured');
    return;
  }
  if (ring.lookup(bearerToken(req.headers.authorization)) !== 'admin') throw new HttpError(401, 'missing or unknown admin key', { 'www-authenticate': 'Bearer' });
}

/** The HTTP answer for a query the service refused or the engine failed. */
export function queryErrorStatus(err: unknown): HttpError | undefined {
  if (err instanceof QueryRefused) return new HttpError(400, err.message);
  if (err instanceof QueryBusy) return new HttpError(503, err.message, { 'retry-after': String(err.retryAfterS) });
  if (err instanceof EngineError) {
    if (err.code === 159) return new HttpError(504, `query stopped at its time limit (query.timeout_ms): ${err.message}`);
    if (err.code === 396 || err.code === 158) return new HttpError(413, `the result is larger than query.max_result_rows / query.max_result_bytes allow: ${err.message}`);
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

export function mountAdminApi(http: HttpServer, queries: ReadOnlyQueries, pipeline: Pipeline, cfg: Config): void {
  const ring = adminKeyRing(cfg.http);
  http.route('POST', '/api/sql', async (req, res, url) => {
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
  }, { bodyTypes: SQL_BODY });
  http.route('POST', '/api/v1/ingest/*', async (req, res, url) => {
    requireAdmin(req, ring);
    const signal = url.pathname.slice('/api/v1/ingest/'.length);
    if (!isSignal(signal)) throw new HttpError(404, `unknown signal ${JSON.stringify(signal)}`);
    const body = await readBody(req, cfg.http.max_body_bytes);
    const report = await ingestNdjson(pipeline, signal, Readable.from([body]), { source: 'http' });
    await report.durable;
    sendJson(res, 200, { accepted: report.accepted, rejected: report.rejected, dropped: report.dropped, reasons: report.reasons });
  }, { bodyTypes: NDJSON_BODY });
}
