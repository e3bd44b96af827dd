// A wire-faithful stand-in for an Ollama server (native and OpenAI-compatible API) over real HTTP:
// it answers with the bytes of real captures (test/fixtures/ollama), streamed line by line or event
// by event with the capture's own pacing (scaled down so tests stay fast). Which capture answers
// depends on the path and the requested model, as with a real server holding those models.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fixtureText } from './paths.ts';

export function fixture(name: string): string {
  return fixtureText('ollama', name);
}

/** A pretty-printed docs example as the server writes it (gin's c.JSON: compact). */
function compact(name: string): string {
  return JSON.stringify(JSON.parse(fixture(name)));
}

/** NDJSON lines of a capture (each ends with \n on the wire). */
export function lines(name: string): string[] {
  return fixture(name)
    .split('\n')
    .filter((l) => l.trim() !== '');
}

/** SSE events of a capture, without the provenance comment at its top. */
export function sseEvents(name: string): string[] {
  return fixture(name)
    .split('\n\n')
    .map((e) =>
      e
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith(':'))
        .join('\n'),
    )
    .filter((e) => e !== '')
    .map((e) => e + '\n\n');
}

export const FIX = {
  chatStream: 'ollama-chat-stream-real-0.34.1.ndjson',
  chatNonstream: 'ollama-chat-nonstream-docs.json',
  generateStream: 'ollama-generate-stream-docs.ndjson',
  generateFinal: 'ollama-generate-final-chunk-docs.json',
  generateNonstream: 'ollama-generate-nonstream-docs.json',
  midstreamError: 'ollama-error-midstream-docs.ndjson',
  queueFull: 'ollama-error-queue-full.json',
  embed: 'ollama-embed-docs.json',
  tags: 'ollama-tags-docs.json',
  ps: 'ollama-ps-real-gemma3.json',
  version: 'ollama-version-docs.json',
  openaiChat: 'ollama-openai-chat-completion-real.json',
  openaiStreamCached: 'ollama-openai-chat-stream-usage-v0.33plus-cached.sse',
  openaiStreamGptOss: 'ollama-openai-chat-stream-usage-pre0.32.6-gptoss.sse',
  openaiModels: 'ollama-openai-models-real.json',
  openaiCompletionsStreamUsage: 'ollama-openai-completions-stream-usage-real-0.17.4.sse',
  openaiResponsesStream: 'ollama-openai-responses-stream-real-0.17.4.sse',
} as const;

export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export interface FakeUpstreamOptions {
  /** Multiplies the capture's own gaps between lines (1 = real time). */
  pace?: number;
  /** Gap between SSE events, whose captures carry only whole-second timestamps. */
  sseGapMs?: number;
}

const NDJSON = { 'content-type': 'application/x-ndjson' };
const JSON_CT = { 'content-type': 'application/json; charset=utf-8' };
const SSE = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' };

export class FakeUpstream {
  readonly seen: SeenRequest[] = [];
  /** Streams whose client went away before the end. */
  aborted = 0;
  /** Requests currently being answered. */
  active = 0;
  private readonly server: Server;
  private readonly pace: number;
  private readonly sseGapMs: number;

