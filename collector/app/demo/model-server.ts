// A SIMULATED model server over real HTTP. It speaks Ollama's native API (/api/chat, /api/generate,
// /api/ps, /api/tags, /api/version) and the OpenAI-compatible API (/v1/chat/completions, /v1/models)
// in the wire format the real servers use (NDJSON lines with Ollama's final-chunk durations; SSE
// chunks with the usage chunk when stream_options.include_usage is set), with realistic timing: a cold
// start when a model is not resident, prompt processing at a prefill rate, tokens at a decode cadence
// that slows under concurrency, a fixed number of parallel slots with a bounded queue (503 "server
// busy" when full, as Ollama answers), and occasional errors before or in the middle of a stream.
// A vLLM-like server also serves a vLLM /metrics page (vllm-page.ts) that follows its requests.
// Nothing here is a real model: every answer is generated text from a seeded generator.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { errorMessage } from '../../core/errors.ts';
import { simModelDigest, type SimModel } from './catalog.ts';
import { tokensOf, tokensOfMessages } from './habits.ts';
import type { Prng } from './prng.ts';
import { planRequest, serverLoad, SIM_ERRORS, tokenGapMs } from './serving.ts';
import { SimVllmMetrics, type SimVllmRequest } from './vllm-page.ts';

export interface SimServerOptions {
  name: string;
  node: string;
  models: readonly SimModel[];
  /** Requests processed at once (OLLAMA_NUM_PARALLEL). */
  parallel: number;
  /** Requests waiting beyond that before 503 (OLLAMA_MAX_QUEUE). */
  maxQueue: number;
  /** Share of requests that fail with a 500 before any token. */
  errorRate: number;
  /** Share of streams that break with an error line mid-stream. */
  midstreamErrorRate: number;
  /** How long an idle model stays resident (Ollama keep_alive). */
  keepAliveMs: number;
  prng: Prng;
  /** Multiplies every delay (1 = real time; tests may go faster). */
  timeScale?: number;
  /** Serve a vLLM /metrics page, with a KV cache of this many tokens. */
  vllmMetrics?: { kvCacheTokens: number };
}

const WORDS = [
  'the',
  'model',
  'GPU',
  'cost',
  'tenant',
  'token',
  'latency',
  'cluster',
  'spot',
  'price',
  'request',
  'answer',
  'is',
  'a',
  'of',
  'and',
  'to',
  'in',
  'for',
  'with',
  'budget',
  'queue',
  'cache',
  'report',
  'node',
  'fleet',
  'metric',
  'shows',
  'that',
  'we',
  'can',
  'scale',
];

interface Resident {
  model: SimModel;
  expiresAt: number;
  active: number;
}

/** Activity of one server, integrated over time (the simulated GPU reads it). */
export interface Activity {
  /** Requests computing now. */
  active: number;
  /** Requests waiting for a slot. */
  queued: number;
  /** Integral of load (0–1) over time, ms. */
  busyMs: number;
  residentBytes: number;
  /** Cumulative counters, for the demo's own progress line. */
  requests: number;
  errors: number;
  rejected: number;
  tokens: number;
}

export class SimModelServer {
  readonly options: SimServerOptions;
  readonly activity: Activity = { active: 0, queued: 0, busyMs: 0, residentBytes: 0, requests: 0, errors: 0, rejected: 0, tokens: 0 };
  /** The vLLM /metrics page's state (vLLM-like servers only). */
  readonly vllm: SimVllmMetrics | undefined;
  private readonly server: Server;
  private readonly resident = new Map<string, Resident>();
  private readonly waiters: (() => void)[] = [];
  private lastChange = Date.now();
  private seq = 0;
  private closed = false;

