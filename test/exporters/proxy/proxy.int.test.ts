// The metering proxy end to end: the official ollama and openai clients talk through a running
// collector's proxy to an upstream replaying real Ollama captures over HTTP; each request's
// llm_requests row is read back from the embedded ClickHouse and compared with the capture.
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { Registry } from 'prom-client';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { silentLogger } from '../../../collector/core/log.ts';
import { keyDigestHex } from '../../../collector/core/security/keys.ts';
import { proxyConfigSchema } from '../../../exporters/proxy/config.ts';
import { ProxyServer } from '../../../exporters/proxy/server.ts';
import type { PsPoller } from '../../../exporters/proxy/ps-poller.ts';
import type { LlmRequestRow } from '../../helpers/rows.ts';
import { tempDir, testConfig } from '../../helpers/store.ts';
import { FakeUpstream, FIX, fixture, lines } from '../../helpers/fake-upstream.ts';
import { metric } from '../../helpers/metrics.ts';

const KEY_ACME = 'llm_test_acme_0123456789';
const KEY_LIMITED = 'llm_test_limited_0123456789';
const KEY_SLOW = 'llm_test_one_at_a_time_0123';

let upstream: FakeUpstream;
let collector: Collector;
let echoKey: Server;
const UPSTREAM_SECRET = 'sk-upstream-0123456789abcdefSECRET';
let proxy: ProxyServer;
let base: string;

type Row = Omit<LlmRequestRow, 'ts' | 'request_id'>;

async function rows(where = '1'): Promise<Row[]> {
  await proxy.idle();
  await collector.pipeline.forceFlush();
  return collector.store.queryRows<Row>(`SELECT * EXCEPT (ts, request_id) FROM ${collector.store.database}.llm_requests WHERE ${where} ORDER BY ts`);
}

async function onlyRow(where = '1'): Promise<Row> {
  const r = await rows(where);
  expect(r).toHaveLength(1);
  return r[0]!;
}

/** The ResponseError an ollama client call ends with. */
async function failure(p: Promise<unknown>): Promise<{ status_code: number; error: string }> {
  try {
    await p;
  } catch (e) {
    return e as { status_code: number; error: string };
  }
  throw new Error('the call succeeded');
}

function ollama(key = KEY_ACME): Ollama {
  return new Ollama({ host: base, headers: { authorization: `Bearer ${key}` } });
}

function openai(key = KEY_ACME): OpenAI {
  return new OpenAI({ apiKey: key, baseURL: `${base}/v1`, maxRetries: 0 });
}

beforeAll(async () => {
  // The captures' own pacing: gaps of 133 and 42 ms stay measurable even on a busy machine, where a
  // gap of a few milliseconds can vanish into scheduling noise.
  upstream = new FakeUpstream({ pace: 1 });
  const url = await upstream.start();
  // An upstream that echoes the key it was sent in its error, as OpenAI's API does.
  echoKey = createServer((req, res) => {
    req.resume();
    res.writeHead(401, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        error: { message: `Incorrect API key provided: ${req.headers.authorization}. The client sent ${req.headers['x-client-key'] ?? ''}` },
      }),
    );
  });
  await new Promise<void>((r) => echoKey.listen(0, '127.0.0.1', r));
  const keyFile = path.join(tempDir(), 'upstream.key');
  writeFileSync(keyFile, UPSTREAM_SECRET);
  collector = await startCollector(
    testConfig({
      pipeline: { batch_ms: 50 },
      proxy: {
        enabled: true,
        listen: '127.0.0.1:0',
        ps_poll_ms: 0,
        max_body_bytes: 64 * 1024,
        upstreams: [
          { name: 'ollama-a', url, node: 'gpu-node-1', kind: 'ollama' },
          // Nothing listens on port 9 of loopback: the "upstream down" case.
          { name: 'ollama-down', url: 'http://127.0.0.1:9', node: 'gpu-node-2', kind: 'ollama', models: ['ghost*'] },
          {
            name: 'echoes-keys',
            url: `http://127.0.0.1:${(echoKey.address() as AddressInfo).port}`,
            node: 'gpu-node-3',
            kind: 'openai',
            models: ['echo*'],
            api_key_file: keyFile,
          },
        ],
        tenants: [
          { name: 'acme', keys: [`sha256:${keyDigestHex(KEY_ACME)}`] },
          { name: 'limited', keys: [`sha256:${keyDigestHex(KEY_LIMITED)}`], limits: { max_concurrent: 0, requests_per_minute: 2 } },
          { name: 'one-at-a-time', keys: [`sha256:${keyDigestHex(KEY_SLOW)}`], limits: { max_concurrent: 1, requests_per_minute: 0 } },
        ],
      },
    }),
    silentLogger,
  );
  proxy = collector.components.find((c) => c.name === 'proxy') as ProxyServer;
  base = `http://${proxy.address()}`;
});

