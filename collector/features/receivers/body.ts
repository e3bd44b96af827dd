// Request bodies for the receivers: read with a size limit, then gunzip (the Faro SDK's
// requestCompression and OTLP exporters' compression both send gzip) with the same limit on what it
// inflates to, so a small compressed body cannot expand into an unbounded buffer.
import type { IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { gunzip, inflate } from 'node:zlib';
import { errorMessage } from '../../core/errors.ts';
import { HttpError, readBody } from '../../core/http/server.ts';

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

export async function readDecodedBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const raw = await readBody(req, limit);
  const encoding = String(req.headers['content-encoding'] ?? 'identity')
    .trim()
    .toLowerCase();
  if (encoding === 'identity' || encoding === '') return raw;
  if (encoding !== 'gzip' && encoding !== 'deflate') throw new HttpError(415, `unsupported content-encoding ${encoding}`);
  try {
    return await (encoding === 'gzip' ? gunzipAsync(raw, { maxOutputLength: limit }) : inflateAsync(raw, { maxOutputLength: limit }));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new HttpError(413, `decompressed body exceeds the limit of ${limit} bytes`);
    throw new HttpError(400, `body is not valid ${encoding}: ${errorMessage(err)}`);
  }
}

/** The first value of a request header. */
export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
