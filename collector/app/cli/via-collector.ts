// While a collector holds the embedded store (chDB lets one process open a data directory), the
// other commands go through its HTTP API: `llmeter sql` through /api/sql, `llmeter ingest` through
// /api/v1/ingest, with the admin key from LLMETER_ADMIN_KEY.
import type { Readable } from 'node:stream';
import { errorMessage } from '../../core/errors.ts';
import type { Config } from '../config-schema.ts';
import type { RejectionReason } from '../../core/pipeline/pipeline.ts';
import { readRunningCollector } from './running.ts';

function collectorAddress(config: Config): string {
  const running = readRunningCollector(config.store.data_dir);
  return running?.address ?? config.http.listen.replace(/^0\.0\.0\.0:/, '127.0.0.1:');
}

function adminHeaders(contentType: string): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': contentType };
  const key = process.env.LLMETER_ADMIN_KEY;
  if (key) headers.authorization = `Bearer ${key}`;
  return headers;
}

async function send(config: Config, path: string, body: string | Buffer, contentType: string): Promise<{ address: string; res: Response }> {
  const address = collectorAddress(config);
  try {
    return { address, res: await fetch(`http://${address}${path}`, { method: 'POST', body, headers: adminHeaders(contentType) }) };
  } catch (err) {
    throw new Error(
      `the embedded store in ${config.store.data_dir} is held by another process, and no collector answered at ${address}: ${errorMessage(err)}`,
      { cause: err },
    );
  }
}

/** Runs one reading statement on the running collector. */
export async function sqlViaCollector(config: Config, sql: string, format: string): Promise<string> {
  const { address, res } = await send(config, `/api/sql?format=${encodeURIComponent(format)}`, sql, 'application/sql');
  const text = await res.text();
  if (!res.ok) throw new Error(`collector at ${address} answered ${res.status}: ${text}`);
  return text;
}

export interface RemoteIngestReport {
  accepted: number;
  rejected: number;
  reasons: RejectionReason[];
}

/** Below the collector's default body limit (http.max_body_bytes), cut at line ends. */
const CHUNK_BYTES = 4 * 1024 * 1024;
/** How long a chunk is offered again while the collector answers 503. */
const RETRY_FOR_MS = 120_000;

/**
 * Loads NDJSON through the running collector, in bodies of whole lines. A body the collector
 * cannot take now (503) is sent again after its Retry-After: records of it already stored are not
 * stored twice. Line numbers in the reasons are the input's.
 */
export async function ingestViaCollector(config: Config, signal: string, input: Readable): Promise<RemoteIngestReport> {
  const report: RemoteIngestReport = { accepted: 0, rejected: 0, reasons: [] };
  const reasons = new Map<string, RejectionReason>();
  let firstLine = 1;
  const post = async (chunk: Buffer, lines: number) => {
    const deadline = Date.now() + RETRY_FOR_MS;
    for (;;) {
      const { address, res } = await send(config, `/api/v1/ingest/${encodeURIComponent(signal)}`, chunk, 'application/x-ndjson');
      // A body that is not JSON (a proxy's error page) says nothing more than its status does.
      const body = (await res.json().catch(() => ({}))) as Partial<RemoteIngestReport> & { error?: string };
      if (res.status === 503 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 1000 * Math.max(1, Number(res.headers.get('retry-after')) || 1)));
        continue;
      }
      if (!res.ok) throw new Error(`collector at ${address} answered ${res.status}: ${body.error ?? ''}`);
      report.accepted += body.accepted ?? 0;
      report.rejected += body.rejected ?? 0;
      for (const r of body.reasons ?? []) {
        const seen = reasons.get(r.reason);
        if (seen) seen.count += r.count;
        else reasons.set(r.reason, { ...r, first: r.first?.replace(/^line (\d+)/, (_m, n: string) => `line ${Number(n) + firstLine - 1}`) });
      }
      firstLine += lines;
      return;
    }
  };
  let held: Buffer[] = [];
  let size = 0;
  for await (const data of input as AsyncIterable<Buffer | string>) {
    let buf = typeof data === 'string' ? Buffer.from(data) : data;
    while (size + buf.length > CHUNK_BYTES) {
      const cut = buf.lastIndexOf(0x0a, CHUNK_BYTES - size - 1);
      if (cut < 0) break;
      const chunk = Buffer.concat([...held, buf.subarray(0, cut + 1)]);
      await post(chunk, countLines(chunk));
      held = [];
      size = 0;
      buf = buf.subarray(cut + 1);
    }
    held.push(buf);
    size += buf.length;
  }
  if (size > 0) {
    const chunk = Buffer.concat(held);
    await post(chunk, countLines(chunk));
  }
  report.reasons = [...reasons.values()].sort((a, b) => b.count - a.count);
  return report;
}

function countLines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a, i + 1)) n++;
  return b.length > 0 && b[b.length - 1] !== 0x0a ? n + 1 : n;
}
