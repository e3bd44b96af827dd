// HTTP for the price sources: a timeout on every request, a bounded body, and errors that say which
// answers are worth retrying (network, 429, 5xx) and which are not (4xx, garbage).
import { LlmeterError } from '../../collector/core/errors.ts';
import { GarbageAnswer } from './source.ts';

/** A price API's answer with an HTTP status that is not success (its code). */
export class HttpStatusError extends LlmeterError {
  declare readonly code: number;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  constructor(url: string, status: number, body: string, retryAfterMs?: number) {
    super(`${redact(url)} answered ${status}: ${body.slice(0, 200)}`, status);
    this.retryable = status === 429 || status === 408 || status >= 500;
    this.retryAfterMs = retryAfterMs;
  }

  get status(): number {
    return this.code;
  }
}

export interface HttpOptions {
  timeoutMs: number;
  maxBodyBytes: number;
  signal?: AbortSignal;
}

/** Drops query parameters that carry keys from messages and logs. */
export function redact(url: string): string {
  return url.replace(/([?&](?:key|api_key|apikey|token)=)[^&]*/gi, '$1…');
}

async function readLimited(res: Response, limit: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > limit) throw new GarbageAnswer(`answer of ${declared} bytes is over the ${limit}-byte limit`);
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += chunk.byteLength;
    if (total > limit) throw new GarbageAnswer(`answer is over the ${limit}-byte limit`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A Retry-After header (seconds or an HTTP date) in milliseconds from now. */
export function retryAfterMs(h: string | null | undefined): number | undefined {
  if (!h) return undefined;
  const s = Number(h);
  if (Number.isFinite(s)) return s * 1000;
  const t = Date.parse(h);
  return Number.isFinite(t) ? Math.max(0, t - Date.now()) : undefined;
}

export async function requestText(url: string, init: RequestInit, o: HttpOptions): Promise<string> {
  const timeout = AbortSignal.timeout(o.timeoutMs);
  const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
  const res = await fetch(url, { ...init, signal });
  const body = await readLimited(res, o.maxBodyBytes);
  if (!res.ok) throw new HttpStatusError(url, res.status, body, retryAfterMs(res.headers.get('retry-after')));
  return body;
}

export async function requestJson(url: string, init: RequestInit, o: HttpOptions): Promise<unknown> {
  const text = await requestText(url, init, o);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new GarbageAnswer(`${redact(url)} answered with something that is not JSON: ${JSON.stringify(text.slice(0, 120))}`);
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads an object field or fails the whole answer: the API changed shape or sent garbage. */
export function expectRecord(v: unknown, what: string): Record<string, unknown> {
  if (!isRecord(v)) throw new GarbageAnswer(`${what}: expected an object`);
  return v;
}

export function expectArray(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new GarbageAnswer(`${what}: expected an array`);
  return v;
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
