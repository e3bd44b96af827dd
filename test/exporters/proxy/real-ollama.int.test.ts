// The metering proxy in front of a real Ollama (built from source by scripts/prereqs/30-ollama.sh,
// serving a tiny random-weight model on the CPU, two requests at a time). The official ollama and
// openai clients talk through the proxy, and every field the proxy records in llm_requests must
// equal what the client received from the server. Where a client never sees a figure (a stream that
// did not ask for usage), the same request with usage asked for is the reference for the record, and
// the same request sent straight to Ollama is the reference for what the client gets: the model is
// sampled greedily, so all of them generate the same tokens.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Ollama, type ChatResponse, type GenerateResponse } from 'ollama';
import OpenAI from 'openai';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { silentLogger } from '../../../collector/core/log.ts';
import { keyDigestHex } from '../../../collector/core/security/keys.ts';
import { chargeback } from '../../../collector/features/cost/chargeback.ts';
import { llmServing } from '../../../dashboards/llm-serving.ts';
import type { ClickHouseQuery } from '../../../dashboards/lib/grafana.ts';
import type { ProxyServer } from '../../../exporters/proxy/server.ts';
import type { PsPoller } from '../../../exporters/proxy/ps-poller.ts';
import { COLD_START_LOAD_NS } from '../../../exporters/proxy/cold-start.ts';
import { FleetBuilder, H, M } from '../../helpers/cost-fleet.ts';
import { expandMacros } from '../../helpers/grafana-macros.ts';
import { OLLAMA_VERSION, startOllama, TINY, TINY_FULL, TINY_GGUF, type RealOllama } from '../../helpers/ollama.ts';
import type { LlmRequestRow } from '../../helpers/rows.ts';
import { testConfig } from '../../helpers/store.ts';
import { servedMetricValue } from '../../helpers/metrics.ts';

const KEY_ACME = 'llm_test_acme_0123456789';
const KEY_GLOBEX = 'llm_test_globex_0123456789';
const UPSTREAM = 'cpu-ollama';
const NODE = 'cpu-node-1';
/** Greedy sampling: the same request generates the same tokens, through the proxy or not. */
const GREEDY = { temperature: 0, seed: 7 };
/** How often Ollama checks on a runner it started (llm/server.go, WaitUntilRunning). */
const RUNNER_CHECK_NS = 250e6;

let server: RealOllama;
let collector: Collector;
let proxy: ProxyServer;
let base: string;

type Row = Omit<LlmRequestRow, 'ts' | 'request_id'>;

async function rows(where = '1'): Promise<Row[]> {
  await proxy.idle();
  await collector.pipeline.forceFlush();
  return collector.store.queryRows<Row>(`SELECT * EXCEPT (ts, request_id) FROM ${collector.store.database}.llm_requests WHERE ${where} ORDER BY ts`);
}

function ollama(key = KEY_ACME): Ollama {
  return new Ollama({ host: base, headers: { authorization: `Bearer ${key}` } });
}

function openai(key = KEY_ACME): OpenAI {
  return new OpenAI({ apiKey: key, baseURL: `${base}/v1`, maxRetries: 0 });
}

/** The same client straight to Ollama: the reference for what a client gets without the proxy. */
function direct(): OpenAI {
  return new OpenAI({ apiKey: 'none', baseURL: `${server.url}/v1`, maxRetries: 0 });
}

/** What a record holds of one Ollama final chunk or whole response. */
type OllamaFigures = Partial<
  Pick<GenerateResponse, 'prompt_eval_count' | 'eval_count' | 'load_duration' | 'prompt_eval_duration' | 'eval_duration' | 'total_duration'>
>;

function fromOllama(r: OllamaFigures) {
  return {
    input_tokens: r.prompt_eval_count ?? 0,
    output_tokens: r.eval_count ?? 0,
    cached_tokens: 0,
    load_duration_ns: String(r.load_duration ?? 0),
    prompt_eval_duration_ns: String(r.prompt_eval_duration ?? 0),
    eval_duration_ns: String(r.eval_duration ?? 0),
    total_duration_ns: String(r.total_duration ?? 0),
  };
}

