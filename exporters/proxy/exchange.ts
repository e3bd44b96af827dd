// One request through the proxy, from arrival to its llm_request record. It is also the undici
// dispatch handler for the upstream response: chunks are written to the client as they arrive
// (with backpressure both ways), the last ones are kept by reference for the final-frame parse.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { LlmeterError } from '../../collector/core/errors.ts';
import type { LlmRequestRecord } from '../../collector/core/schema/tables.ts';
import { sendError, type ApiStyle } from './errors.ts';
import { countByte, emptyUsage, StreamTail, usageFromBody, usageFromNdjson, usageFromSse, UsageChunkStripper, type Usage } from './frames.ts';
import { apiOf, endpointLabel } from './request.ts';
import { redactSecrets } from './redact.ts';
import type { Cell } from './state.ts';
import type { Upstream } from './upstreams.ts';

type Controller = Dispatcher.DispatchController;
type BodyKind = 'ndjson' | 'sse' | 'body';

/** Largest non-streamed body parsed whole; bigger ones are scanned from their end. */
const PARSE_LIMIT = 4 * 1024 * 1024;
/** Error bodies kept for the message. */
const ERROR_BODY_LIMIT = 64 * 1024;

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

export type ErrorKind =
  | ''
  | 'upstream_status'
  | 'stream_error'
  | 'queue_full'
  | 'client_abort'
  | 'upstream_down'
  | 'timeout'
  | 'rate_limited'
  | 'auth'
  | 'too_large'
  | 'no_route'
  | 'budget_exhausted';

/** What the exchange reports when it is over; the server turns it into a record and metrics. */
export interface ExchangeResult {
  record: LlmRequestRecord;
  usage: Usage;
  upstream: Upstream | undefined;
  stripped: number;
}

export interface ExchangeInit {
  req: IncomingMessage;
  res: ServerResponse;
  pathname: string;
  style: ApiStyle;
  requestId: string;
  arrivedAt: number;
  t0: number;
  onDone: (o: ExchangeResult, ex: Exchange) => void;
}

/** A node name as Kubernetes and hosts spell them; anything else in the node header is ignored. */
const NODE_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/;

/** The error text as stored: keys the upstream may have echoed replaced, at most 1024 characters. */
function storedError(error: string, upstream: Upstream | undefined, req: IncomingMessage): string {
  if (!error) return error;
  const sent = req.headers.authorization;
  const clean = redactSecrets(error, [
    upstream?.authorization?.replace(/^Bearer\s+/i, ''),
    typeof sent === 'string' ? sent.replace(/^Bearer\s+/i, '') : undefined,
    headerText(req.headers['x-api-key']),
  ]);
  return clean.length > 1024 ? clean.slice(0, 1024) : clean;
}