afterAll(async () => {
  echoKey?.close();
  await collector?.shutdown();
  await upstream?.close();
});

beforeEach(async () => {
  await proxy.idle();
  await collector.pipeline.forceFlush();
  await collector.store.command(`TRUNCATE TABLE ${collector.store.database}.llm_requests`);
});

describe('Ollama native API through the proxy (official ollama client)', () => {
  it('streams /api/chat line by line and records the final chunk exactly (cold start)', async () => {
    const seen: string[] = [];
    const stream = await ollama().chat({ model: 'llama3.2:1b', messages: [{ role: 'user', content: 'hi' }], stream: true });
    for await (const part of stream) seen.push(part.message.content);
    expect(seen).toEqual(['Hello', '.', '']);

    const r = await onlyRow();
    const final = JSON.parse(lines(FIX.chatStream)[2]!) as Record<string, number>;
    expect(r).toMatchObject({
      tenant: 'acme',
      model: 'llama3.2:1b',
      endpoint: '/api/chat',
      api: 'ollama',
      backend: 'ollama-a',
      node: 'gpu-node-1',
      status: 200,
      error: '',
      error_kind: '',
      stream: true,
      source: 'proxy',
      input_tokens: final.prompt_eval_count,
      output_tokens: final.eval_count,
      cached_tokens: final.prompt_eval_cached_count,
      load_duration_ns: '19906358300',
      prompt_eval_duration_ns: '10175903000',
      eval_duration_ns: '173639000',
      total_duration_ns: '30258609300',
    });
    expect(r.ttfb_ms).not.toBeNull();
    expect(r.ttft_ms).not.toBeNull();
    // The capture spaces its three lines 133 ms and 42 ms apart.
    expect(r.duration_ms - r.ttft_ms!).toBeGreaterThan(120);
    expect(r.proxy_overhead_ms).toBeGreaterThan(0);
    expect(r.proxy_overhead_ms).toBeLessThan(r.duration_ms);
    const metrics = await (await fetch(`http://${collector.address}/metrics`)).text();
    expect(metrics).toMatch(/llmeter_proxy_cold_starts_total\{[^}]*model="llama3.2:1b"[^}]*\} 1/);
    expect(metrics).toMatch(/llmeter_proxy_tokens_total\{[^}]*tenant="acme",kind="input"[^}]*\} 29/);
    expect(metrics).toMatch(/llmeter_proxy_overhead_seconds_count\{[^}]*upstream="ollama-a"[^}]*\} \d+/);
  });

  it("non-streamed /api/chat and /api/generate: the docs examples' numbers", async () => {
    const chat = await ollama().chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false });
    expect(chat.message.content).toBe('Hello! How are you today?');
    const gen = await ollama().generate({ model: 'gemma4', prompt: 'hi', stream: false });
    expect(gen.response).toBe('Hello! How can I help you today?');
    const [c, g] = await rows();
    expect(c).toMatchObject({
      endpoint: '/api/chat',
      stream: false,
      input_tokens: 26,
      output_tokens: 298,
      load_duration_ns: '2154458',
      prompt_eval_duration_ns: '383809000',
      eval_duration_ns: '4799921000',
      total_duration_ns: '5191566416',
      ttft_ms: null,
    });
    expect(g).toMatchObject({
      endpoint: '/api/generate',
      stream: false,
      input_tokens: 11,
      output_tokens: 18,
      load_duration_ns: '101397084',
      prompt_eval_duration_ns: '13074791',
      eval_duration_ns: '52479709',
      total_duration_ns: '174560334',
    });
  });

  it('streamed /api/generate: the docs stream, and a final chunk with a long load (cold start)', async () => {
    const parts: string[] = [];
    for await (const p of await ollama().generate({ model: 'gemma4', prompt: 'q', stream: true })) parts.push(p.response ?? '');
    expect(parts.join('')).toBe("That's a fantastic question!");
    for await (const p of await ollama().generate({ model: 'llama3.2', prompt: 'q', stream: true })) expect(p.done).toBe(true);
    const [docs, cold] = await rows();
    // The docs stream's final line carries no counts: nothing is invented.
    expect(docs).toMatchObject({ model: 'gemma4:latest', stream: true, status: 200, error: '', input_tokens: 0, output_tokens: 0 });
    expect(cold).toMatchObject({
      model: 'llama3.2:latest',
      stream: true,
      input_tokens: 26,
      output_tokens: 259,
      load_duration_ns: '6338219291',
      total_duration_ns: '10706818083',
    });
  });

  it('embeddings, model listing and the other endpoints pass through and are recorded', async () => {
    const c = ollama();
    const e = await c.embed({ model: 'all-minilm', input: 'why is the sky blue?' });
    expect(e.embeddings[0]).toHaveLength(10);
    const legacy = await c.embeddings({ model: 'all-minilm', prompt: 'why' });
    expect(legacy.embedding).toHaveLength(10);
    expect((await c.list()).models.map((m) => m.name)).toEqual(['deepseek-r1:latest', 'llama3.2:latest']);
    expect((await c.ps()).models[0]!.name).toBe('gemma3:latest');
    expect((await c.version()).version).toBe('0.5.1');
    expect((await c.show({ model: 'llama3.2' })).details.family).toBe('llama');
    const statuses: string[] = [];
    for await (const p of await c.pull({ model: 'llama3.2', stream: true })) statuses.push(p.status);
    expect(statuses.at(-1)).toBe('success');

    const r = await rows();
    expect(r.map((x) => x.endpoint)).toEqual(['/api/embed', '/api/embeddings', '/api/tags', '/api/ps', '/api/version', '/api/show', '/api/pull']);
    expect(r[0]).toMatchObject({
      model: 'all-minilm:latest',
      input_tokens: 8,
      output_tokens: 0,
      load_duration_ns: '1019500',
      total_duration_ns: '14143917',
      stream: false,
    });
    expect(r[6]).toMatchObject({ model: 'llama3.2:latest', stream: true, status: 200, error: '' });
    expect(r.every((x) => x.status === 200 && x.tenant === 'acme' && x.backend === 'ollama-a')).toBe(true);
  });

  it("forwards bytes unchanged and keeps the stream's cadence", async () => {
    const body = JSON.stringify({ model: 'llama3.2:1b', messages: [{ role: 'user', content: 'hi' }] });
    const direct = await timedChunks(`${upstream.url}/api/chat`, body, {});
    const proxied = await timedChunks(`${base}/api/chat`, body, { authorization: `Bearer ${KEY_ACME}` });
    expect(proxied.text).toBe(direct.text);
    expect(proxied.text).toBe(fixture(FIX.chatStream));
    expect(proxied.contentType).toBe('application/x-ndjson');
    // Each line arrives on its own, when the upstream sends it (133 ms and 42 ms apart).
    expect(proxied.chunks).toBe(3);
    expect(proxied.firstMs).toBeLessThan(proxied.totalMs - 120);
    expect(upstream.last('/api/chat')!.body.toString()).toBe(body);
    // The tenant's key is the proxy's business, not the upstream's.
    expect(upstream.last('/api/chat')!.headers.authorization).toBeUndefined();
    const viaHeader = await fetch(`${base}/api/version`, { headers: { 'x-api-key': KEY_ACME } });
    expect(viaHeader.status).toBe(200);
    expect(upstream.last('/api/version')!.headers['x-api-key']).toBeUndefined();
  });
});

