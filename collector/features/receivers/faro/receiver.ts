// The Faro receiver: browsers running @grafana/faro-web-sdk post their telemetry here. A request is
// checked in the order that costs least first: the origin (CORS), the app's key, the app's rate,
// then the body (size, JSON, shape); its rows go to the pipeline, and 202 tells the SDK they were
// taken. A payload whose Idempotency-Key the app stored recently (the SDK retrying after a lost
// answer) gets its 202 again and is not stored twice. Preflights are answered for any origin some
// app allows, since a preflight carries no key.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage, LlmeterError } from '../../../core/errors.ts';
import type { Logger } from '../../../core/log.ts';
import { HttpError, sendJson, type HttpServer } from '../../../core/http/server.ts';
import { once, type Component } from '../../../core/lifecycle/component.ts';
import type { RecordSink } from '../../../core/pipeline/pipeline.ts';
import { KeyRing, parseDigest, readKeyFile } from '../../../core/security/keys.ts';
import type { Store } from '../../../core/store/store.ts';
import { inSpan } from '../../telemetry/tracer.ts';
import { header, readDecodedBody } from '../body.ts';
import type { FaroAppConfig, FaroConfig } from '../config.ts';
import type { FaroMetrics } from '../metrics.ts';
import { RateLimiter } from '../rate-limit.ts';
import { parseIdempotencyKey, RecentKeys, type Claim, type StoredResult } from './idempotency.ts';
import { parseFaroPayload, type FaroPayload } from './payload.ts';
import { faroRecords, type FrontendKind } from './records.ts';

export const DEFAULT_FARO_PATH = '/faro/collect';

const KINDS: readonly FrontendKind[] = ['log', 'exception', 'measurement', 'event', 'trace'];

/**
 * Request headers the current SDK sends (FetchTransport.prepareRequest in @grafana/faro-web-sdk 2.x:
 * Content-Type, Content-Encoding with requestCompression, x-api-key, x-faro-session-id,
 * Idempotency-Key), plus the W3C trace headers a traced page may add.
 */
export const ALLOWED_HEADERS = ['content-type', 'content-encoding', 'x-api-key', 'x-faro-session-id', 'idempotency-key', 'traceparent', 'tracestate'];
/** Response headers the SDK reads: Retry-After on 429/503, X-Faro-Session-Status on 202. */
const EXPOSED_HEADERS = ['retry-after', 'x-faro-session-status'].join(', ');

interface App {
  name: string;
  tenant: string;
  origins: Origins;
  limiter: RateLimiter;
  /** Keys of payloads stored recently; absent when idempotency is off. */
  recent: RecentKeys | undefined;
}

class Origins {
  private readonly any: boolean;
  private readonly set: Set<string>;
  constructor(list: readonly string[]) {
    this.any = list.includes('*');
    this.set = new Set(list.map((o) => o.toLowerCase()));
  }
  allows(origin: string): boolean {
    return this.any || this.set.has(origin.toLowerCase());
  }
}

export interface FaroReceiverOptions {
  config: FaroConfig;
  sink: RecordSink;
  metrics: FaroMetrics;
  log: Logger;
  /** Where the keys stored before a restart are read back from at start. */
  store?: Store;
  now?: () => number;
}

export class FaroReceiver implements Component {
  readonly name = 'faro-receiver';
  private readonly cfg: FaroConfig;
  private readonly sink: RecordSink;
  private readonly metrics: FaroMetrics;
  private readonly log: Logger;
  private readonly keys = new KeyRing<App>();
  private readonly keyless = new Map<string, App>();
  private readonly apps: App[] = [];
  private readonly anyOrigin: Origins;
  private readonly store: Store | undefined;
  private readonly now: (() => number) | undefined;
  private closed = false;

  constructor(o: FaroReceiverOptions) {
    this.cfg = o.config;
    this.sink = o.sink;
    this.metrics = o.metrics;
    this.log = o.log;
    this.store = o.store;
    this.now = o.now;
    const union = [...o.config.allowed_origins];
    for (const a of o.config.apps) {
      union.push(...(a.allowed_origins ?? []));
      this.addApp(a);
    }
    this.anyOrigin = new Origins(union);
  }

  private addApp(a: FaroAppConfig): void {
    const rate = a.rate_limit ?? this.cfg.rate_limit;
    const app: App = {
      name: a.name,
      tenant: a.tenant,
      origins: new Origins(a.allowed_origins ?? this.cfg.allowed_origins),
      limiter: new RateLimiter(rate.payloads_per_second, rate.burst, this.now),
      recent: this.cfg.idempotency.max_keys > 0 ? new RecentKeys(this.cfg.idempotency.max_keys, this.cfg.idempotency.ttl_s * 1000, this.now) : undefined,
    };
    this.apps.push(app);
    for (const spec of a.api_keys) this.keys.add(parseDigest(spec), app);
    if (a.api_key_file) this.keys.addKey(readKeyFile(a.api_key_file), app);
    if (a.api_keys.length === 0 && !a.api_key_file) this.keyless.set(a.name, app);
  }

