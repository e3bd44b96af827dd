// A local stand-in for PagerDuty's Events API v2 (POST /v2/enqueue) that holds Alertmanager to the
// published contract: each request body is validated against the official OpenAPI schema
// (test/fixtures/pagerduty) plus the rules its developer docs add (a trigger carries a payload; an
// acknowledge or resolve names its dedup_key), and answered like PagerDuty: 202 with
// {status, message, dedup_key}, or 400 with {status, message, errors}. It also takes chat
// webhooks on /chat so a test can see what did not page.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { FIXTURES } from '../helpers/paths.ts';

export interface PagerDutyEvent {
  routing_key: string;
  event_action: 'trigger' | 'acknowledge' | 'resolve';
  dedup_key?: string;
  client?: string;
  client_url?: string;
  payload?: {
    summary: string;
    source: string;
    severity: 'critical' | 'error' | 'warning' | 'info';
    timestamp?: string;
    component?: string;
    group?: string;
    class?: string;
    custom_details?: Record<string, unknown>;
  };
  links?: { href: string; text?: string }[];
  images?: { src: string }[];
}

export interface Received<T> {
  at: number;
  body: T;
}

interface OpenApi {
  paths: Record<string, { post: { requestBody: { content: Record<string, { schema: Record<string, unknown> }> } } }>;
  components: Record<string, unknown>;
}

/** The /enqueue request schema with the document's components beside it, so its $refs resolve. */
export function enqueueValidator(): ValidateFunction {
  const doc = JSON.parse(readFileSync(path.join(FIXTURES, 'pagerduty', 'pagerduty-events-v2.openapi.json'), 'utf8')) as OpenApi;
  const schema = { ...doc.paths['/enqueue']!.post.requestBody.content['application/json']!.schema, components: doc.components };
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addFormat('url', (s: string) => URL.canParse(s));
  ajv.addFormat('date-time', (s: string) => !Number.isNaN(Date.parse(s)));
  return ajv.compile(schema);
}

/** What PagerDuty's developer docs require beyond the OpenAPI schema. */
export function contractErrors(e: PagerDutyEvent): string[] {
  const errors: string[] = [];
  if (e.event_action === 'trigger' && !e.payload) errors.push("'payload' is missing or blank");
  if (e.event_action !== 'trigger' && !e.dedup_key) errors.push("'dedup_key' is missing or blank");
  if (e.dedup_key !== undefined && e.dedup_key.length > 255) errors.push("'dedup_key' is longer than 255 characters");
  if (e.routing_key.length !== 32) errors.push("'routing_key' must be 32 characters");
  if (e.payload && e.payload.summary.length > 1024) errors.push("'summary' is longer than 1024 characters");
  return errors;
}

export class PagerDutyReceiver {
  readonly events: Received<PagerDutyEvent>[] = [];
  readonly rejected: Received<unknown>[] = [];
  readonly chat: Received<Record<string, unknown>>[] = [];
  private readonly server: http.Server;
  private readonly validate = enqueueValidator();

  constructor() {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${a.port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, text: string): void {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'POST' && req.url === '/chat') {
      try {
        this.chat.push({ at: Date.now(), body: JSON.parse(text) as Record<string, unknown> });
      } catch {
        // a chat webhook that is not JSON is not what Alertmanager sends; keep nothing
      }
      return reply(200, { ok: true });
    }
    if (req.method !== 'POST' || req.url !== '/v2/enqueue') return reply(404, { status: 'Not found', message: `${req.method} ${req.url}` });
    if (!/^application\/json/.test(req.headers['content-type'] ?? ''))
      return reply(400, { status: 'Unrecognized object', message: 'Event object format is unrecognized', errors: ['Content-Type must be application/json'] });
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      this.rejected.push({ at: Date.now(), body: text });
      return reply(400, { status: 'Unrecognized object', message: 'Event object format is unrecognized', errors: ['JSON parse error'] });
    }
    const schemaOk = this.validate(body);
    const errors = schemaOk ? contractErrors(body as PagerDutyEvent) : (this.validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
    if (errors.length > 0) {
      this.rejected.push({ at: Date.now(), body });
      return reply(400, { status: 'invalid event', message: 'Event object is invalid', errors });
    }
    const event = body as PagerDutyEvent;
    const dedupKey = event.dedup_key ?? randomUUID().replace(/-/g, '');
    this.events.push({ at: Date.now(), body: event });
    reply(202, { status: 'success', message: 'Event processed', dedup_key: dedupKey });
  }
}
