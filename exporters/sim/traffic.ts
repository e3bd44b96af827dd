// SIMULATED client traffic: three tenants with different habits call the metering proxy over HTTP the
// way the official clients do (ollama-js: POST /api/chat NDJSON; openai-node: POST
// /v1/chat/completions, SSE with stream_options.include_usage, or a single JSON answer), each with its
// own API key. Bodies are read to the end like a client would; a 503 is not retried.
import type { Prng } from './prng.ts';
import type { SimTenant } from './fleet.ts';

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

const TOPICS = ['quarterly GPU spend', 'a support ticket about latency', 'the release notes', 'a contract clause', 'an incident report', 'onboarding steps', 'the spot interruption policy', 'a customer email'];

function prompt(rng: Prng, words: number): string {
  const parts: string[] = [];
  while (parts.length < words) parts.push(rng.pick(['please', 'summarise', 'explain', 'the', 'following', 'text', 'about', rng.pick(TOPICS), 'with', 'care', 'and', 'detail', 'for', 'our', 'team']));
  return parts.join(' ');
}

interface Call {
  path: string;
  body: Record<string, unknown>;
  userAgent: string;
}

const OLLAMA_UA = 'ollama-js/0.6.0 (x64 linux Node.js/v24.11.0)';
const OPENAI_UA = 'OpenAI/JS 5.23.0';

/** What each tenant does next, and how long until it does it. */
function habit(tenant: string, rng: Prng): { waitMs: number; calls: Call[] } {
  switch (tenant) {
    case 'acme-chat': {
      const model = rng.chance(0.75) ? 'llama3.2:3b' : 'gemma3:4b';
      const messages = [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: prompt(rng, rng.int(8, 60)) }];
      return { waitMs: rng.exp(700), calls: [{ path: '/api/chat', body: { model, messages, stream: true, options: { num_predict: rng.int(48, 160) } }, userAgent: OLLAMA_UA }] };
    }
    case 'globex-batch': {
      const messages = [{ role: 'system', content: 'Summarise the document in five bullet points.' }, { role: 'user', content: prompt(rng, rng.int(1_500, 5_000)) }];
      return { waitMs: rng.exp(4_000), calls: [{ path: '/v1/chat/completions', body: { model: 'qwen2.5:14b', messages, max_tokens: rng.int(120, 260) }, userAgent: OPENAI_UA }] };
    }
    default: {
      // Bursts of agent steps fired together, then a quiet spell.
      const n = rng.int(3, 9);
      const calls = Array.from({ length: n }, () => ({
        path: '/v1/chat/completions',
        body: { model: rng.chance(0.7) ? 'llama3.2:3b' : 'qwen2.5:14b', messages: [{ role: 'user', content: prompt(rng, rng.int(200, 900)) }], stream: true, stream_options: { include_usage: true }, max_tokens: rng.int(40, 140) },
        userAgent: OPENAI_UA,
      }));
      return { waitMs: rng.exp(9_000), calls };
    }
  }
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
          headers: { authorization: `Bearer ${tenant.key}`, 'content-type': 'application/json', accept: call.body.stream ? 'application/x-ndjson, text/event-stream' : 'application/json', 'user-agent': call.userAgent },
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