  /** Serves the default path and the configured one. */
  mount(http: HttpServer): void {
    for (const path of new Set([DEFAULT_FARO_PATH, this.cfg.path])) {
      http.route('POST', path, (req, res) => this.handle(req, res), { exposure: 'cors' });
      http.route('OPTIONS', path, (req, res) => this.preflight(req, res), { exposure: 'cors' });
    }
  }

  private preflight(req: IncomingMessage, res: ServerResponse): void {
    const origin = header(req, 'origin');
    if (!origin || !this.anyOrigin.allows(origin)) {
      this.metrics.requests.inc({ app: '', outcome: 'forbidden_origin' });
      res.writeHead(403, { vary: 'Origin', 'content-length': 0 });
      res.end();
      return;
    }
    this.metrics.requests.inc({ app: '', outcome: 'preflight' });
    res.writeHead(204, {
      ...corsHeaders(origin),
      'access-control-allow-methods': 'POST, OPTIONS',
      'access-control-allow-headers': ALLOWED_HEADERS.join(', '),
      'access-control-max-age': String(this.cfg.cors_max_age_s),
      'content-length': 0,
    });
    res.end();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const origin = header(req, 'origin');
    const cors = origin && this.anyOrigin.allows(origin) ? corsHeaders(origin) : { vary: 'Origin' };
    let app = '';
    let outcome = 'accepted';
    try {
      if (this.closed) throw new FaroRefusal('unavailable', new HttpError(503, 'shutting down', { 'retry-after': '5' }));
      if (origin && !this.anyOrigin.allows(origin)) throw new FaroRefusal('forbidden_origin', new HttpError(403, `origin ${origin} is not allowed`));
      const key = header(req, 'x-api-key');
      let known = key ? this.keys.lookup(key) : undefined;
      if (key && !known) throw new FaroRefusal('unauthorized', new HttpError(401, 'unknown API key'));
      const idem = parseIdempotencyKey(header(req, 'idempotency-key'));
      if (idem && 'error' in idem) throw new FaroRefusal('malformed', new HttpError(400, idem.error));
      let body: { payload: FaroPayload; bytes: number } | undefined;
      if (!known) {
        // Without a key the app is named by the payload, so the body is read first.
        body = await this.readPayload(req);
        const meta = body.payload.meta;
        const name = typeof meta?.app?.name === 'string' ? meta.app.name : '';
        known = this.keyless.get(name);
        if (!known) throw new FaroRefusal('unauthorized', new HttpError(401, 'an x-api-key header is required'));
      }
      app = known.name;
      this.admit(known, origin);
      let claim = idem && known.recent ? known.recent.claim(idem.key) : undefined;
      if (claim?.kind === 'wait') claim = await claimAfterWait(known.recent!, idem!.key, claim.settled);
      if (claim?.kind === 'replay') {
        outcome = 'duplicate';
        // Answered from memory: the body is not wanted, but the connection must stay usable.
        if (!req.readableEnded) req.resume();
        sendJson(res, 202, { status: 'accepted', ...claim.result, duplicate: true }, cors);
        return;
      }
      let result: StoredResult | undefined;
      try {
        body ??= await this.readPayload(req);
        result = await this.ingest(body.payload, known, idem?.key ?? '');
      } finally {
        claim?.settle(result);
      }
      this.metrics.bytes.inc({ app }, body.bytes);
      sendJson(res, 202, { status: 'accepted', ...result }, cors);
    } catch (err) {
      const o = err instanceof FaroRefusal ? err : undefined;
      const httpErr = o?.error ?? (err instanceof HttpError ? err : undefined);
      outcome = o?.outcome ?? (httpErr?.status === 413 ? 'too_large' : httpErr ? 'malformed' : 'error');
      if (!httpErr) {
        this.log.error('faro request failed', { app, error: errorMessage(err) });
        throw err;
      }
      // The body of a refused request is not wanted; drain it so the connection can be reused.
      if (!req.readableEnded) req.resume();
      if (!res.headersSent) sendJson(res, httpErr.status, { error: httpErr.message }, { ...cors, ...httpErr.headers });
    } finally {
      this.metrics.requests.inc({ app, outcome });
      this.metrics.duration.observe({ outcome }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  /** The app's own origin list and its rate. */
  private admit(app: App, origin: string | undefined): void {
    if (origin && !app.origins.allows(origin))
      throw new FaroRefusal('forbidden_origin', new HttpError(403, `origin ${origin} is not allowed for app ${app.name}`));
    const d = app.limiter.take(app.name);
    if (!d.allowed)
      throw new FaroRefusal('rate_limited', new HttpError(429, `rate limit of app ${app.name} exceeded`, { 'retry-after': String(d.retryAfterS) }));
  }

  private async readPayload(req: IncomingMessage): Promise<{ payload: FaroPayload; bytes: number }> {
    const body = await readDecodedBody(req, this.cfg.max_body_bytes);
    try {
      return { payload: parseFaroPayload(body), bytes: body.length };
    } catch (err) {
      throw new HttpError(400, errorMessage(err));
    }
  }

  private async ingest(payload: FaroPayload, app: App, idempotencyKey: string): Promise<StoredResult> {
    let mapped;
    try {
      mapped = faroRecords(payload, app.name, app.tenant, Date.now(), idempotencyKey);
    } catch (err) {
      throw new HttpError(400, errorMessage(err));
    }
    if (mapped.records.length > this.cfg.max_items) throw new HttpError(413, `payload has ${mapped.records.length} items; the limit is ${this.cfg.max_items}`);
    const r = await inSpan('llmeter.faro.ingest', { 'llmeter.app': app.name, 'llmeter.records': mapped.records.length }, () =>
      this.sink.submit('frontend_event', mapped.records, { source: 'faro' }, { onFull: 'drop' }),
    );
    for (const kind of KINDS) {
      const n = mapped.kinds[kind];
      if (n > 0) this.metrics.rows.inc({ app: app.name, kind }, n);
    }
    if (r.rejected + r.dropped > 0) this.metrics.rejected.inc({ app: app.name }, r.rejected + r.dropped);
    if (r.dropped > 0) throw new HttpError(503, 'the collector is saturated; retry later', { 'retry-after': '2' });
    return { accepted: r.accepted, rejected: r.rejected };
  }

  async start(): Promise<void> {
    if (this.store) await this.rememberStoredKeys(this.store);
  }

  /**
   * A collector that restarts between storing a payload and the SDK's retry of it would otherwise
   * store it twice: the keys of the rows stored within the last ttl are read back into memory. Rows
   * are found by their own time, so a browser whose clock is off by more than the ttl is missed;
   * a failure to read is logged, not fatal, since it only weakens deduplication.
   */
  private async rememberStoredKeys(store: Store): Promise<void> {
    const byApp = new Map<string, App>();
    for (const a of this.apps) if (a.recent) byApp.set(`${a.tenant}\u0000${a.name}`, a);
    if (byApp.size === 0) return;
    const { max_keys: maxKeys, ttl_s: ttlS } = this.cfg.idempotency;
    try {
      const rows = await store.queryRows<{ tenant: string; app: string; k: string; n: number | string; last: number | string }>(
        `SELECT tenant, app, idempotency_key AS k, count() AS n, toUnixTimestamp64Milli(max(ts)) AS last
         FROM ${store.database}.frontend_events
         WHERE idempotency_key != '' AND ts >= now64(3) - toIntervalSecond({ttl:UInt32})
         GROUP BY tenant, app, k
         ORDER BY last DESC
         LIMIT {max:UInt32} BY tenant, app`,
        { ttl: ttlS, max: maxKeys },
      );
      const now = (this.now ?? Date.now)();
      let n = 0;
      // Oldest first, so that the newest are the last to be forgotten.
      for (const r of rows.reverse()) {
        const a = byApp.get(`${r.tenant}\u0000${r.app}`);
        if (!a?.recent) continue;
        // Rejected rows went to dead letters; a replay reports what is in the table.
        a.recent.remember(r.k, { accepted: Number(r.n), rejected: 0 }, Math.min(now, Number(r.last)));
        n++;
      }
      if (n > 0) this.log.info('recent Idempotency-Keys read back from the store', { keys: n });
    } catch (err) {
      this.log.warn('could not read recent Idempotency-Keys back from the store; retries of payloads stored before the restart may be stored twice', {
        error: errorMessage(err),
      });
    }
  }

  async forceFlush(): Promise<void> {}

  shutdown = once(async () => {
    this.closed = true;
  });
}

/** Claims the key once the request storing it has settled, waiting again if another took it over. */
async function claimAfterWait(recent: RecentKeys, key: string, settled: Promise<void>): Promise<Exclude<Claim, { kind: 'wait' }>> {
  for (;;) {
    await settled;
    const c = recent.claim(key);
    if (c.kind !== 'wait') return c;
    settled = c.settled;
  }
}

function corsHeaders(origin: string): Record<string, string> {
  return {
    'access-control-allow-origin': origin,
    'access-control-expose-headers': EXPOSED_HEADERS,
    vary: 'Origin',
  };
}

/** An HTTP refusal with the metric outcome it counts as (its code). */
class FaroRefusal extends LlmeterError {
  declare readonly code: string;
  readonly error: HttpError;
  constructor(outcome: string, error: HttpError) {
    super(error.message, outcome);
    this.error = error;
  }

  get outcome(): string {
    return this.code;
  }
}