  constructor(options: SimServerOptions) {
    this.options = options;
    this.vllm = options.vllmMetrics
      ? new SimVllmMetrics(
          options.models.map((m) => m.name),
          options.vllmMetrics.kvCacheTokens,
        )
      : undefined;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify({ error: errorMessage(err) }));
      });
    });
    this.server.keepAliveTimeout = 60_000;
  }

  async listen(host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, host, resolve));
    const a = this.server.address() as AddressInfo;
    return `http://${host}:${a.port}`;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Current load 0–1 (all slots busy = 1; one request already drives most of the GPU). */
  load(): number {
    return serverLoad(this.activity.active, this.options.parallel);
  }

  /** Brings busyMs up to now. */
  integrate(now = Date.now()): void {
    this.activity.busyMs += this.load() * Math.max(0, now - this.lastChange);
    this.lastChange = now;
    for (const [name, r] of this.resident) if (r.active === 0 && r.expiresAt <= now) this.resident.delete(name);
    this.activity.residentBytes = [...this.resident.values()].reduce((s, r) => s + r.model.sizeVram, 0);
  }

  private setActive(delta: number): void {
    this.integrate();
    this.activity.active += delta;
  }

  private delay(ms: number): Promise<void> {
    const t = ms * (this.options.timeScale ?? 1);
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, t)).unref());
  }

  private async acquire(): Promise<boolean> {
    if (this.activity.active < this.options.parallel) {
      this.setActive(1);
      return true;
    }
    if (this.activity.queued >= this.options.maxQueue) return false;
    this.activity.queued++;
    await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.activity.queued--;
    this.setActive(1);
    return true;
  }

  private release(): void {
    this.setActive(-1);
    const next = this.waiters.shift();
    if (next) next();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const p = url.pathname;
    if (req.method === 'GET' && (p === '/' || p === '')) return text(res, 200, 'Ollama is running');
    if (req.method === 'GET' && p === '/api/version') return json(res, 200, { version: '0.12.3' });
    if (req.method === 'GET' && p === '/api/tags') return json(res, 200, { models: this.options.models.map((m) => this.tag(m)) });
    if (req.method === 'GET' && p === '/api/ps') return json(res, 200, { models: this.ps() });
    if (req.method === 'GET' && p === '/metrics' && this.vllm) return text(res, 200, this.vllm.page(), 'text/plain; version=0.0.4; charset=utf-8');
    if (req.method === 'GET' && p === '/v1/models')
      return json(res, 200, {
        object: 'list',
        data: this.options.models.map((m) => ({ id: m.name, object: 'model', created: 1757000000, owned_by: 'library' })),
      });
    if (req.method !== 'POST') return json(res, 404, { error: '404 page not found' });
    const body = await readJson(req);
    const model = this.options.models.find((m) => m.name === body.model);
    if (!model) return json(res, 404, { error: `model "${String(body.model)}" not found, try pulling it first` });
    if (p === '/api/chat' || p === '/api/generate') return this.ollama(p === '/api/chat', model, body, res);
    if (p === '/v1/chat/completions') return this.openai(model, body, res);
    return json(res, 404, { error: '404 page not found' });
  }

  private tag(m: SimModel) {
    return {
      name: m.name,
      model: m.name,
      modified_at: '2026-09-01T10:00:00Z',
      size: m.sizeVram,
      digest: simModelDigest(m.name),
      details: { parent_model: '', format: 'gguf', family: m.family, families: [m.family], parameter_size: m.parameterSize, quantization_level: 'Q4_K_M' },
    };
  }

  private ps() {
    this.integrate();
    return [...this.resident.values()].map((r) => ({
      ...this.tag(r.model),
      expires_at: new Date(r.expiresAt).toISOString(),
      size_vram: r.model.sizeVram,
      context_length: 4096,
    }));
  }

  /** Plans one request: whether it fails, how long each phase takes, what it says. */
  private plan(model: SimModel, promptTokens: number, maxTokens: number) {
    const rng = this.options.prng;
    const now = Date.now();
    const r = this.resident.get(model.name);
    const cold = !r || (r.active === 0 && r.expiresAt <= now);
    const p = planRequest(rng, model, this.options, promptTokens, maxTokens, this.activity.active, cold);
    const words = Array.from({ length: p.outTokens }, (_, i) => (i === 0 ? '' : ' ') + rng.pick(WORDS));
    return { ...p, cold, perToken: p.perTokenMs, words, rng };
  }

  private holdModel(model: SimModel): Resident {
    let r = this.resident.get(model.name);
    if (!r) {
      r = { model, expiresAt: 0, active: 0 };
      this.resident.set(model.name, r);
    }
    r.active++;
    this.integrate();
    return r;
  }

  private letGo(r: Resident): void {
    r.active--;
    r.expiresAt = Date.now() + this.options.keepAliveMs;
  }

  /** Takes a slot for a request, or refuses it (503) when the queue is full. */
  private async admit(model: SimModel, res: ServerResponse, body: (e: string) => unknown): Promise<SimVllmRequest | false | undefined> {
    this.activity.requests++;
    const vr = this.vllm?.arrive(model.name, performance.now());
    if (!(await this.acquire())) {
      this.activity.rejected++;
      vr?.reject();
      text(res, 503, JSON.stringify(body(SIM_ERRORS.queueFull)), 'application/json; charset=utf-8');
      return false;
    }
    vr?.start(performance.now());
    return vr;
  }

  private generated(vr: SimVllmRequest | undefined, promptTokens: number): void {
    this.activity.tokens++;
    vr?.token(performance.now(), promptTokens);
  }

  private async ollama(chat: boolean, model: SimModel, body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const stream = body.stream !== false;
    const options = (body.options ?? {}) as Record<string, unknown>;
    const promptTokens = chat ? tokensOfMessages(body.messages) : tokensOf(String(body.prompt ?? ''));
    const maxTokens = typeof options.num_predict === 'number' && options.num_predict > 0 ? options.num_predict : 256;
    const vr = await this.admit(model, res, (error) => ({ error }));
    if (vr === false) return;
    const pl = this.plan(model, promptTokens, maxTokens);
    const held = this.holdModel(model);
    const started = process.hrtime.bigint();
    const reason = pl.outTokens >= maxTokens ? 'length' : 'stop';
    try {
      await this.delay(pl.loadMs);
      if (pl.fail) {
        this.activity.errors++;
        return json(res, 500, { error: SIM_ERRORS.runnerDied });
      }
      await this.delay(pl.prefillMs);
      const line = (content: string, done: boolean, extra: Record<string, unknown> = {}) => {
        const base = { model: model.name, created_at: new Date().toISOString() };
        return (
          JSON.stringify(chat ? { ...base, message: { role: 'assistant', content }, done, ...extra } : { ...base, response: content, done, ...extra }) + '\n'
        );
      };
      const evalStart = process.hrtime.bigint();
      const final = () => {
        const end = process.hrtime.bigint();
        const loadNs = Math.round(pl.loadMs * 1e6 * (this.options.timeScale ?? 1));
        return {
          done_reason: reason,
          total_duration: Number(end - started),
          load_duration: loadNs,
          prompt_eval_count: promptTokens,
          prompt_eval_duration: Math.max(1, Number(evalStart - started) - loadNs),
          eval_count: pl.outTokens,
          eval_duration: Number(end - evalStart),
        };
      };
      if (!stream) {
        for (let i = 0; i < pl.outTokens; i++) {
          await this.delay(tokenGapMs(pl.rng, pl.perToken));
          this.generated(vr, promptTokens);
        }
        const content = pl.words.join('');
        const f = final();
        vr?.finish(performance.now(), reason);
        return text(
          res,
          200,
          chat
            ? JSON.stringify({ model: model.name, created_at: new Date().toISOString(), message: { role: 'assistant', content }, done: true, ...f })
            : JSON.stringify({ model: model.name, created_at: new Date().toISOString(), response: content, done: true, ...f, context: [1, 2, 3] }),
          'application/json; charset=utf-8',
        );
      }
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      for (let i = 0; i < pl.outTokens; i++) {
        if (i === pl.breakAt) {
          this.activity.errors++;
          res.end(JSON.stringify({ error: SIM_ERRORS.midstream }) + '\n');
          return;
        }
        if (res.destroyed || this.closed) return;
        res.write(line(pl.words[i]!, false));
        this.generated(vr, promptTokens);
        await this.delay(tokenGapMs(pl.rng, pl.perToken));
      }
      vr?.finish(performance.now(), reason);
      res.end(line('', true, final()));
    } finally {
      vr?.finish(performance.now(), 'abort');
      this.letGo(held);
      this.release();
    }
  }

  private async openai(model: SimModel, body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const stream = body.stream === true;
    const includeUsage = ((body.stream_options ?? {}) as Record<string, unknown>).include_usage === true;
    const promptTokens = tokensOfMessages(body.messages);
    const maxTokens =
      typeof body.max_tokens === 'number' && body.max_tokens > 0
        ? body.max_tokens
        : typeof body.max_completion_tokens === 'number'
          ? body.max_completion_tokens
          : 256;
    const vr = await this.admit(model, res, (message) => ({ error: { message, type: 'server_error', param: null, code: 503 } }));
    if (vr === false) return;
    const pl = this.plan(model, promptTokens, maxTokens);
    const held = this.holdModel(model);
    const id = `chatcmpl-${++this.seq}`;
    const created = Math.floor(Date.now() / 1000);
    const usage = { prompt_tokens: promptTokens, completion_tokens: pl.outTokens, total_tokens: promptTokens + pl.outTokens };
    const finish = pl.outTokens >= maxTokens ? 'length' : 'stop';
    try {
      await this.delay(pl.loadMs);
      if (pl.fail) {
        this.activity.errors++;
        return json(res, 500, { error: { message: SIM_ERRORS.runnerDied, type: 'api_error', param: null, code: null } });
      }
      await this.delay(pl.prefillMs);
      if (!stream) {
        for (let i = 0; i < pl.outTokens; i++) {
          await this.delay(tokenGapMs(pl.rng, pl.perToken));
          this.generated(vr, promptTokens);
        }
        vr?.finish(performance.now(), finish);
        return json(res, 200, {
          id,
          object: 'chat.completion',
          created,
          model: model.name,
          system_fingerprint: 'fp_ollama',
          choices: [{ index: 0, message: { role: 'assistant', content: pl.words.join('') }, finish_reason: finish }],
          usage,
        });
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: model.name, system_fingerprint: 'fp_ollama', choices, ...extra })}\n\n`;
      for (let i = 0; i < pl.outTokens; i++) {
        if (i === pl.breakAt) {
          this.activity.errors++;
          res.end(`data: ${JSON.stringify({ error: { message: SIM_ERRORS.midstream, type: 'api_error', param: null, code: null } })}\n\n`);
          return;
        }
        if (res.destroyed || this.closed) return;
        res.write(chunk([{ index: 0, delta: i === 0 ? { role: 'assistant', content: pl.words[i] } : { content: pl.words[i] }, finish_reason: null }]));
        this.generated(vr, promptTokens);
        await this.delay(tokenGapMs(pl.rng, pl.perToken));
      }
      vr?.finish(performance.now(), finish);
      res.write(chunk([{ index: 0, delta: {}, finish_reason: finish }]));
      if (includeUsage) res.write(chunk([], { usage }));
      res.end('data: [DONE]\n\n');
    } finally {
      vr?.finish(performance.now(), 'abort');
      this.letGo(held);
      this.release();
    }
  }
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  try {
    const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    // The simulated server answers a body that is not JSON as one without options.
    return {};
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  text(res, status, JSON.stringify(body), 'application/json; charset=utf-8');
}

function text(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
