// Errors the proxy itself answers, written the way the upstream would so that clients surface them
// unchanged: Ollama's `{"error":"…"}` on its native paths, OpenAI's error object on /v1/*.
import type { ServerResponse } from 'node:http';

export type ApiStyle = 'ollama' | 'openai';

export function apiStyle(path: string): ApiStyle {
  return path.startsWith('/v1/') ? 'openai' : 'ollama';
}

/** OpenAI error `type` for a status, as the OpenAI API and vLLM use them. */
function openaiType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 413 || status === 404 || status === 400) return 'invalid_request_error';
  return 'api_error';
}

export function errorBody(style: ApiStyle, status: number, message: string, code: string | null = null): string {
  if (style === 'ollama') return JSON.stringify({ error: message });
  return JSON.stringify({ error: { message, type: openaiType(status), param: null, code } });
}

export function sendError(
  res: ServerResponse,
  style: ApiStyle,
  status: number,
  message: string,
  code: string | null = null,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = errorBody(style, status, message, code);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}