async function timedChunks(url: string, body: string, headers: Record<string, string>) {
  const t0 = performance.now();
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  const reader = res.body!.getReader();
  const parts: Uint8Array[] = [];
  let firstMs = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (parts.length === 0) firstMs = performance.now() - t0;
    parts.push(value);
  }
  return {
    text: Buffer.concat(parts).toString('utf8'),
    chunks: parts.length,
    firstMs,
    totalMs: performance.now() - t0,
    contentType: res.headers.get('content-type'),
  };
}

describe('OpenAI-compatible API through the proxy (official openai client)', () => {
  it('non-streamed chat completion: usage from the body', async () => {
    const c = await openai().chat.completions.create({ model: 'qwen2.5-coder:1.5b-16k', messages: [{ role: 'user', content: 'hi' }] });
    expect(c.usage?.total_tokens).toBe(56);
    expect(await onlyRow()).toMatchObject({
      endpoint: '/v1/chat/completions',
      api: 'openai',
      stream: false,
      input_tokens: 30,
      output_tokens: 26,
      cached_tokens: 0,
      status: 200,
    });
  });

  it('stream without include_usage: usage is asked for, recorded, and hidden from the client', async () => {
    const stream = await openai().chat.completions.create({ model: 'Qwen3.8-27B:latest', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const chunks = [];
    for await (const ch of stream) chunks.push(ch);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? null)).toEqual([' me', '.', null]);
    expect(chunks.some((c) => c.choices.length === 0 || c.usage)).toBe(false);
    const sent = JSON.parse(upstream.last('/v1/chat/completions')!.body.toString()) as { stream_options: unknown };
    expect(sent.stream_options).toEqual({ include_usage: true });
    // Cached tokens come from usage.prompt_tokens_details (0 in this capture).
    expect(await onlyRow()).toMatchObject({ stream: true, input_tokens: 13889, output_tokens: 33, cached_tokens: 0, status: 200, error: '' });
    const metrics = await (await fetch(`http://${collector.address}/metrics`)).text();
    expect(metrics).toMatch(/llmeter_proxy_usage_chunks_stripped_total(\{[^}]*\})? [1-9]/);
  });

  it('stream with include_usage: the body goes unchanged and the client gets its usage chunk', async () => {
    const body: OpenAI.ChatCompletionCreateParamsStreaming = {
      model: 'gpt-oss:20b',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    };
    const stream = await openai().chat.completions.create(body);
    let usage: OpenAI.CompletionUsage | undefined | null;
    let n = 0;
    for await (const ch of stream) {
      n++;
      usage = ch.usage ?? usage;
    }
    expect(n).toBe(32);
    expect(usage).toEqual({ prompt_tokens: 68, completion_tokens: 41, total_tokens: 109 });
    expect(upstream.last('/v1/chat/completions')!.body.toString()).toBe(JSON.stringify(body));
    expect(await onlyRow()).toMatchObject({ model: 'gpt-oss:20b', stream: true, input_tokens: 68, output_tokens: 41 });
  });

  it('completions, embeddings and models', async () => {
    const c = openai();
    expect((await c.completions.create({ model: 'llama3.2', prompt: 'hi' })).choices[0]!.text).toBe('Hello!');
    expect((await c.embeddings.create({ model: 'all-minilm', input: 'hi', encoding_format: 'float' })).data[0]!.embedding).toHaveLength(10);
    const models = [];
    for await (const m of c.models.list()) models.push(m.id);
    expect(models).toEqual(['qwen2.5:1.5b']);
    const r = await rows();
    expect(r.map((x) => [x.endpoint, x.input_tokens, x.output_tokens])).toEqual([
      ['/v1/completions', 11, 3],
      ['/v1/embeddings', 8, 0],
      ['/v1/models', 0, 0],
    ]);
  });
});