/** OpenAI-style usage as a record holds it; the /v1 endpoints carry no durations. */
function fromUsage(u: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details?: { cached_tokens?: number } | null }) {
  return {
    input_tokens: u.prompt_tokens,
    output_tokens: u.completion_tokens,
    cached_tokens: u.prompt_tokens_details?.cached_tokens ?? 0,
    load_duration_ns: '0',
    prompt_eval_duration_ns: '0',
    eval_duration_ns: '0',
    total_duration_ns: '0',
  };
}

const OK = { tenant: 'acme', model: TINY_FULL, backend: UPSTREAM, node: NODE, status: 200, error: '', error_kind: '', source: 'proxy' };

/** A dashboard panel's SQL with Grafana's macros expanded over the last hour. */
function panelSql(title: string, variables: Record<string, readonly string[] | 'all'>): string {
  const panel = llmServing.panels.find((p) => p.title === title && p.targets.length > 0);
  if (!panel) throw new Error(`no panel '${title}'`);
  const now = Date.now();
  const all = { tenant: 'all', model: 'all', node: 'all', pool: 'all', ...variables } as const;
  return expandMacros((panel.targets[0] as ClickHouseQuery).rawSql, { fromMs: now - H, toMs: now + M, intervalMs: 60_000, variables: all, options: {} });
}

async function query<T>(sql: string): Promise<T[]> {
  return (JSON.parse(await collector.store.queryText(sql, 'JSON')) as { data: T[] }).data;
}

beforeAll(async () => {
  server = await startOllama({ numParallel: 2 });
  collector = await startCollector(
    testConfig({
      pipeline: { batch_ms: 50 },
      proxy: {
        enabled: true,
        listen: '127.0.0.1:0',
        ps_poll_ms: 0,
        upstreams: [{ name: UPSTREAM, url: server.url, node: NODE, kind: 'ollama' }],
        tenants: [
          { name: 'acme', keys: [`sha256:${keyDigestHex(KEY_ACME)}`] },
          { name: 'globex', keys: [`sha256:${keyDigestHex(KEY_GLOBEX)}`] },
        ],
      },
    }),
    silentLogger,
  );
  proxy = collector.components.find((c) => c.name === 'proxy') as ProxyServer;
  base = `http://${proxy.address()}`;
});

afterAll(async () => {
  await collector?.shutdown();
  await server?.stop();
});

beforeEach(async () => {
  await proxy.idle();
  await collector.pipeline.forceFlush();
  await collector.store.command(`TRUNCATE TABLE ${collector.store.database}.llm_requests`);
});

