// Reading what a request used from the response's final frame only. Chunks are forwarded untouched;
// the proxy keeps references to the last few of them (no copy) and parses only the end of the
// stream once it is over: Ollama's last NDJSON line (`"done":true` with the counts and durations, or
// an `{"error":…}` line), or an OpenAI-style stream's last `data:` events (the usage chunk).

/** What a response says about the work it took; absent fields stay 0. */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  loadNs: number;
  promptEvalNs: number;
  evalNs: number;
  totalNs: number;
  /** An error the body carries (an error line in a 200 stream, the message of an error status). */
  error: string;
  /** Whether a final frame with usage was found. */
  found: boolean;
}

export function emptyUsage(): Usage {
  return { inputTokens: 0, outputTokens: 0, cachedTokens: 0, loadNs: 0, promptEvalNs: 0, evalNs: 0, totalNs: 0, error: '', found: false };
}

/** How many trailing bytes are kept to find the final frame in. */
export const TAIL_BYTES = 64 * 1024;

/** The last bytes of a stream, as references to the chunks that hold them. */
export class StreamTail {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private readonly keep: number;

  constructor(keep = TAIL_BYTES) {
    this.keep = keep;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.chunks.length > 1 && this.bytes - this.chunks[0]!.length >= this.keep) {
      this.bytes -= this.chunks.shift()!.length;
    }
  }

  get size(): number {
    return this.bytes;
  }

  text(): string {
    if (this.chunks.length === 1) return this.chunks[0]!.toString('utf8');
    return Buffer.concat(this.chunks, this.bytes).toString('utf8');
  }
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : 0;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value, or undefined for text that is not JSON (a frame cut short, an error page): no usage in it. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The message of an error body in any of the shapes the servers use. */
export function bodyErrorMessage(body: unknown): string {
  if (!isObject(body)) return '';
  const e = body.error;
  if (typeof e === 'string') return e;
  if (isObject(e) && typeof e.message === 'string') return e.message;
  // vLLM: {"object":"error","message":…}; FastAPI: {"detail":…}
  if (body.object === 'error' && typeof body.message === 'string') return body.message;
  if (typeof body.detail === 'string') return body.detail;
  if (body.detail !== undefined) return JSON.stringify(body.detail).slice(0, 1024);
  return '';
}

/** Fills `u` from one parsed object: Ollama's final chunk or response, or an OpenAI body/chunk. */
export function readUsage(obj: unknown, u: Usage): void {
  if (!isObject(obj)) return;
  // A Responses API stream event (`response.completed`, `.failed`, `.incomplete`) carries the whole
  // response, usage and error included, one level down.
  if (typeof obj.type === 'string' && obj.type.startsWith('response.') && isObject(obj.response)) return readUsage(obj.response, u);
  const err = bodyErrorMessage(obj);
  if (err) u.error = err;
  if (obj.done === true || 'prompt_eval_count' in obj || 'eval_count' in obj || 'total_duration' in obj) {
    u.inputTokens = num(obj.prompt_eval_count);
    u.outputTokens = num(obj.eval_count);
    u.cachedTokens = num(obj.prompt_eval_cached_count);
    u.loadNs = num(obj.load_duration);
    u.promptEvalNs = num(obj.prompt_eval_duration);
    u.evalNs = num(obj.eval_duration);
    u.totalNs = num(obj.total_duration);
    u.found = true;
    return;
  }
  const usage = obj.usage;
  if (isObject(usage)) {
    u.inputTokens = num(usage.prompt_tokens ?? usage.input_tokens);
    u.outputTokens = num(usage.completion_tokens ?? usage.output_tokens);
    const details = usage.prompt_tokens_details ?? usage.input_tokens_details;
    u.cachedTokens = isObject(details) ? num(details.cached_tokens) : 0;
    u.found = true;
  }
}

/** Final line of an NDJSON stream (Ollama): the `done` chunk with the numbers, or an error line. */
export function usageFromNdjson(tail: string): Usage {
  const u = emptyUsage();
  let end = tail.length;
  // Walk back over at most a few lines: the final one may be cut short by an abort.
  for (let i = 0; i < 4 && end > 0; i++) {
    while (end > 0 && (tail.charCodeAt(end - 1) === 10 || tail.charCodeAt(end - 1) === 13 || tail.charCodeAt(end - 1) === 32)) end--;
    const start = tail.lastIndexOf('\n', end - 1) + 1;
    const line = tail.slice(start, end);
    end = start - 1;
    const obj = parseJson(line);
    if (obj === undefined) continue;
    readUsage(obj, u);
    return u;
  }
  return u;
}

/** The last `data:` events of an SSE stream (OpenAI style): usage from the usage chunk, errors. */
export function usageFromSse(tail: string): Usage {
  const u = emptyUsage();
  const events = tail.split(/\r?\n\r?\n/);
  let seen = 0;
  for (let i = events.length - 1; i >= 0 && seen < 4; i--) {
    const data = sseData(events[i]!);
    if (data === undefined || data === '[DONE]') continue;
    seen++;
    const obj = parseJson(data);
    if (obj === undefined) continue;
    readUsage(obj, u);
    if (u.found || u.error) return u;
  }
  return u;
}

function sseData(event: string): string | undefined {
  let data: string | undefined;
  for (const line of event.split(/\r?\n/)) {
    if (!line.startsWith('data:')) continue;
    const v = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
    data = data === undefined ? v : data + '\n' + v;
  }
  return data;
}