describe('failures are answered like the upstream would and recorded', () => {
  it('an error line inside a 200 stream', async () => {
    const seen: string[] = [];
    const err = await (async () => {
      try {
        for await (const p of await ollama().generate({ model: 'midstream-error', prompt: 'q', stream: true })) seen.push(p.response ?? '');
      } catch (e) {
        return e as Error;
      }
    })();
    expect(seen).toEqual([' Yes', '.', 'I', 'can']);
    expect(err?.message).toBe('an error was encountered while running the model');
    expect(await onlyRow()).toMatchObject({ status: 200, stream: true, error_kind: 'stream_error', error: 'an error was encountered while running the model' });
  });

  it("Ollama's 503 queue full, natively and on /v1", async () => {
    const native = await failure(ollama().generate({ model: 'busy', prompt: 'q', stream: false }));
    expect(native).toMatchObject({ status_code: 503, error: 'server busy, please try again.  maximum pending requests exceeded' });
    const viaOpenai = await openai()
      .chat.completions.create({ model: 'busy', messages: [{ role: 'user', content: 'q' }] })
      .catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    expect(viaOpenai).toBeInstanceOf(OpenAI.APIError);
    expect((viaOpenai as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    const r = await rows();
    expect(r.map((x) => [x.status, x.error_kind, x.error])).toEqual([
      [503, 'queue_full', 'server busy, please try again.  maximum pending requests exceeded'],
      [503, 'queue_full', 'server busy, please try again.  maximum pending requests exceeded'],
    ]);
  });

  it('a client that goes away mid-stream: the upstream request is aborted and what was used is recorded', async () => {
    const abortedBefore = upstream.aborted;
    const countedBefore = await metric(collector.registry, 'llmeter_proxy_tokens_total', { model: 'slow:latest', kind: 'output' });
    const stream = await ollama().generate({ model: 'slow', prompt: 'q', stream: true });
    let n = 0;
    // The ollama client ends an aborted iteration with an AbortError.
    await expect(
      (async () => {
        for await (const _ of stream) if (++n === 5) stream.abort();
      })(),
    ).rejects.toThrow(/aborted/);
    const r = await onlyRow();
    expect(r).toMatchObject({ model: 'slow:latest', status: 200, stream: true, error_kind: 'client_abort' });
    // No final chunk came: output tokens are the lines forwarded (one token each for Ollama).
    expect(r.output_tokens).toBeGreaterThanOrEqual(5);
    expect(r.output_tokens).toBeLessThan(100);
    // The token counter on /metrics counts the same estimate as the table.
    expect((await metric(collector.registry, 'llmeter_proxy_tokens_total', { model: 'slow:latest', kind: 'output' })) - countedBefore).toBe(r.output_tokens);
    await expect.poll(() => upstream.aborted).toBe(abortedBefore + 1);
    expect(proxy.state.inflight()).toBe(0);
  });

  it('an upstream that is down: 502 with a clear message', async () => {
    const err = await failure(ollama().generate({ model: 'ghost-7b', prompt: 'q', stream: false }));
    expect(err.status_code).toBe(502);
    expect(err.error).toMatch(/^upstream ollama-down \(http:\/\/127\.0\.0\.1:9\) is unreachable: ECONNREFUSED/);
    expect(await onlyRow()).toMatchObject({ status: 502, backend: 'ollama-down', node: 'gpu-node-2', error_kind: 'upstream_down', ttfb_ms: null });
  });

  it("never stores a key an upstream echoes in its error: neither its own key nor the client's", async () => {
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY_ACME}`, 'content-type': 'application/json', 'x-client-key': KEY_ACME },
      body: JSON.stringify({ model: 'echo-1', messages: [] }),
    });
    expect(res.status).toBe(401);
    // The client gets the upstream's answer as it was: it is the client's own business.
    expect(await res.text()).toContain(UPSTREAM_SECRET);
    const [row] = await rows();
    expect(row).toMatchObject({ status: 401, backend: 'echoes-keys', error_kind: 'upstream_status' });
    expect(row!.error).toMatch(/Incorrect API key provided/);
    expect(row!.error).not.toContain(UPSTREAM_SECRET);
    expect(row!.error).not.toContain(KEY_ACME);
    expect(row!.error).toContain('[redacted]');
  });

  it('an unknown key: 401 in the style of each API', async () => {
    const native = await failure(ollama('not-a-key').chat({ model: 'llama3.2', messages: [], stream: false }));
    expect(native).toMatchObject({ status_code: 401, error: 'unauthorized: invalid API key' });
    const oai = await openai('not-a-key')
      .models.list()
      .catch((e: unknown) => e);
    expect(oai).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((oai as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('invalid_api_key');
    const noKey = await fetch(`${base}/api/tags`);
    expect(noKey.status).toBe(401);
    // Counted, under no tenant, but not stored: nobody can be charged for them.
    expect(await rows()).toEqual([]);
    const m = await (await fetch(`http://${collector.address}/metrics`)).text();
    expect(m).toMatch(/llmeter_proxy_requests_total\{upstream="",model="[^"]*",tenant="",status="401",error_kind="auth"[^}]*\} [1-9]/);
    expect(upstream.seen.filter((s) => s.path === '/api/chat' && s.body.includes('"messages":[]'))).toHaveLength(0);
  });

  it("every answer carries its request id (x-llmeter-request-id), the record's where one is stored", async () => {
    const body = JSON.stringify({ model: 'llama3.2', prompt: 'Why is the sky blue?', stream: false });
    const ok = await fetch(`${base}/api/generate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY_ACME}`, 'content-type': 'application/json' },
      body,
    });
    const okText = await ok.text();
    const denied = await fetch(`${base}/api/generate`, { method: 'POST', headers: { authorization: 'Bearer not-a-key' }, body });
    await denied.text();
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-length')).toBe(String(Buffer.byteLength(okText)));
    expect(denied.status).toBe(401);
    await proxy.idle();
    await collector.pipeline.forceFlush();
    const stored = await collector.store.queryRows<{ request_id: string; status: number }>(
      `SELECT request_id, status FROM ${collector.store.database}.llm_requests ORDER BY ts`,
    );
    const ids = [ok.headers.get('x-llmeter-request-id'), denied.headers.get('x-llmeter-request-id')];
    expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(ids[1]).toMatch(/^[0-9a-f-]{36}$/);
    expect(ids[0]).not.toBe(ids[1]);
    // A refused key charges nobody: no record (it is counted in the metrics).
    expect(stored.map((r) => [r.request_id, r.status])).toEqual([[ids[0], 200]]);
  });

  it('an oversized body: 413', async () => {
    const err = await failure(ollama().generate({ model: 'gemma4', prompt: 'x'.repeat(100_000), stream: false }));
    expect(err.status_code).toBe(413);
    expect(err.error).toMatch(/exceeds the limit of 65536 bytes/);
    expect(await onlyRow()).toMatchObject({ status: 413, error_kind: 'too_large', tenant: 'acme' });
  });

  it('tenant limits: requests per minute and concurrency, 429 with Retry-After', async () => {
    const c = ollama(KEY_LIMITED);
    await c.version();
    await c.version();
    const res = await fetch(`${base}/api/version`, { headers: { authorization: `Bearer ${KEY_LIMITED}` } });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await res.json()).toEqual({ error: 'tenant limited exceeded 2 requests per minute' });

    const slow = await ollama(KEY_SLOW).generate({ model: 'slow', prompt: 'q', stream: true });
    const second = await failure(ollama(KEY_SLOW).version());
    expect(second).toMatchObject({ status_code: 429 });
    slow.abort();
    const r = await rows();
    expect(
      r
        .filter((x) => x.error_kind === 'rate_limited')
        .map((x) => x.tenant)
        .sort(),
    ).toEqual(['limited', 'one-at-a-time']);
  });
});

