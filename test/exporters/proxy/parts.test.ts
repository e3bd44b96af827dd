// The proxy's parts on their own: final-frame parsing of the captures, the usage-chunk stripper
// under arbitrary TCP splits, the include_usage splice, tenants, limits and routing.
import { describe, expect, it } from 'vitest';
import { keyDigestHex } from '../../../collector/core/security/keys.ts';
import { proxyConfigSchema } from '../../../exporters/proxy/config.ts';
import { StreamTail, usageFromBody, usageFromKeys, usageFromNdjson, usageFromSse, UsageChunkStripper } from '../../../exporters/proxy/frames.ts';
import { TenantLimiter } from '../../../exporters/proxy/limits.ts';
import { ollamaModelName } from '../../../exporters/proxy/model-name.ts';
import { parseExpiry } from '../../../exporters/proxy/ps-poller.ts';
import { endpointLabel, injectUsage, inspectBody, needsUsageInjection } from '../../../exporters/proxy/request.ts';
import { TenantResolver, type Tenant } from '../../../exporters/proxy/tenants.ts';
import { Router, Upstream } from '../../../exporters/proxy/upstreams.ts';
import { FIX, fixture, sseEvents } from '../../helpers/fake-upstream.ts';

describe('final frames of the captures', () => {
  it('Ollama NDJSON: counts, durations and prompt_eval_cached_count from the done line', () => {
    const u = usageFromNdjson(fixture(FIX.chatStream));
    expect(u).toMatchObject({
      found: true,
      inputTokens: 29,
      outputTokens: 3,
      cachedTokens: 0,
      loadNs: 19906358300,
      promptEvalNs: 10175903000,
      evalNs: 173639000,
      totalNs: 30258609300,
      error: '',
    });
  });

  it('an error line ends the stream', () => {
    expect(usageFromNdjson(fixture(FIX.midstreamError)).error).toBe('an error was encountered while running the model');
  });

  it('a final line cut short by an abort: the line before it is read, and it holds no counts', () => {
    const text = fixture(FIX.chatStream);
    const cut = text.slice(0, text.length - 40);
    expect(usageFromNdjson(cut)).toMatchObject({ found: false, error: '' });
  });

  it('OpenAI SSE: usage chunk before [DONE], cached tokens from prompt_tokens_details', () => {
    expect(usageFromSse(sseEvents(FIX.openaiStreamCached).join(''))).toMatchObject({ found: true, inputTokens: 13889, outputTokens: 33, cachedTokens: 0 });
    expect(usageFromSse(sseEvents(FIX.openaiStreamGptOss).join(''))).toMatchObject({ found: true, inputTokens: 68, outputTokens: 41 });
    // No capture has a non-zero cached count; the same frame with one shows the field is read.
    const cached = sseEvents(FIX.openaiStreamCached).join('').replace('"cached_tokens":0', '"cached_tokens":13824');
    expect(usageFromSse(cached).cachedTokens).toBe(13824);
  });

  it('OpenAI Responses SSE: the counts sit inside the response of the final response.completed event', () => {
    expect(usageFromSse(sseEvents(FIX.openaiResponsesStream).join(''))).toMatchObject({
      found: true,
      inputTokens: 29,
      outputTokens: 3,
      cachedTokens: 0,
      error: '',
    });
    const failed =
      'event: response.failed\ndata: {"response":{"error":{"code":"server_error","message":"model runner crashed"},"usage":null},"type":"response.failed"}\n\n';
    expect(usageFromSse(failed)).toMatchObject({ found: false, error: 'model runner crashed' });
  });

  it('a whole body too big to parse: the counts are read from its end, never from inside strings', () => {
    const body = JSON.stringify({
      model: 'm',
      embeddings: [[0.1, 0.2]],
      note: 'say \\"eval_count\\": 99 and "prompt_eval_count": 7',
      total_duration: 14143917,
      load_duration: 1019500,
      prompt_eval_count: 8,
    });
    expect(usageFromKeys(body)).toMatchObject({ inputTokens: 8, outputTokens: 0, totalNs: 14143917, loadNs: 1019500 });
    expect(usageFromBody(fixture(FIX.openaiChat), true)).toMatchObject({ inputTokens: 30, outputTokens: 26 });
  });

  it('the tail keeps the last bytes by reference and no more than it needs', () => {
    const t = new StreamTail(10);
    for (let i = 0; i < 100; i++) t.push(Buffer.from(`line ${i}\n`));
    expect(t.size).toBeLessThan(20);
    expect(t.text().endsWith('line 99\n')).toBe(true);
  });
});

