// POST /api/v1/ingest/<signal>: NDJSON records, as `llmeter ingest` loads them, into the configured
// transport (the local pipeline, or Kafka on an edge). A 200 means every accepted record is stored
// (or, through Kafka, in the broker or the edge's spool) and every refused one is in dead_letters.
// What the queue cannot take is not dropped behind a 200: the answer is 503 with Retry-After, and
// since a record is stored once, the client sends the whole body again. Bodies are read a few at a
// time (http.max_concurrent_bodies); once shutdown begins new bodies get 503 and the ones being
// read are finished before the pipeline closes.
import { Readable } from 'node:stream';
import type { CoreConfig } from '../config/schema.ts';
import type { Component } from '../lifecycle/component.ts';
import { once } from '../lifecycle/component.ts';
import { ingestNdjson } from '../pipeline/ingest.ts';
import type { RecordSink } from '../pipeline/pipeline.ts';
import { isSignal } from '../records/validate.ts';
import { adminKeyRing, requireAdmin } from './admin-auth.ts';
import { HttpError, readBody, sendJson, type HttpServer } from './server.ts';

/** Body types a web page cannot send without a CORS preflight. */
export const NDJSON_BODY = ['application/x-ndjson', 'application/jsonl', 'application/json'];

const RETRY_AFTER_S = '2';

export class IngestApi implements Component {
  readonly name = 'ingest-api';
  private readonly sink: RecordSink;
  private readonly cfg: CoreConfig;
  private reading = 0;
  private closing = false;
  /** Shutdown stopped waiting for the bodies being stored. */
  private gaveUp = false;
  private drained: (() => void) | undefined;

  constructor(sink: RecordSink, cfg: CoreConfig) {
    this.sink = sink;
    this.cfg = cfg;
  }

  mount(http: HttpServer): void {
    const ring = adminKeyRing(this.cfg.http);
    http.route(
      'POST',
      '/api/v1/ingest/*',
      async (req, res, url) => {
        requireAdmin(req, ring);
        const signal = url.pathname.slice('/api/v1/ingest/'.length);
        if (!isSignal(signal)) throw new HttpError(404, `unknown signal ${JSON.stringify(signal)}`);
        if (this.closing) throw new HttpError(503, 'the collector is shutting down; send the body again to the next one', { 'retry-after': RETRY_AFTER_S });
        if (this.reading >= this.cfg.http.max_concurrent_bodies) {
          throw new HttpError(503, `${this.reading} bodies are being taken in already (http.max_concurrent_bodies); send this one again shortly`, {
            'retry-after': RETRY_AFTER_S,
          });
        }
        this.reading++;
        try {
          const body = await readBody(req, this.cfg.http.max_body_bytes);
          const report = await ingestNdjson(this.sink, signal, Readable.from([body]), { source: 'http', stopWhenFull: true });
          await report.durable;
          const counts = { accepted: report.accepted, rejected: report.rejected, reasons: report.reasons };
          if (report.stopped) {
            return sendJson(
              res,
              503,
              {
                ...counts,
                error: `the queue is full: ${report.accepted} records were taken and stored, the rest of the body was not read; send the whole body again (records already stored are not stored twice)`,
              },
              { 'retry-after': RETRY_AFTER_S },
            );
          }
          if (this.gaveUp || report.lost()) {
            // Shutdown stopped waiting for this body (the pipeline may have spilled its records to disk),
            // or some of it found no room in Kafka's spool.
            return sendJson(
              res,
              503,
              { ...counts, error: 'the body was not all stored before the collector shut down; send it again (records already stored are not stored twice)' },
              { 'retry-after': RETRY_AFTER_S },
            );
          }
          sendJson(res, 200, counts);
        } finally {
          if (--this.reading === 0) this.drained?.();
        }
      },
      { bodyTypes: NDJSON_BODY },
    );
  }

  async start(): Promise<void> {}
  async forceFlush(): Promise<void> {}

  /**
   * Refuses new bodies and waits for the ones being stored, at most the pipeline's shutdown timeout:
   * with the store down they would wait for ever, and the pipeline's own shutdown spills them.
   */
  shutdown = once(async () => {
    this.closing = true;
    if (this.reading === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const drained = new Promise<boolean>((r) => (this.drained = () => r(true)));
    const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), this.cfg.pipeline.shutdown_timeout_ms)));
    this.gaveUp = !(await Promise.race([drained, timedOut]));
    clearTimeout(timer);
  });
}