describe(`a real Ollama ${OLLAMA_VERSION} behind the proxy`, () => {
  it('is the pinned release, answering through the proxy', async () => {
    expect(await ollama().version()).toEqual({ version: OLLAMA_VERSION });
    expect(await rows()).toMatchObject([{ ...OK, model: '', endpoint: '/api/version', api: 'ollama', stream: false }]);
  });

  it('cold loads, warm requests and keep_alive: 0 unloads: load_duration as the client got it, and one cold-start definition for the counter and the dashboard', async () => {
    const c = ollama();
    const loads: number[] = [];
    const unloads: GenerateResponse[] = [];
    // Each round loads the model (the first request finds it unloaded), uses it warm, and unloads
    // it. A load that is not done at Ollama's first check on the runner reports at least the check
    // interval; the tiny model is sometimes ready before that, so rounds go on until one such load.
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 2; i++) {
        const r = await c.generate({ model: TINY, prompt: 'hello', stream: false, options: { num_predict: 4 } });
        loads.push(r.load_duration);
      }
      unloads.push(await c.generate({ model: TINY, prompt: '', keep_alive: 0 }));
      await expect.poll(async () => (await c.ps()).models).toEqual([]);
      if (loads.at(-2)! >= RUNNER_CHECK_NS) break;
    }
    expect(loads.filter((_, i) => i % 2 === 0).some((l) => l >= RUNNER_CHECK_NS)).toBe(true);
    expect(unloads.every((u) => u.done_reason === 'unload')).toBe(true);

    const r = await rows("endpoint = '/api/generate'");
    expect(r).toHaveLength(loads.length + unloads.length);
    const generated = r.filter((_, i) => i % 3 !== 2);
    expect(generated.map((x) => x.load_duration_ns)).toEqual(loads.map(String));
    // An unload answers done with no counts: nothing is recorded that the client did not get.
    for (const u of r.filter((_, i) => i % 3 === 2)) expect(u).toMatchObject({ ...OK, ...fromOllama({}), stream: false });

    // One definition: the proxy's counter and the dashboard count the same requests.
    const cold = loads.filter((l) => l >= COLD_START_LOAD_NS).length;
    expect(cold).toBeGreaterThanOrEqual(1);
    // A warm request's load_duration is the scheduler's hand-off, not a load.
    expect(loads.filter((_, i) => i % 2 === 1).every((l) => l < COLD_START_LOAD_NS)).toBe(true);
    expect(await servedMetricValue(`http://${collector.address}/metrics`, 'llmeter_proxy_cold_starts_total', { upstream: UPSTREAM, model: TINY_FULL })).toBe(
      cold,
    );
    const [stat] = await query<{ cold_starts: string }>(panelSql('Cold starts', {}));
    expect(Number(stat!.cold_starts)).toBe(cold);
  });

  it('/api/chat and /api/generate, streamed and whole: each record equals the final chunk the client got', async () => {
    const c = ollama();
    const parts: ChatResponse[] = [];
    for await (const p of await c.chat({ model: TINY, messages: [{ role: 'user', content: 'hi there' }], stream: true, options: { num_predict: 12 } }))
      parts.push(p);
    const chatFinal = parts.at(-1)!;
    const chat = await c.chat({ model: TINY, messages: [{ role: 'user', content: 'hi' }], stream: false, options: { num_predict: 6 } });
    const genParts: GenerateResponse[] = [];
    for await (const p of await c.generate({ model: TINY, prompt: 'why is the sky blue', stream: true, options: { num_predict: 9 } })) genParts.push(p);
    const gen = await c.generate({ model: TINY, prompt: 'why', stream: false, options: { num_predict: 5 } });

    // Each generated token is a chunk of its own (the model emits printable pieces only).
    expect(chatFinal).toMatchObject({ done: true, done_reason: 'length', eval_count: 12 });
    expect(parts).toHaveLength(13);
    const [a, b, g, d] = await rows();
    expect(a).toMatchObject({ ...OK, endpoint: '/api/chat', api: 'ollama', stream: true, ...fromOllama(chatFinal) });
    expect(b).toMatchObject({ ...OK, endpoint: '/api/chat', api: 'ollama', stream: false, ttft_ms: null, ...fromOllama(chat) });
    expect(g).toMatchObject({ ...OK, endpoint: '/api/generate', api: 'ollama', stream: true, ...fromOllama(genParts.at(-1)!) });
    expect(d).toMatchObject({ ...OK, endpoint: '/api/generate', api: 'ollama', stream: false, ...fromOllama(gen) });
    for (const x of [a!, g!]) {
      expect(x.ttft_ms).toBeGreaterThan(0);
      expect(x.ttft_ms!).toBeLessThanOrEqual(x.duration_ms);
    }
  });

  it('/v1/chat/completions: whole, streamed with include_usage, and streamed without it (usage asked for, recorded, and hidden)', async () => {
    const msgs: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'tell me a story' }];
    const whole = await openai().chat.completions.create({ model: TINY, messages: msgs, max_tokens: 7, ...GREEDY });
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const ch of await openai().chat.completions.create({
      model: TINY,
      messages: msgs,
      max_tokens: 7,
      stream: true,
      stream_options: { include_usage: true },
      ...GREEDY,
    }))
      usage = ch.usage ?? usage;
    const viaProxy: unknown[] = [];
    for await (const ch of await openai().chat.completions.create({ model: TINY, messages: msgs, max_tokens: 7, stream: true, ...GREEDY })) viaProxy.push(ch);
    const straight: unknown[] = [];
    for await (const ch of await direct().chat.completions.create({ model: TINY, messages: msgs, max_tokens: 7, stream: true, ...GREEDY })) straight.push(ch);

    expect(usage).toEqual(whole.usage);
    // The client that did not ask for usage gets what Ollama sends such a client.
    expect(viaProxy.map(comparable)).toEqual(straight.map(comparable));
    const [w, s, hidden] = await rows();
    expect(w).toMatchObject({ ...OK, endpoint: '/v1/chat/completions', api: 'openai', stream: false, ...fromUsage(whole.usage!) });
    expect(s).toMatchObject({ ...OK, endpoint: '/v1/chat/completions', api: 'openai', stream: true, ...fromUsage(usage!) });
    expect(hidden).toMatchObject({ ...OK, endpoint: '/v1/chat/completions', api: 'openai', stream: true, ...fromUsage(usage!) });
  });

  it('/v1/completions streamed without include_usage: the client sees no usage anywhere, as straight from Ollama, and the record has the counts', async () => {
    const req = { model: TINY, prompt: 'once upon a time', max_tokens: 6, ...GREEDY } as const;
    const whole = await openai().completions.create(req);
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const ch of await openai().completions.create({ ...req, stream: true, stream_options: { include_usage: true } })) usage = ch.usage ?? usage;
    const viaProxy: OpenAI.Completion[] = [];
    for await (const ch of await openai().completions.create({ ...req, stream: true })) viaProxy.push(ch);
    const straight: OpenAI.Completion[] = [];
    for await (const ch of await direct().completions.create({ ...req, stream: true })) straight.push(ch);

    expect(usage).toEqual(whole.usage);
    expect(viaProxy.filter((ch) => 'usage' in ch)).toEqual([]);
    expect(viaProxy.map(comparable)).toEqual(straight.map(comparable));
    const [w, s, hidden] = await rows();
    expect(w).toMatchObject({ ...OK, endpoint: '/v1/completions', api: 'openai', stream: false, ...fromUsage(whole.usage!) });
    expect(s).toMatchObject({ ...OK, endpoint: '/v1/completions', stream: true, ...fromUsage(usage!) });
    expect(hidden).toMatchObject({ ...OK, endpoint: '/v1/completions', stream: true, ...fromUsage(usage!) });
  });

  it('/v1/responses, whole and streamed: the record has the usage of the response the client got', async () => {
    const whole = await openai().responses.create({ model: TINY, input: 'hello there', max_output_tokens: 5, temperature: 0 });
    let completed: OpenAI.Responses.Response | undefined;
    for await (const ev of await openai().responses.create({ model: TINY, input: 'hello there', max_output_tokens: 8, stream: true, temperature: 0 })) {
      if (ev.type === 'response.completed') completed = ev.response;
    }
    const fromResponse = (u: OpenAI.Responses.ResponseUsage) =>
      fromUsage({ prompt_tokens: u.input_tokens, completion_tokens: u.output_tokens, prompt_tokens_details: u.input_tokens_details });
    expect(completed?.usage?.output_tokens).toBe(8);
    const [w, s] = await rows();
    expect(w).toMatchObject({ ...OK, endpoint: '/v1/responses', api: 'openai', stream: false, ...fromResponse(whole.usage!) });
    expect(s).toMatchObject({ ...OK, endpoint: '/v1/responses', api: 'openai', stream: true, ...fromResponse(completed!.usage!) });
  });

  it('/v1/messages (the Anthropic format), whole and streamed: recorded as api anthropic with the usage the client got', async () => {
    const body = { model: TINY, max_tokens: 6, messages: [{ role: 'user', content: 'hi' }], temperature: 0 };
    const headers = { 'x-api-key': KEY_ACME, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
    const whole = (await (await fetch(`${base}/v1/messages`, { method: 'POST', headers, body: JSON.stringify(body) })).json()) as {
      usage: { input_tokens: number; output_tokens: number };
    };
    const events = sseEvents(await (await fetch(`${base}/v1/messages`, { method: 'POST', headers, body: JSON.stringify({ ...body, stream: true }) })).text());
    const delta = events.find((e) => e.type === 'message_delta') as { usage: { input_tokens: number; output_tokens: number } };
    const anthropic = (u: { input_tokens: number; output_tokens: number }) => fromUsage({ prompt_tokens: u.input_tokens, completion_tokens: u.output_tokens });
    expect(events.at(-1)).toEqual({ type: 'message_stop' });
    const [w, s] = await rows();
    expect(w).toMatchObject({ ...OK, endpoint: '/v1/messages', api: 'anthropic', stream: false, ...anthropic(whole.usage) });
    expect(s).toMatchObject({ ...OK, endpoint: '/v1/messages', api: 'anthropic', stream: true, ...anthropic(delta.usage) });
  });

  it('embeddings: /api/embed, /api/embeddings and /v1/embeddings', async () => {
    const e = await ollama().embed({ model: TINY, input: ['why is the sky blue?', 'because'] });
    const legacy = await ollama().embeddings({ model: TINY, prompt: 'why' });
    const v1 = await openai().embeddings.create({ model: TINY, input: 'why is the sky blue?', encoding_format: 'float' });
    expect(e.embeddings).toHaveLength(2);
    expect(legacy.embedding.length).toBe(e.embeddings[0]!.length);
    const [a, b, c] = await rows();
    expect(a).toMatchObject({ ...OK, endpoint: '/api/embed', api: 'ollama', stream: false, ...fromOllama(e) });
    // The legacy endpoint answers with the vector alone: no counts to record.
    expect(b).toMatchObject({ ...OK, endpoint: '/api/embeddings', api: 'ollama', ...fromOllama({}) });
    expect(c).toMatchObject({ ...OK, endpoint: '/v1/embeddings', api: 'openai', input_tokens: v1.usage.prompt_tokens, output_tokens: 0 });
  });

  it('a model uploaded through the proxy: /api/blobs streams through unchanged (Ollama checks its digest), /api/create makes it', async () => {
    // The tiny model under another general.name of the same length: a digest the server has not seen.
    const gguf = readFileSync(TINY_GGUF);
    const at = gguf.indexOf('tiny', gguf.indexOf('general.name'));
    gguf.write('z', at + 3);
    const digest = `sha256:${createHash('sha256').update(gguf).digest('hex')}`;
    const headers = { authorization: `Bearer ${KEY_ACME}` };
    const upload = await fetch(`${base}/api/blobs/${digest}`, { method: 'POST', headers, body: gguf });
    expect(upload.status).toBe(201);
    const created = await fetch(`${base}/api/create`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model: 'tinz', files: { 'tinz.gguf': digest }, stream: false }),
    });
    expect(await created.json()).toEqual({ status: 'success' });
    expect((await ollama().list()).models.map((m) => m.name).sort()).toEqual([TINY_FULL, 'tinz:latest']);
    await ollama().delete({ model: 'tinz' });
    const r = await rows();
    expect(r.map((x) => [x.endpoint, x.status, x.model, x.error])).toEqual([
      ['/api/blobs/:digest', 201, '', ''],
      ['/api/create', 200, 'tinz:latest', ''],
      ['/api/tags', 200, '', ''],
      ['/api/delete', 200, 'tinz:latest', ''],
    ]);
  });

  it("two tenants at once on a server with OLLAMA_NUM_PARALLEL=2: each record is its own client's", async () => {
    const start = (key: string, n: number) =>
      ollama(key).chat({ model: TINY, messages: [{ role: 'user', content: `count to ${n}` }], stream: true, options: { num_predict: n } });
    const [sa, sb] = await Promise.all([start(KEY_ACME, 300), start(KEY_GLOBEX, 200)]);
    const ia = sa[Symbol.asyncIterator]();
    const ib = sb[Symbol.asyncIterator]();
    const firsts = await Promise.all([ia.next(), ib.next()]);
    expect(firsts.every((f) => !f.done)).toBe(true);
    const drain = async (it: AsyncIterator<ChatResponse>) => {
      let last: ChatResponse | undefined;
      for (let x = await it.next(); !x.done; x = await it.next()) last = x.value;
      return last!;
    };
    const [fa, fb] = await Promise.all([drain(ia), drain(ib)]);
    expect([fa.eval_count, fb.eval_count]).toEqual([300, 200]);
    // By Ollama's own clock the two generated at the same time: their decode windows overlap.
    const window = (f: ChatResponse) => [Date.parse(String(f.created_at)) - f.eval_duration / 1e6, Date.parse(String(f.created_at))] as const;
    const [a, b] = [window(fa), window(fb)];
    expect(Math.max(a[0], b[0])).toBeLessThan(Math.min(a[1], b[1]));
    const r = await rows();
    expect(r.find((x) => x.tenant === 'acme')).toMatchObject({ ...OK, tenant: 'acme', stream: true, ...fromOllama(fa) });
    expect(r.find((x) => x.tenant === 'globex')).toMatchObject({ ...OK, tenant: 'globex', stream: true, ...fromOllama(fb) });
    expect(
      await servedMetricValue(`http://${collector.address}/metrics`, 'llmeter_proxy_tokens_total', {
        upstream: UPSTREAM,
        model: TINY_FULL,
        tenant: 'globex',
        kind: 'output',
      }),
    ).toBe(200);
  });

  it('/api/ps and model residency: the names of llm_requests, model_states and the VRAM metric agree, and a CPU node counts as resident', async () => {
    await ollama().generate({ model: TINY, prompt: 'hi', stream: false, options: { num_predict: 2 } });
    const ps = await ollama().ps();
    expect(ps.models).toHaveLength(1);
    const m = ps.models[0]!;
    expect(m).toMatchObject({ name: TINY_FULL, model: TINY_FULL, size_vram: 0 });
    expect(m.size).toBeGreaterThan(0);

    const poller = collector.components.find((c) => c.name === 'proxy-ps') as PsPoller;
    await poller.pollAll();
    await collector.pipeline.forceFlush();
    const states = await collector.store.queryRows<Record<string, unknown>>(
      `SELECT server, node, model, digest, size_bytes, size_vram_bytes, context_length FROM ${collector.store.database}.model_states`,
    );
    expect(states.at(-1)).toEqual({
      server: UPSTREAM,
      node: NODE,
      model: TINY_FULL,
      digest: m.digest,
      size_bytes: String(m.size),
      size_vram_bytes: '0',
      context_length: 512,
    });
    expect(await servedMetricValue(`http://${collector.address}/metrics`, 'llmeter_proxy_model_vram_bytes', { upstream: UPSTREAM, model: TINY_FULL })).toBe(0);

    // The dashboards' model variable lists llm_requests' names; the residency panel filters by it.
    const r = await rows();
    expect(r.map((x) => [x.endpoint, x.model])).toEqual([
      ['/api/generate', TINY_FULL],
      ['/api/ps', ''],
    ]);
    const models = (await query<{ model: string }>(`SELECT DISTINCT model FROM llm_requests WHERE model != ''`)).map((x) => x.model);
    const resident = await query<{ model: string }>(panelSql('Models resident in VRAM', { model: models }));
    expect(resident.map((x) => x.model)).toEqual([TINY_FULL]);

    // A CPU node's resident model holds no VRAM, but its idle time is still time a model sat loaded.
    const hour = Math.floor(Date.now() / H) * H;
    await new FleetBuilder()
      .node({ node: NODE, instance_type: 'c7i.large', up: [[hour, hour + H]] })
      .price({ instance_type: 'c7i.large', from: hour - H, usd: '6.00' })
      .load(collector.pipeline);
    const report = await chargeback(collector.store, { from: new Date(hour), to: new Date(hour + H), source: 'raw' });
    // One poll is one resident minute of the hour's sixty: a tenth of a dollar at $6/h.
    expect(report.totals.idle_with_model_resident).toBe('0.10');
  });
});

/** A streamed chunk without what differs between any two requests (its id and creation time). */
function comparable(chunk: unknown): unknown {
  const { id: _id, created: _created, ...rest } = chunk as Record<string, unknown>;
  return rest;
}

function sseEvents(text: string): Record<string, unknown>[] {
  return text
    .split('\n\n')
    .map((e) => e.split('\n').find((l) => l.startsWith('data: ')))
    .filter((l): l is string => l !== undefined)
    .map((l) => JSON.parse(l.slice(6)) as Record<string, unknown>);
}