describe('upstream timeouts and failures mid-response', () => {
  it('no headers in time: 504; a connection cut mid-stream: the client sees the cut, the record says so', async () => {
    const cfg = proxyConfigSchema.parse({
      enabled: true,
      listen: '127.0.0.1:0',
      anonymous_tenant: 't',
      headers_timeout_ms: 150,
      upstreams: [{ name: 'flaky', url: upstream.url }],
    });
    const p = new ProxyServer({ config: cfg, sink: collector.pipeline, registry: new Registry(), log: silentLogger });
    await p.start();
    try {
      const c = new Ollama({ host: `http://${p.address()}` });
      const late = await failure(c.generate({ model: 'hang', prompt: 'q', stream: false }));
      expect(late.status_code).toBe(504);
      expect(late.error).toMatch(/^upstream flaky \(http:\/\/127\.0\.0\.1:\d+\) did not answer in time/);
      const parts: string[] = [];
      await expect(
        (async () => {
          for await (const x of await c.generate({ model: 'cut', prompt: 'q', stream: true })) parts.push(x.response ?? '');
        })(),
      ).rejects.toThrow();
      expect(parts).toEqual(['That']);
      await p.idle();
      const r = await rows("backend = 'flaky'");
      expect(r.map((x) => [x.model, x.status, x.error_kind, x.output_tokens])).toEqual([
        ['hang:latest', 504, 'timeout', 0],
        ['cut:latest', 200, 'stream_error', 1],
      ]);
      expect(r[1]!.error).toMatch(/failed mid-response/);
    } finally {
      await p.shutdown();
    }
  });
});