/** A whole (non-streamed) body: parsed when it is JSON; numbers scanned from its end when too big. */
export function usageFromBody(text: string, complete: boolean): Usage {
  const u = emptyUsage();
  if (complete) {
    const obj = parseJson(text);
    if (obj !== undefined) {
      readUsage(obj, u);
      return u;
    }
  }
  return usageFromKeys(text);
}

const KEY_SCAN: readonly [keyof Usage, string][] = [
  ['inputTokens', 'prompt_eval_count'],
  ['outputTokens', 'eval_count'],
  ['cachedTokens', 'prompt_eval_cached_count'],
  ['loadNs', 'load_duration'],
  ['promptEvalNs', 'prompt_eval_duration'],
  ['evalNs', 'eval_duration'],
  ['totalNs', 'total_duration'],
  ['inputTokens', 'prompt_tokens'],
  ['outputTokens', 'completion_tokens'],
  ['cachedTokens', 'cached_tokens'],
];

/**
 * The counts of a body too large to parse whole (embeddings of many inputs): they sit at its end.
 * A quote preceded by an even number of backslashes opens a key, so text inside strings never matches.
 */
export function usageFromKeys(text: string): Usage {
  const u = emptyUsage();
  const values = u as unknown as Record<string, number>;
  for (const [field, key] of KEY_SCAN) {
    const re = new RegExp(`(?<!\\\\)(?:\\\\\\\\)*"${key}"\\s*:\\s*(\\d+)`, 'g');
    let last: string | undefined;
    for (const m of text.matchAll(re)) last = m[1];
    if (last !== undefined && values[field] === 0) {
      values[field] = Number(last);
      u.found = true;
    }
  }
  return u;
}

const NL = 0x0a;

/** Lines (NDJSON) in a chunk: an estimate of the tokens a stream cut short had delivered. */
export function countByte(chunk: Buffer, byte: number = NL): number {
  let n = 0;
  let i = chunk.indexOf(byte);
  while (i !== -1) {
    n++;
    i = chunk.indexOf(byte, i + 1);
  }
  return n;
}

const EVENT_END = Buffer.from('\n\n');
const USAGE_KEY = Buffer.from('"usage"');

/**
 * Removes what include_usage adds to an SSE stream whose client did not ask for it: the usage-only
 * chunk (`"choices":[]` with `"usage":{…}`), and the `usage` member of every other chunk (Ollama's
 * /v1/completions puts a zero one on each, OpenAI a null one). Events are forwarded whole: a partial
 * trailing event is held until its end arrives, which costs nothing in practice since servers write
 * one event per write.
 */
export class UsageChunkStripper {
  private pending: Buffer | undefined;
  stripped = 0;

  /** Bytes to forward now (possibly empty). */
  push(chunk: Buffer): Buffer {
    const data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const last = data.lastIndexOf(EVENT_END);
    if (last === -1) {
      this.pending = data;
      if (data.length > TAIL_BYTES * 16) return this.flush();
      return EMPTY;
    }
    const cut = last + EVENT_END.length;
    this.pending = cut < data.length ? data.subarray(cut) : undefined;
    const complete = cut < data.length ? data.subarray(0, cut) : data;
    if (complete.indexOf(USAGE_KEY) === -1) return complete;
    return this.dropUsageEvents(complete);
  }

  /** Whatever is held back, at the end of the stream. */
  flush(): Buffer {
    const p = this.pending ?? EMPTY;
    this.pending = undefined;
    return p;
  }

  private dropUsageEvents(complete: Buffer): Buffer {
    const events = complete.toString('utf8').split('\n\n');
    const kept: string[] = [];
    for (let i = 0; i < events.length - 1; i++) {
      const e = events[i]!;
      if (isUsageOnly(e)) {
        this.stripped++;
        continue;
      }
      kept.push(withoutUsage(e) + '\n\n');
    }
    return Buffer.from(kept.join(''), 'utf8');
  }
}

/** A top-level `usage` member written last, as the servers write it: only its brackets are counted. */
const TRAILING_USAGE = /,\s*"usage"\s*:\s*(?:null|\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\})\s*(\}\s*)$/;

/**
 * The event without its chunk's top-level `usage` member. The member is cut out of the bytes, so the
 * rest reaches the client exactly as the server wrote it; a chunk that has the member elsewhere is
 * written again without it.
 */
function withoutUsage(event: string): string {
  if (!event.includes('"usage"')) return event;
  const lines = event.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.startsWith('data:')) continue;
    const cut = line.replace(TRAILING_USAGE, '$1');
    if (cut !== line) {
      lines[i] = cut;
      continue;
    }
    const obj = parseJson(line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5));
    if (!isObject(obj) || !('usage' in obj)) continue;
    const { usage: _usage, ...rest } = obj;
    lines[i] = `data: ${JSON.stringify(rest)}`;
  }
  return lines.join('\n');
}

function isUsageOnly(event: string): boolean {
  const data = sseData(event);
  if (data === undefined || data === '[DONE]') return false;
  const obj = parseJson(data);
  return isObject(obj) && isObject(obj.usage) && Array.isArray(obj.choices) && obj.choices.length === 0;
}

const EMPTY = Buffer.alloc(0);
