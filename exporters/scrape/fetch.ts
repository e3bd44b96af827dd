// One HTTP GET of a metrics page with a deadline and a size limit. The body is read as it streams so
// an oversized page is cut off at the limit instead of being buffered whole.
import { request } from 'undici';
import { errorMessage, LlmeterError } from '../../collector/core/errors.ts';

export interface FetchOptions {
  timeoutMs: number;
  maxBytes: number;
  headers?: Record<string, string>;
}

export interface FetchedPage {
  text: string;
  bytes: number;
  status: number;
}

/** A page that could not be had; its code is the `reason` label: timeout, http_status, too_large, connect, body. */
export class ScrapeError extends LlmeterError {
  declare readonly code: string;
  constructor(kind: string, message: string) {
    super(message, kind);
  }

  get kind(): string {
    return this.code;
  }
}

const ACCEPT = 'text/plain;version=0.0.4;q=0.9,*/*;q=0.1';

export async function fetchPage(url: string, o: FetchOptions): Promise<FetchedPage> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new ScrapeError('timeout', `timed out after ${o.timeoutMs} ms`)), o.timeoutMs);
  timer.unref();
  try {
    let res;
    try {
      res = await request(url, {
        method: 'GET',
        headers: { accept: ACCEPT, 'user-agent': 'llmeter-scraper', ...o.headers },
        signal: ac.signal,
        headersTimeout: o.timeoutMs,
        bodyTimeout: o.timeoutMs,
      });
    } catch (err) {
      throw classify(err, ac.signal);
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      // Reads the body away for the connection's reuse; the status is the failure reported.
      await res.body.dump().catch(() => {});
      throw new ScrapeError('http_status', `HTTP ${res.statusCode}`);
    }
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > o.maxBytes) {
      res.body.destroy();
      throw new ScrapeError('too_large', `page of ${declared} bytes exceeds the limit of ${o.maxBytes} bytes`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        const b = chunk as Buffer;
        size += b.length;
        if (size > o.maxBytes) {
          res.body.destroy();
          throw new ScrapeError('too_large', `page exceeds the limit of ${o.maxBytes} bytes`);
        }
        chunks.push(b);
      }
    } catch (err) {
      throw classify(err, ac.signal);
    }
    return { text: Buffer.concat(chunks, size).toString('utf8'), bytes: size, status: res.statusCode };
  } finally {
    clearTimeout(timer);
  }
}

function classify(err: unknown, signal: AbortSignal): ScrapeError {
  if (err instanceof ScrapeError) return err;
  if (signal.aborted && signal.reason instanceof ScrapeError) return signal.reason;
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code ?? '';
  if (/TIMEOUT/i.test(code)) return new ScrapeError('timeout', e.message ?? 'timed out');
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ECONNRESET|EAI_AGAIN|SOCKET/i.test(code)) return new ScrapeError('connect', `${code}: ${e.message ?? ''}`.trim());
  return new ScrapeError('body', errorMessage(err));
}
