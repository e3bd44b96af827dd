// What the proxy needs from a request before forwarding it: the body (bounded), the model it names,
// whether it streams, and — for OpenAI-style streams that did not ask for usage — the one change
// the proxy makes to a body: `stream_options.include_usage: true`.
import type { IncomingMessage } from 'node:http';
import { LlmeterError } from '../../collector/core/errors.ts';

/** A request body past the proxy's limit: answered 413. */
export class BodyTooLargeError extends LlmeterError {
  constructor(message: string) {
    super(message, 'too_large');
  }
}

/** Reads the body into memory up to `limit` bytes; rejects with BodyTooLargeError past it. */
export function readRequestBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      return reject(new BodyTooLargeError(`request body of ${declared} bytes exceeds the limit of ${limit} bytes`));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.off('data', onData);
        reject(new BodyTooLargeError(`request body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(c);
    };
    let ended = false;
    req.on('data', onData);
    req.once('end', () => {
      ended = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.once('error', reject);
    // A client that goes away mid-upload: 'close' without 'end' (the promise must not hang).
    req.once('close', () => {
      if (!ended) reject(new Error('client closed the connection while sending the body'));
    });
  });
}

export interface RequestInfo {
  model: string;
  /** The `stream` field as sent (undefined when absent). */
  stream: boolean | undefined;
  /** The parsed body, when it is a JSON object. */
  json: Record<string, unknown> | undefined;
}

export function inspectBody(body: Buffer): RequestInfo {
  const info: RequestInfo = { model: '', stream: undefined, json: undefined };
  if (body.length === 0) return info;
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    // Forwarded as it is: the upstream answers a body that is not JSON, and the record keeps its answer.
    return info;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return info;
  const json = v as Record<string, unknown>;
  info.json = json;
  // Ollama's create/pull/delete name the model as `model` (older clients: `name`).
  const model = json.model ?? json.name;
  if (typeof model === 'string') info.model = model.slice(0, 256);
  if (typeof json.stream === 'boolean') info.stream = json.stream;
  return info;
}

const USAGE_PATHS = new Set(['/v1/chat/completions', '/v1/completions']);

/** Whether the proxy must ask for usage on this request's behalf. */
export function needsUsageInjection(pathname: string, info: RequestInfo): boolean {
  if (!USAGE_PATHS.has(pathname) || info.stream !== true || !info.json) return false;
  const so = info.json.stream_options;
  return !(typeof so === 'object' && so !== null && (so as Record<string, unknown>).include_usage === true);
}

const PREFIX = Buffer.from('{"stream_options":{"include_usage":true},');

/**
 * The body with include_usage set. Without `stream_options` the field is spliced in after the
 * opening brace (the client's bytes follow unchanged); when the client sent `stream_options`
 * without include_usage, the body is serialised again with the field set.
 */
export function injectUsage(body: Buffer, info: RequestInfo): Buffer {
  const json = info.json!;
  if (json.stream_options === undefined) {
    let i = 0;
    while (i < body.length && body[i] !== 0x7b) i++;
    let j = i + 1;
    while (j < body.length && (body[j] === 0x20 || body[j] === 0x0a || body[j] === 0x0d || body[j] === 0x09)) j++;
    // `{}` cannot be a streaming request (it has no stream field), so a member always follows.
    return Buffer.concat([PREFIX, body.subarray(j)]);
  }
  const so = typeof json.stream_options === 'object' && json.stream_options !== null ? json.stream_options : {};
  return Buffer.from(JSON.stringify({ ...json, stream_options: { ...so, include_usage: true } }), 'utf8');
}

const KNOWN = new Set([
  '/api/generate',
  '/api/chat',
  '/api/embed',
  '/api/embeddings',
  '/api/tags',
  '/api/ps',
  '/api/show',
  '/api/version',
  '/api/pull',
  '/api/push',
  '/api/create',
  '/api/copy',
  '/api/delete',
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/models',
  '/v1/responses',
  '/v1/messages',
  '/',
  '/health',
  '/metrics',
  '/tokenize',
  '/detokenize',
  '/version',
]);

/** The endpoint as stored: known paths as they are, ids in paths folded, anything else bounded. */
export function endpointLabel(pathname: string): string {
  if (KNOWN.has(pathname)) return pathname;
  if (pathname.startsWith('/api/blobs/')) return '/api/blobs/:digest';
  if (pathname.startsWith('/v1/models/')) return '/v1/models/:model';
  return pathname.length > 128 ? pathname.slice(0, 128) : pathname;
}

export function apiOf(pathname: string): 'ollama' | 'openai' | 'anthropic' | 'other' {
  // Ollama serves Anthropic's Messages API beside the OpenAI-compatible one, under /v1 too.
  if (pathname === '/v1/messages' || pathname.startsWith('/v1/messages/')) return 'anthropic';
  if (pathname.startsWith('/v1/')) return 'openai';
  if (pathname.startsWith('/api/')) return 'ollama';
  return 'other';
}