  constructor(o: FakeUpstreamOptions = {}) {
    this.pace = o.pace ?? 0.1;
    this.sseGapMs = o.sseGapMs ?? 5;
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        this.seen.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
        this.active++;
        res.once('close', () => this.active--);
        this.answer(req, res, body);
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  last(pathname: string): SeenRequest | undefined {
    return this.seen.filter((s) => s.path.split('?')[0] === pathname).at(-1);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private answer(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const p = (req.url ?? '/').split('?')[0]!;
    let json: Record<string, unknown> = {};
    try {
      if (body.length) json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return this.json(res, 400, JSON.stringify({ error: 'invalid character in request body' }));
    }
    const model = typeof json.model === 'string' ? json.model : '';
    // Native endpoints stream unless told not to; OpenAI ones only when asked.
    const nativeStream = json.stream !== false;
    const oai = p.startsWith('/v1/');
    if (model === 'busy') {
      // server/routes.go handleScheduleError → 503; the /v1 middleware re-wraps it (see the .source).
      const msg = JSON.parse(fixture(FIX.queueFull)) as { error: string };
      return this.json(
        res,
        503,
        oai ? JSON.stringify({ error: { message: msg.error, type: 'api_error', param: null, code: null } }) : fixture(FIX.queueFull).trim(),
      );
    }
    if (model === 'slow') return this.slow(res);
    // A server that never answers, and one whose connection dies mid-stream.
    if (model === 'hang') return;
    if (model === 'cut') {
      res.writeHead(200, NDJSON);
      res.write(lines(FIX.generateStream)[0]! + '\n');
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    switch (`${req.method} ${p}`) {
      case 'POST /api/chat':
        if (!nativeStream) return this.json(res, 200, compact(FIX.chatNonstream));
        return this.ndjson(res, lines(FIX.chatStream));
      case 'POST /api/generate':
        if (model === 'midstream-error') return this.ndjson(res, lines(FIX.midstreamError));
        if (!nativeStream) return this.json(res, 200, compact(FIX.generateNonstream));
        if (model === 'llama3.2') return this.ndjson(res, [compact(FIX.generateFinal)]);
        return this.ndjson(res, lines(FIX.generateStream));
      case 'POST /api/embed':
        return this.json(res, 200, compact(FIX.embed));
      case 'POST /api/embeddings': {
        // DERIVED: server/routes.go EmbeddingsHandler answers api.EmbeddingResponse{Embedding} only.
        const e = JSON.parse(fixture(FIX.embed)) as { embeddings: number[][] };
        return this.json(res, 200, JSON.stringify({ embedding: e.embeddings[0] }));
      }
      case 'GET /api/tags':
        return this.json(res, 200, compact(FIX.tags));
      case 'GET /api/ps':
        return this.json(res, 200, compact(FIX.ps));
      case 'GET /api/version':
        return this.json(res, 200, compact(FIX.version));
      case 'POST /api/show':
        // DERIVED: the shape of api.ShowResponse (docs/api.md 'Show Model Information'), abridged.
        return this.json(
          res,
          200,
          JSON.stringify({
            modelfile: '# Modelfile',
            parameters: 'num_ctx 4096',
            template: '{{ .Prompt }}',
            details: { format: 'gguf', family: 'llama', parameter_size: '3.2B', quantization_level: 'Q4_K_M' },
            capabilities: ['completion'],
          }),
        );
      case 'POST /api/pull':
        // DERIVED: the progress lines of docs/api.md 'Pull a Model' (without the download lines).
        if (!nativeStream) return this.json(res, 200, JSON.stringify({ status: 'success' }));
        return this.ndjson(res, [
          '{"status":"pulling manifest"}',
          '{"status":"verifying sha256 digest"}',
          '{"status":"writing manifest"}',
          '{"status":"success"}',
        ]);
      case 'GET /v1/models':
        return this.json(res, 200, fixture(FIX.openaiModels).trim());
      case 'POST /v1/chat/completions': {
        if (json.stream !== true) return this.json(res, 200, fixture(FIX.openaiChat).trim());
        const so = json.stream_options as { include_usage?: boolean } | undefined;
        let events = sseEvents(model === 'gpt-oss:20b' ? FIX.openaiStreamGptOss : FIX.openaiStreamCached);
        // Ollama (openai/openai.go) sends the usage chunk only when include_usage is true.
        if (so?.include_usage !== true) events = events.filter((e) => !e.includes('"choices":[]'));
        return this.sse(res, events);
      }
      case 'POST /v1/completions':
        // DERIVED: openai/openai.go toCompletion (object text_completion, usage from the counts).
        return this.json(
          res,
          200,
          JSON.stringify({
            id: 'cmpl-12',
            object: 'text_completion',
            created: 1774852592,
            model,
            system_fingerprint: 'fp_ollama',
            choices: [{ text: 'Hello!', index: 0, finish_reason: 'stop' }],
            usage: { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 },
          }),
        );
      case 'POST /v1/embeddings': {
        // DERIVED: openai/openai.go toEmbeddingList (usage.prompt_tokens from prompt_eval_count).
        const e = JSON.parse(fixture(FIX.embed)) as { embeddings: number[][]; prompt_eval_count: number };
        return this.json(
          res,
          200,
          JSON.stringify({
            object: 'list',
            data: [{ object: 'embedding', embedding: e.embeddings[0], index: 0 }],
            model,
            usage: { prompt_tokens: e.prompt_eval_count, total_tokens: e.prompt_eval_count },
          }),
        );
      }
      default:
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('404 page not found');
    }
  }

  private json(res: ServerResponse, status: number, text: string): void {
    res.writeHead(status, { ...JSON_CT, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  /** NDJSON lines, each sent when the capture's `created_at` says it was (scaled by `pace`). */
  private ndjson(res: ServerResponse, ls: string[]): void {
    const times = ls.map((l) => {
      const m = /"created_at":"([^"]+)"/.exec(l);
      return m ? Date.parse(m[1]!) : NaN;
    });
    res.writeHead(200, NDJSON);
    let i = 0;
    const next = () => {
      if (res.destroyed) return this.aborted++;
      res.write(ls[i]! + '\n');
      i++;
      if (i >= ls.length) return res.end();
      const gap = times[i]! - times[i - 1]!;
      setTimeout(next, Number.isFinite(gap) ? Math.max(0, gap * this.pace) : 1);
    };
    next();
  }

  private sse(res: ServerResponse, events: string[]): void {
    res.writeHead(200, SSE);
    let i = 0;
    const next = () => {
      if (res.destroyed) return this.aborted++;
      res.write(events[i]!);
      i++;
      if (i >= events.length) return res.end();
      setTimeout(next, this.sseGapMs);
    };
    next();
  }

  /** A long generation (the first lines of the generate capture, repeated) for abort tests. */
  private slow(res: ServerResponse): void {
    const line = lines(FIX.generateStream)[0]!.replace('"gemma4"', '"slow"');
    res.writeHead(200, NDJSON);
    let n = 0;
    const tick = () => {
      if (res.destroyed) return;
      res.write(line + '\n');
      if (++n >= 500) return res.end();
      setTimeout(tick, 10);
    };
    res.on('close', () => {
      if (n < 500 && !res.writableEnded) this.aborted++;
    });
    tick();
  }
}