describe('hiding the usage chunk the proxy asked for', () => {
  const stream = sseEvents(FIX.openaiStreamCached).join('');

  it.each([1, 2, 7, 64, 100_000])('split every %i bytes: the client gets the stream without the usage chunk', (size) => {
    const s = new UsageChunkStripper();
    const bytes = Buffer.from(stream);
    const out: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += size) out.push(s.push(bytes.subarray(i, i + size)));
    out.push(s.flush());
    const expected = sseEvents(FIX.openaiStreamCached)
      .filter((e) => !e.includes('"choices":[]'))
      .join('');
    expect(Buffer.concat(out).toString()).toBe(expected);
    expect(s.stripped).toBe(1);
  });

  // Ollama's /v1/completions with include_usage: a zero usage member on every chunk, then the usage chunk.
  const completions = sseEvents(FIX.openaiCompletionsStreamUsage);
  const ZERO = ',"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}';

  it.each([1, 3, 64, 100_000])('split every %i bytes: /v1/completions chunks lose the usage member and nothing else', (size) => {
    expect(completions.filter((e) => e.includes(ZERO))).toHaveLength(5);
    const s = new UsageChunkStripper();
    const bytes = Buffer.from(completions.join(''));
    const out: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += size) out.push(s.push(bytes.subarray(i, i + size)));
    out.push(s.flush());
    const expected = completions
      .filter((e) => !e.includes('"choices":[]'))
      .map((e) => e.replace(ZERO, ''))
      .join('');
    expect(Buffer.concat(out).toString()).toBe(expected);
    expect(expected).not.toContain('"usage"');
    expect(s.stripped).toBe(1);
  });

  it('a usage member that is null, or not last, goes too; one inside a choice or a string stays', () => {
    const s = new UsageChunkStripper();
    const events = [
      'data: {"id":"c","choices":[{"delta":{"content":"hi"}}],"usage":null}\n\n',
      'data: {"id":"c","usage":{"prompt_tokens":0},"choices":[{"delta":{"content":"\\"usage\\":{}"}}]}\n\n',
      'data: {"id":"c","choices":[{"delta":{},"usage":{"x":1}}]}\n\n',
    ];
    const out = Buffer.concat([s.push(Buffer.from(events.join(''))), s.flush()]).toString();
    expect(out).toBe(
      'data: {"id":"c","choices":[{"delta":{"content":"hi"}}]}\n\n' + 'data: {"id":"c","choices":[{"delta":{"content":"\\"usage\\":{}"}}]}\n\n' + events[2],
    );
    expect(s.stripped).toBe(0);
  });

  it('a stream that had no usage chunk passes unchanged', () => {
    const s = new UsageChunkStripper();
    const plain = sseEvents(FIX.openaiStreamCached)
      .filter((e) => !e.includes('"choices":[]'))
      .join('');
    expect(Buffer.concat([s.push(Buffer.from(plain)), s.flush()]).toString()).toBe(plain);
    expect(s.stripped).toBe(0);
  });
});