describe('live load, residency and other deployments', () => {
  it('in-flight counts per upstream and model while a stream runs, on ProxyState and /metrics', async () => {
    const stream = await ollama().generate({ model: 'slow', prompt: 'q', stream: true });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    expect(proxy.state.inflight('ollama-a', 'slow:latest')).toBe(1);
    const metrics = await (await fetch(`http://${collector.address}/metrics`)).text();
    expect(metrics).toMatch(/llmeter_proxy_inflight_requests\{[^}]*upstream="ollama-a",model="slow:latest"[^}]*\} 1/);
    expect(metrics).toMatch(/llmeter_proxy_queued_requests\{[^}]*upstream="ollama-a",model="slow:latest"[^}]*\} 0/);
    stream.abort();
    await proxy.idle();
    expect(proxy.state.inflight()).toBe(0);
  });

  it('polls /api/ps into model_states', async () => {
    const poller = collector.components.find((c) => c.name === 'proxy-ps') as PsPoller;
    await poller.pollAll();
    await collector.pipeline.forceFlush();
    const r = await collector.store.queryRows<Record<string, unknown>>(
      `SELECT server, node, model, digest, size_bytes, size_vram_bytes, expires_at FROM ${collector.store.database}.model_states WHERE server = 'ollama-a'`,
    );
    expect(r).toEqual([
      {
        server: 'ollama-a',
        node: 'gpu-node-1',
        model: 'gemma3:latest',
        digest: 'a2af6cc3eb7fa8be8504abaf9b04e88f17a119ec3f04a3addf55f92841195f5a',
        size_bytes: '5964735424',
        size_vram_bytes: '5964735424',
        expires_at: '2025-08-07 22:07:26.817',
      },
    ]);
    expect(proxy.state.residency('ollama-a')[0]!.models[0]!.sizeVramBytes).toBe(5964735424);
    expect(proxy.state.residency('ollama-down')[0]!.reachable).toBe(false);
    const metrics = await (await fetch(`http://${collector.address}/metrics`)).text();
    expect(metrics).toMatch(/llmeter_proxy_model_vram_bytes\{[^}]*upstream="ollama-a",model="gemma3:latest"[^}]*\} 5964735424/);
  });

  it('a trusted tenant header, an anonymous tenant, and an upstream queue (second proxy)', async () => {
    const cfg = proxyConfigSchema.parse({
      enabled: true,
      listen: '127.0.0.1:0',
      anonymous_tenant: 'walk-in',
      trusted_tenant_header: 'X-Tenant',
      upstreams: [{ name: 'queued', url: upstream.url, node: 'gpu-node-3', max_concurrent: 1, max_queue: 1 }],
    });
    const second = new ProxyServer({ config: cfg, sink: collector.pipeline, registry: new Registry(), log: silentLogger });
    await second.start();
    try {
      const b = `http://${second.address()}`;
      await new Ollama({ host: b, headers: { 'x-tenant': 'team-blue' } }).version();
      expect(upstream.last('/api/version')!.headers['x-tenant']).toBeUndefined();
      await new Ollama({ host: b }).version();
      // One slot: the second stream waits in the proxy, a third finds the queue full.
      const first = await new Ollama({ host: b }).generate({ model: 'slow', prompt: 'q', stream: true });
      const firstIt = first[Symbol.asyncIterator]();
      await firstIt.next();
      const waiting = new Ollama({ host: b }).generate({ model: 'gemma4', prompt: 'q', stream: false });
      await expect.poll(() => second.state.queued('queued')).toBe(1);
      const full = await failure(new Ollama({ host: b }).generate({ model: 'gemma4', prompt: 'q', stream: false }));
      expect(full).toMatchObject({ status_code: 503 });
      await new Promise((r) => setTimeout(r, 30));
      first.abort();
      expect((await waiting).response).toBe('Hello! How can I help you today?');
      await second.idle();
      const r = await rows("backend = 'queued'");
      expect(r.map((x) => [x.tenant, x.endpoint, x.error_kind])).toEqual([
        ['team-blue', '/api/version', ''],
        ['walk-in', '/api/version', ''],
        ['walk-in', '/api/generate', 'client_abort'],
        ['walk-in', '/api/generate', ''],
        ['walk-in', '/api/generate', 'queue_full'],
      ]);
      expect(r[3]!.queue_ms).toBeGreaterThan(25);
    } finally {
      await second.shutdown();
    }
  });
});
