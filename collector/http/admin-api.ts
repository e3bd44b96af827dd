// Admin endpoints for the local operator while the collector holds the embedded store (chDB allows
// one process per data directory): read-only SQL and NDJSON ingest. Guarded by admin keys; with none
// configured, only loopback clients are served.
import type { IncomingMessage } from 'node:http';
import type { DataFormat } from '@clickhouse/client';
import type { Config } from '../config/schema.ts';
import type { Pipeline } from '../pipeline/pipeline.ts';
import { isSignal } from '../records/validate.ts';
import { bearerToken, KeyRing, parseDigest, readKeyFile } from '../security/keys.ts';
import type { Store } from '../store/store.ts';
import { HttpError, readBody, sendJson, type HttpServer } from './server.ts';
import { ingestNdjson } from '../pipeline/ingest.ts';
import { Readable } from 'node:stream';

const SQL_FORMATS = new Set(['JSONEachRow', 'JSON', 'JSONCompact', 'TabSeparated', 'TabSeparatedWithNames', 'CSV', 'CSVWithNames', 'PrettyCompact', 'PrettyCompactMonoBlock', 'Pretty', 'Markdown', 'Vertical']);
const MAX_SQL_BYTES = 256 * 1024;
const READ_ONLY_SQL = /^\s*(\(?\s*SELECT|WITH|SHOW|DESC|DESCRIBE|EXPLAIN|EXISTS)\b/i;

export function adminKeyRing(cfg: Config['http']): KeyRing<'admin'> {
  const ring = new KeyRing<'admin'>();
  for (const d of cfg.admin_keys) ring.add(parseDigest(d), 'admin');
  if (cfg.admin_key_file) ring.addKey(readKeyFile(cfg.admin_key_file), 'admin');
  return ring;
}

function isLoopback(req: IncomingMessage): boolean {
  const a = req.socket.remoteAddress ?? '';
  return a === '127.0.0.1' || a === '::1' || a.startsWith('127.') || a === '::ffff:127.0.0.1';
}

export function requireAdmin(req: IncomingMessage, ring: KeyRing<'admin'>): void {
  if (ring.size === 0) {
    if (!isLoopback(req)) throw new HttpError(403, 'admin endpoints accept loopback clients only until http.admin_keys is configured');
    return;
  }
  if (ring.lookup(bearerToken(req.headers.authorization)) !== 'admin') throw new HttpError(401, 'missing or unknown admin key', { 'www-authenticate': 'Bearer' });
}

export function mountAdminApi(http: HttpServer, store: Store, pipeline: Pipeline, cfg: Config): void {
  const ring = adminKeyRing(cfg.http);
  http.route('POST', '/api/sql', async (req, res, url) => {
    requireAdmin(req, ring);
    const format = url.searchParams.get('format') ?? 'TabSeparatedWithNames';
    if (!SQL_FORMATS.has(format)) throw new HttpError(400, `format must be one of ${[...SQL_FORMATS].join(', ')}`);
    const sql = (await readBody(req, MAX_SQL_BYTES)).toString('utf8').trim();
    if (!sql) throw new HttpError(400, 'empty query: send the SQL as the request body');
    // One statement, and a reading one: chDB cannot scope `readonly` to a request, so the statement
    // kind is checked here; a ClickHouse server additionally enforces readonly=2.
    if (!READ_ONLY_SQL.test(sql) || /;\s*\S/.test(sql.replace(/'(?:[^'\\]|\\.)*'/g, "''"))) {
      throw new HttpError(400, 'only a single SELECT, WITH, SHOW, DESCRIBE, EXPLAIN or EXISTS statement is allowed');
    }
    try {
      const text = await store.queryText(sql, format as DataFormat, undefined, store.mode === 'server' ? { readonly: '2' } : undefined);
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(text);
    } catch (err) {
      throw new HttpError(400, (err as Error).message);
    }
  });
  http.route('POST', '/api/v1/ingest/*', async (req, res, url) => {
    requireAdmin(req, ring);
    const signal = url.pathname.slice('/api/v1/ingest/'.length);
    if (!isSignal(signal)) throw new HttpError(404, `unknown signal ${JSON.stringify(signal)}`);
    const body = await readBody(req, cfg.http.max_body_bytes);
    const report = await ingestNdjson(pipeline, signal, Readable.from([body]), { source: 'http' });
    await report.durable;
    sendJson(res, 200, { accepted: report.accepted, rejected: report.rejected, dropped: report.dropped, reasons: report.reasons });
  });
}