describe('stream_options.include_usage', () => {
  it("is spliced in front of the client's own bytes, which follow unchanged", () => {
    const body = Buffer.from(' {\n  "model": "m", "stream": true, "messages": [{"role":"user","content":"é"}]}');
    const info = inspectBody(body);
    expect(needsUsageInjection('/v1/chat/completions', info)).toBe(true);
    const out = injectUsage(body, info).toString();
    expect(out).toBe('{"stream_options":{"include_usage":true},"model": "m", "stream": true, "messages": [{"role":"user","content":"é"}]}');
    expect(JSON.parse(out)).toEqual({ ...(JSON.parse(body.toString()) as object), stream_options: { include_usage: true } });
  });

  it('is set inside stream_options the client sent without it', () => {
    const body = Buffer.from('{"model":"m","stream":true,"stream_options":{"include_usage":false,"x":1}}');
    const out = JSON.parse(injectUsage(body, inspectBody(body)).toString()) as { stream_options: unknown };
    expect(out.stream_options).toEqual({ include_usage: true, x: 1 });
  });

  it('is left alone when asked for, when not streaming, and on other endpoints', () => {
    expect(needsUsageInjection('/v1/chat/completions', inspectBody(Buffer.from('{"model":"m","stream":true,"stream_options":{"include_usage":true}}')))).toBe(
      false,
    );
    expect(needsUsageInjection('/v1/chat/completions', inspectBody(Buffer.from('{"model":"m"}')))).toBe(false);
    expect(needsUsageInjection('/api/chat', inspectBody(Buffer.from('{"model":"m","stream":true}')))).toBe(false);
  });

  it('endpoints with ids in the path are folded', () => {
    expect(endpointLabel('/api/blobs/sha256:abc')).toBe('/api/blobs/:digest');
    expect(endpointLabel('/v1/models/llama3.2')).toBe('/v1/models/:model');
  });
});

describe('tenants and limits', () => {
  const cfg = proxyConfigSchema.parse({
    upstreams: [{ name: 'u', url: 'http://127.0.0.1:1' }],
    tenants: [{ name: 'acme', keys: [`sha256:${keyDigestHex('k-acme')}`], limits: { requests_per_minute: 60 } }],
  });

  it('keys map to tenants; unknown and missing keys are refused', () => {
    const r = new TenantResolver(cfg);
    expect(r.resolve({ authorization: 'Bearer k-acme' })).toMatchObject({ ok: true, tenant: { name: 'acme' }, viaKey: true });
    expect(r.resolve({ authorization: 'Bearer nope' })).toMatchObject({ ok: false, reason: 'invalid API key' });
    expect(r.resolve({})).toMatchObject({ ok: false });
  });

  it('the trusted header wins only when configured, and its value is checked', () => {
    const plain = new TenantResolver(cfg);
    expect(plain.resolve({ 'x-tenant': 'acme' })).toMatchObject({ ok: false });
    const gw = new TenantResolver({ ...cfg, trusted_tenant_header: 'X-Tenant' });
    expect(gw.resolve({ 'x-tenant': 'team-1' })).toMatchObject({ ok: true, tenant: { name: 'team-1' } });
    expect(gw.resolve({ 'x-tenant': 'bad name;' })).toMatchObject({ ok: false });
  });

  it('requests per minute: a token bucket with a Retry-After that says when the next one fits', () => {
    let now = 0;
    const l = new TenantLimiter(() => now);
    const t: Tenant = { name: 't', limits: { max_concurrent: 0, requests_per_minute: 3 } };
    for (let i = 0; i < 3; i++) expect(l.admit(t).ok).toBe(true);
    const denied = l.admit(t);
    expect(denied).toMatchObject({ ok: false, retryAfterS: 20 });
    now = 20_000;
    expect(l.admit(t).ok).toBe(true);
  });

  it('concurrency: released slots are free again', () => {
    const l = new TenantLimiter();
    const t: Tenant = { name: 'c', limits: { max_concurrent: 2, requests_per_minute: 0 } };
    const a = l.admit(t);
    const b = l.admit(t);
    expect(l.admit(t).ok).toBe(false);
    if (a.ok) {
      a.release();
      a.release();
    }
    expect(l.admit(t).ok).toBe(true);
    expect(l.admit(t).ok).toBe(false);
    expect(b.ok).toBe(true);
  });
});