function headerText(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

export class Exchange implements Dispatcher.DispatchHandler {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly pathname: string;
  readonly style: ApiStyle;
  readonly requestId: string;
  readonly arrivedAt: number;
  readonly t0: number;
  private readonly onDone: (o: ExchangeResult, ex: Exchange) => void;

  /** Empty until the request is authenticated: an unauthenticated request is charged to nobody. */
  tenant = '';
  model = '';
  upstream: Upstream | undefined;
  /** Releases the tenant's admission (limits.ts); run once at the end. */
  releaseTenant: (() => void) | undefined;
  /** The upstream whose concurrency slot this request holds, released at the end. */
  slotOf: Upstream | undefined;
  /** The load cell counted as in flight for this request, decremented at the end. */
  inflight: Cell | undefined;
  /** Decrements `inflight`; set together with it. */
  inflightDone: ((c: Cell) => void) | undefined;
  /** Made on first use: most requests never wait on anything a client abort must cancel. */
  private abortController: AbortController | undefined;

  queueMs = 0;
  overheadMs = 0;
  private controller: Controller | undefined;
  private status = 0;
  /** The node that answered, when the upstream's node header named one. */
  private servedBy: string | undefined;
  private kind: BodyKind = 'body';
  private ttfbMs: number | null = null;
  private ttftMs: number | null = null;
  private tail: StreamTail | undefined;
  private whole: Buffer[] | undefined;
  private wholeBytes = 0;
  private wholeComplete = true;
  private stripper: UsageChunkStripper | undefined;
  private stripUsage = false;
  private frames = 0;
  private finished = false;
  private clientGone = false;
  private waitingDrain = false;
  /** The upstream's content-length, -1 when it sent none. */
  private expectBytes = -1;
  /** A whole body's last chunk, held for the moment the response ends (it goes out with the end). */
  private last: Buffer | undefined;

  constructor(init: ExchangeInit) {
    this.req = init.req;
    this.res = init.res;
    this.pathname = init.pathname;
    this.style = init.style;
    this.requestId = init.requestId;
    this.arrivedAt = init.arrivedAt;
    this.t0 = init.t0;
    this.onDone = init.onDone;
    this.res.once('close', this.onClose.bind(this));
  }

  private onClose(): void {
    if (this.finished) return;
    this.clientGone = true;
    this.abortController?.abort();
    if (this.controller && !this.controller.aborted) this.controller.abort(new ClientGoneError());
  }

  /** Aborted when the client goes away before the response is complete. */
  get signal(): AbortSignal {
    if (!this.abortController) {
      this.abortController = new AbortController();
      if (this.clientGone) this.abortController.abort();
    }
    return this.abortController.signal;
  }

  get done(): boolean {
    return this.finished;
  }

  get clientAborted(): boolean {
    return this.clientGone;
  }

  /** Hide the usage chunk the proxy asked for from this client. */
  setStripUsage(): void {
    this.stripUsage = true;
  }

  // --- undici handler ---------------------------------------------------------------------------

  onRequestStart(controller: Controller): void {
    this.controller = controller;
    if (this.clientGone) controller.abort(new ClientGoneError());
  }

  onResponseStart(controller: Controller, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    if (statusCode < 200) return;
    const t = performance.now();
    this.status = statusCode;
    const ct = headers['content-type'];
    const type = typeof ct === 'string' ? ct : '';
    this.kind = type.includes('ndjson') ? 'ndjson' : type.includes('event-stream') ? 'sse' : 'body';
    const strip = this.kind === 'sse' && this.stripUsage && statusCode < 300;
    if (strip) this.stripper = new UsageChunkStripper();
    // A flat [name, value, …] list goes to the socket as it is: no per-header setHeader pass.
    const out: string[] = ['x-llmeter-request-id', this.requestId];
    const nodeHeader = this.upstream?.nodeHeader;
    for (const k in headers) {
      const v = headers[k];
      if (v === undefined || HOP_BY_HOP.has(k)) continue;
      if (k === nodeHeader) {
        // Which node of the pool answered: the record's, not the client's business.
        if (typeof v === 'string' && NODE_NAME.test(v)) this.servedBy = v;
        continue;
      }
      if (k === 'content-length') {
        if (strip) continue;
        this.expectBytes = Number(v);
      }
      if (typeof v === 'string') out.push(k, v);
      else for (const one of v) out.push(k, one);
    }
    if (this.kind === 'body') this.whole = [];
    else this.tail = new StreamTail();
    this.res.writeHead(statusCode, statusMessage, out);
    // A stream's headers go out now, as the upstream sent them; a whole body's go with the body.
    if (this.kind !== 'body') this.res.flushHeaders();
    this.ttfbMs = t - this.t0;
    this.overheadMs += performance.now() - t;
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    const t = performance.now();
    if (this.kind === 'body') {
      const limit = this.status < 300 ? PARSE_LIMIT : ERROR_BODY_LIMIT;
      if (this.wholeBytes + chunk.length <= limit) {
        this.whole!.push(chunk);
      } else {
        // Too big to parse whole: keep only the end, where the counts are.
        this.wholeComplete = false;
        this.tail ??= new StreamTail();
        for (const c of this.whole!) this.tail.push(c);
        this.whole!.length = 0;
        this.tail.push(chunk);
      }
      this.wholeBytes += chunk.length;
    } else {
      if (this.ttftMs === null) this.ttftMs = t - this.t0;
      this.tail!.push(chunk);
      this.frames += this.kind === 'ndjson' ? countByte(chunk) : 1;
    }
    if (this.kind === 'body' && this.wholeBytes === this.expectBytes) {
      // The chunk completes the declared length, so the end follows at once: send both together.
      this.last = chunk;
      this.overheadMs += performance.now() - t;
      return;
    }
    const out = this.stripper ? this.stripper.push(chunk) : chunk;
    if (out.length > 0 && !this.res.write(out) && !this.waitingDrain) {
      this.waitingDrain = true;
      controller.pause();
      this.res.once('drain', () => {
        this.waitingDrain = false;
        controller.resume();
      });
    }
    this.overheadMs += performance.now() - t;
  }

  onResponseEnd(): void {
    const t = performance.now();
    if (this.stripper) {
      const rest = this.stripper.flush();
      if (rest.length > 0) this.res.write(rest);
    }
    if (this.last) this.res.end(this.last);
    else this.res.end();
    const usage = this.readUsage();
    let kind: ErrorKind = '';
    if (this.status >= 400) kind = isQueueFull(this.status, usage.error) ? 'queue_full' : 'upstream_status';
    else if (usage.error) kind = 'stream_error';
    this.overheadMs += performance.now() - t;
    this.finish(this.status, kind, usage.error || (this.status >= 400 ? `upstream answered ${this.status}` : ''), usage);
  }

  onResponseError(_controller: Controller, err: Error): void {
    if (this.finished) return;
    if (this.clientGone || err instanceof ClientGoneError) {
      const usage = this.readUsage();
      if (!usage.found && this.kind !== 'body') usage.outputTokens = this.frames;
      this.finish(
        this.status,
        'client_abort',
        this.status ? 'client closed the connection before the response was complete' : 'client closed the connection before the response started',
        usage,
      );
      return;
    }
    const code = (err as { code?: string }).code ?? '';
    const timeout = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
    const where = this.upstream ? `${this.upstream.name} (${this.upstream.origin})` : 'upstream';
    if (this.res.headersSent) {
      // The upstream failed mid-response: the client sees the stream cut, as it would directly.
      this.res.destroy();
      const usage = this.readUsage();
      if (!usage.found && this.kind !== 'body') usage.outputTokens = this.frames;
      this.finish(this.status, timeout ? 'timeout' : 'stream_error', `upstream ${where} failed mid-response: ${err.message}`, usage);
      return;
    }
    const status = timeout ? 504 : 502;
    const msg = timeout ? `upstream ${where} did not answer in time (${err.message})` : `upstream ${where} is unreachable: ${describe(err)}`;
    this.fail(status, timeout ? 'timeout' : 'upstream_down', msg, timeout ? 'upstream_timeout' : 'upstream_unavailable');
  }

  // --- ending -----------------------------------------------------------------------------------

  /** Answers with an error of the proxy's own and records it. */
  fail(status: number, kind: ErrorKind, message: string, code: string | null = null, headers: Record<string, string> = {}): void {
    if (this.finished) return;
    const gone = this.clientGone || status === 0;
    if (!gone) sendError(this.res, this.style, status, message, code, { 'x-llmeter-request-id': this.requestId, ...headers });
    this.finish(gone ? 0 : status, gone ? 'client_abort' : kind, message, emptyUsage());
  }

  private readUsage(): Usage {
    if (this.status === 0) return emptyUsage();
    if (this.kind === 'ndjson') return usageFromNdjson(this.tail!.text());
    if (this.kind === 'sse') return usageFromSse(this.tail!.text());
    if (this.wholeComplete) {
      const buf = this.whole!.length === 1 ? this.whole![0]! : Buffer.concat(this.whole!);
      return usageFromBody(buf.toString('utf8'), true);
    }
    return usageFromBody(this.tail!.text(), false);
  }

  private finish(status: number, kind: ErrorKind, error: string, usage: Usage): void {
    if (this.finished) return;
    this.finished = true;
    this.releaseTenant?.();
    this.slotOf?.gate.release();
    if (this.inflight) this.inflightDone!(this.inflight);
    const now = performance.now();
    const stream = this.kind !== 'body';
    const record: LlmRequestRecord = {
      ts: this.arrivedAt,
      request_id: this.requestId,
      tenant: this.tenant,
      model: this.model,
      endpoint: endpointLabel(this.pathname),
      api: apiOf(this.pathname),
      backend: this.upstream?.name ?? '',
      node: this.servedBy ?? this.upstream?.node ?? '',
      status,
      error: storedError(error, this.upstream, this.req),
      error_kind: kind,
      stream,
      input_tokens: usage.inputTokens,
      output_tokens: usage.outputTokens,
      cached_tokens: usage.cachedTokens,
      ttfb_ms: this.ttfbMs === null ? null : round3(this.ttfbMs),
      ttft_ms: stream && this.ttftMs !== null ? round3(this.ttftMs) : null,
      duration_ms: round3(now - this.t0),
      queue_ms: round3(this.queueMs),
      proxy_overhead_ms: round3(this.overheadMs),
      load_duration_ns: usage.loadNs,
      prompt_eval_duration_ns: usage.promptEvalNs,
      eval_duration_ns: usage.evalNs,
      total_duration_ns: usage.totalNs,
      source: 'proxy',
    };
    this.onDone({ record, usage, upstream: this.upstream, stripped: this.stripper?.stripped ?? 0 }, this);
  }
}

/** Why an upstream request is aborted when its client disconnects. */
export class ClientGoneError extends LlmeterError {
  constructor() {
    super('client went away', 'client_abort');
  }
}

/** Ollama's queue-full answer (server/sched.go ErrMaxQueue), natively or re-wrapped on /v1. */
function isQueueFull(status: number, message: string): boolean {
  return status === 503 && /maximum pending requests exceeded|server busy/i.test(message);
}

function describe(err: Error): string {
  const code = (err as { code?: string }).code;
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return [code ?? cause?.code, err.message || cause?.message].filter(Boolean).join(' ');
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
