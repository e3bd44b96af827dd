// SIMULATED client traffic: three tenants with different habits call the metering proxy over HTTP the
// way the official clients do (ollama-js: POST /api/chat NDJSON; openai-node: POST
// /v1/chat/completions, SSE with stream_options.include_usage, or a single JSON answer), each with its
// own API key. Bodies are read to the end like a client would; a 503 is not retried.
import type { Prng } from './prng.ts';
import type { SimTenant } from './fleet.ts';
import { promptText, SIM_HABITS, type SimCall } from './habits.ts';

export interface TrafficStats {
  sent: number;
  ok: number;
  failed: number;
  /** Answers by HTTP status. */
  byStatus: Record<string, number>;
  byTenant: Record<string, number>;
  inFlight: number;
}

export interface TrafficOptions {
  proxyUrl: string;
  tenants: readonly SimTenant[];
  prng: Prng;
  /** Multiplies every tenant's request rate. */
  rate?: number;
}

interface Call {
  path: string;
  body: Record<string, unknown>;
  userAgent: string;
}

const OLLAMA_UA = 'ollama-js/0.6.0 (x64 linux Node.js/v24.11.0)';
const OPENAI_UA = 'OpenAI/JS 5.23.0';

/** A habit's call as the official client would send it. */
function request(call: SimCall, rng: Prng): Call {
  const messages = [...(call.system ? [{ role: 'system', content: call.system }] : []), { role: 'user', content: promptText(rng, call.promptWords) }];
  if (call.api === 'ollama')
    return { path: '/api/chat', body: { model: call.model, messages, stream: call.stream, options: { num_predict: call.maxTokens } }, userAgent: OLLAMA_UA };
  const body: Record<string, unknown> = { model: call.model, messages, max_tokens: call.maxTokens };
  if (call.stream) body.stream = true;
  if (call.includeUsage) body.stream_options = { include_usage: true };
  return { path: '/v1/chat/completions', body, userAgent: OPENAI_UA };
}

/** What each tenant does next, and how long until it does it. */
function habit(tenant: string, rng: Prng): { waitMs: number; calls: Call[] } {
  const h = SIM_HABITS.find((x) => tenant === x.name || tenant.startsWith(`${x.name}-`)) ?? SIM_HABITS.at(-1)!;
  const burst = h.next(rng);
  return { waitMs: burst.waitMs, calls: burst.calls.map((c) => request(c, rng)) };
}

/** Runs the tenants' traffic until `signal` aborts, then waits for the calls in flight. */
export async function driveTraffic(opts: TrafficOptions, signal: AbortSignal, stats: TrafficStats = newStats()): Promise<TrafficStats> {
  const rate = opts.rate ?? 1;
  const inflight = new Set<Promise<void>>();
  const send = (tenant: SimTenant, call: Call) => {
    stats.sent++;
    stats.inFlight++;
    stats.byTenant[tenant.name] = (stats.byTenant[tenant.name] ?? 0) + 1;
    const p = (async () => {
      try {
        const res = await fetch(opts.proxyUrl + call.path, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${tenant.key}`,
            'content-type': 'application/json',
            accept: call.body.stream ? 'application/x-ndjson, text/event-stream' : 'application/json',
            'user-agent': call.userAgent,
          },
          body: JSON.stringify(call.body),
        });
        const text = await res.text();
        const broke = res.ok && /"error"\s*:/.test(text);
        stats.byStatus[String(res.status)] = (stats.byStatus[String(res.status)] ?? 0) + 1;
        if (res.ok && !broke) stats.ok++;
        else stats.failed++;
      } catch {
        stats.failed++;
        stats.byStatus.network = (stats.byStatus.network ?? 0) + 1;
      } finally {
        stats.inFlight--;
      }
    })();
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  const loops = opts.tenants.map(async (tenant) => {
    const rng = opts.prng.fork(tenant.name);
    // Tenants do not all start at the same instant.
    await sleep(rng.int(0, 400), signal);
    while (!signal.aborted) {
      const next = habit(tenant.name, rng);
      for (const c of next.calls) send(tenant, c);
      await sleep(next.waitMs / rate, signal);
    }
  });
  await Promise.all(loops);
  await Promise.allSettled([...inflight]);
  return stats;
}

export function newStats(): TrafficStats {
  return { sent: 0, ok: 0, failed: 0, byStatus: {}, byTenant: {}, inFlight: 0 };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