describe('routing', () => {
  const mk = (name: string, extra: Record<string, unknown>) =>
    new Upstream(proxyConfigSchema.parse({ upstreams: [{ name, url: 'http://127.0.0.1:1', ...extra }] }).upstreams[0]!, { headersMs: 1000, bodyMs: 1000 }, '.');

  it('by model first, then by path, then the catch-all', async () => {
    const gpu = mk('gpu', { models: ['llama3*', 'qwen2.5:7b'] });
    const vllm = mk('vllm', { kind: 'vllm', models: ['meta-llama/*'], paths: ['/v1/'] });
    const cpu = mk('cpu', {});
    const r = new Router([gpu, vllm, cpu]);
    expect(r.route('/api/chat', 'llama3.2:1b')?.name).toBe('gpu');
    expect(r.route('/api/chat', 'qwen2.5:14b')?.name).toBe('cpu');
    expect(r.route('/api/chat', 'qwen2.5:7b:latest')?.name).toBe('gpu');
    expect(r.route('/api/chat', 'qwen2.5:7b')?.name).toBe('gpu');
    expect(r.route('/v1/chat/completions', 'meta-llama/Llama-3.1-8B-Instruct')?.name).toBe('vllm');
    expect(r.route('/v1/models', '')?.name).toBe('vllm');
    expect(r.route('/api/tags', '')?.name).toBe('cpu');
    expect(new Router([gpu, vllm]).route('/api/chat', 'mistral')).toBeUndefined();
    await Promise.all([gpu, vllm, cpu].map((u) => u.close()));
  });

  it('passes over a draining upstream for new requests while another serves the model', async () => {
    const a = mk('spot-a', { models: ['llama3*'] });
    const b = mk('spot-b', { models: ['llama3*'] });
    const r = new Router([a, b]);
    const draining = new Set<string>();
    const avoid = (u: Upstream) => draining.has(u.name);
    expect(r.route('/api/chat', 'llama3.2:1b', avoid)?.name).toBe('spot-a');
    draining.add('spot-a');
    expect(r.route('/api/chat', 'llama3.2:1b', avoid)?.name).toBe('spot-b');
    // When every candidate drains, the request still goes somewhere rather than failing.
    draining.add('spot-b');
    expect(r.route('/api/chat', 'llama3.2:1b', avoid)?.name).toBe('spot-a');
    await Promise.all([a, b].map((u) => u.close()));
  });

  it('Ollama model names in the form /api/ps shows them: the tag explicit, the default registry left out', () => {
    const cases: [string, string][] = [
      ['tiny', 'tiny:latest'],
      ['tiny:latest', 'tiny:latest'],
      ['llama3.2:1b', 'llama3.2:1b'],
      ['library/llama3.2', 'llama3.2:latest'],
      ['registry.ollama.ai/library/qwen2.5:7b', 'qwen2.5:7b'],
      ['jmorgan/m', 'jmorgan/m:latest'],
      ['hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M', 'hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M'],
      ['localhost:5000/team/m', 'localhost:5000/team/m:latest'],
      ['', ''],
      ['a/b/c/d', 'a/b/c/d'],
    ];
    for (const [given, shown] of cases) expect(ollamaModelName(given), given).toBe(shown);
  });

  it('expiry times from /api/ps: offsets and nanoseconds; "never" is null', () => {
    expect(parseExpiry('2025-08-08T00:07:26.817827822+02:00')).toBe(Date.UTC(2025, 7, 7, 22, 7, 26, 817));
    expect(parseExpiry('2318-01-01T00:00:00Z')).toBeNull();
    expect(parseExpiry(undefined)).toBeNull();
  });
});
