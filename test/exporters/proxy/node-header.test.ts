// proxy.upstreams[].node_header: behind one address a pool of model servers answers, and a sidecar
// beside each server names its node in a response header. The record takes the node from it (when
// it is a node name), the client never sees it, and an upstream without the setting passes the
// same header through untouched.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { silentLogger } from '../../../collector/core/log.ts';
import type { RecordSink, SubmitResult } from '../../../collector/core/pipeline/pipeline.ts';
import type { LlmRequestRecord } from '../../../collector/core/schema/tables.ts';
import { proxyConfigSchema } from '../../../exporters/proxy/config.ts';
import { ProxyServer } from '../../../exporters/proxy/server.ts';

const records: LlmRequestRecord[] = [];
const sink: RecordSink = {
  submit(signal, batch) {
    if (signal === 'llm_request') records.push(...(batch as unknown as LlmRequestRecord[]));
    return Promise.resolve({ accepted: batch.length, rejected: 0, dropped: 0, reasons: [], durable: Promise.resolve() } satisfies SubmitResult);
  },
};

let upstream: Server;
let proxy: ProxyServer;
let base: string;

beforeAll(async () => {
  // Answers like Ollama's /api/generate, naming the node the test asks for (?node=) in x-llmeter-node.
  upstream = createServer((req, res) => {
    const node = new URL(req.url!, 'http://x').searchParams.get('node');
    res.writeHead(200, { 'content-type': 'application/json', ...(node !== null ? { 'x-llmeter-node': node } : {}) });
    res.end(JSON.stringify({ model: 'tiny', response: 'hi', done: true, prompt_eval_count: 3, eval_count: 1 }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const config = proxyConfigSchema.parse({
    enabled: true,
    listen: '127.0.0.1:0',
    ps_poll_ms: 0,
    anonymous_tenant: 'anonymous',
    upstreams: [
      { name: 'pool', url, node: 'gpu-pool', node_header: 'X-Llmeter-Node', models: ['tiny'] },
      { name: 'plain', url, node: 'vm-1', paths: ['/plain'] },
    ],
  });
  proxy = new ProxyServer({ config, sink, registry: new Registry(), log: silentLogger });
  await proxy.start();
  base = `http://${proxy.address()}`;
});

afterAll(async () => {
  await proxy?.shutdown();
  await new Promise((r) => upstream?.close(r));
});

async function generate(query: string, path = '/api/generate', model = 'tiny'): Promise<{ node: string | undefined; header: string | null }> {
  records.length = 0;
  const res = await fetch(`${base}${path}${query}`, { method: 'POST', body: JSON.stringify({ model, prompt: 'q', stream: false }) });
  expect(res.status).toBe(200);
  await res.text();
  await proxy.idle();
  expect(records).toHaveLength(1);
  return { node: records[0]!.node, header: res.headers.get('x-llmeter-node') };
}

describe('proxy.upstreams[].node_header', () => {
  it('records the node the sidecar names, and keeps the header from the client', async () => {
    expect(await generate('?node=ip-10-0-1-17.ec2.internal')).toEqual({ node: 'ip-10-0-1-17.ec2.internal', header: null });
    expect(await generate('?node=gke-gpu-pool-7f3a')).toEqual({ node: 'gke-gpu-pool-7f3a', header: null });
  });

  it("falls back to the upstream's node when the header is missing or is no node name", async () => {
    expect(await generate('')).toEqual({ node: 'gpu-pool', header: null });
    expect(await generate('?node=')).toEqual({ node: 'gpu-pool', header: null });
    expect(await generate(`?node=${encodeURIComponent('a b;c')}`)).toEqual({ node: 'gpu-pool', header: null });
    expect(await generate(`?node=${'n'.repeat(300)}`)).toEqual({ node: 'gpu-pool', header: null });
  });

  it('leaves an upstream without the setting alone: its node is the configured one, the header reaches the client', async () => {
    expect(await generate('?node=elsewhere', '/plain/api/generate', 'other')).toEqual({ node: 'vm-1', header: 'elsewhere' });
  });

  it('refuses a header name that is not one', () => {
    expect(() => proxyConfigSchema.parse({ upstreams: [{ name: 'p', url: 'http://127.0.0.1:1', node_header: 'x node' }] })).toThrow(/node_header/);
  });
});
