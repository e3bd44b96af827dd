// The node-naming sidecar of the Kubernetes layout, for real: Debian's nginx runs the template the
// base ships (written out as nginx's image does at start-up, NODE_NAME filled in), in front of a real
// Ollama (scripts/prereqs/30-ollama.sh), and the metering proxy reaches it with the upstream
// settings of the layout's collector configuration. Every request is recorded on the node the
// sidecar names, the figures are the ones Ollama sent, the client never sees the header, and a
// stream passes line by line.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ollama } from 'ollama';
import { Registry } from 'prom-client';
import { parse } from 'yaml';
import { configSchema } from '../../collector/app/config-schema.ts';
import { silentLogger } from '../../collector/core/log.ts';
import type { RecordSink, SubmitResult } from '../../collector/core/pipeline/pipeline.ts';
import type { LlmRequestRecord } from '../../collector/core/schema/tables.ts';
import { proxyConfigSchema } from '../../exporters/proxy/config.ts';
import { ProxyServer } from '../../exporters/proxy/server.ts';
import { freePort } from '../helpers/net.ts';
import { startOllama, TINY, type RealOllama } from '../helpers/ollama.ts';
import { ROOT } from '../helpers/paths.ts';
import { tempDir } from '../helpers/store.ts';
import { waitFor } from '../helpers/wait.ts';
import { kustomizeBuild, type K8sObject } from './kustomize.ts';

const NGINX = '/usr/sbin/nginx';
const NODE = 'ip-10-0-1-17.ec2.internal';

const records: LlmRequestRecord[] = [];
const sink: RecordSink = {
  submit(signal, batch) {
    if (signal === 'llm_request') records.push(...(batch as unknown as LlmRequestRecord[]));
    return Promise.resolve({ accepted: batch.length, rejected: 0, dropped: 0, reasons: [], durable: Promise.resolve() } satisfies SubmitResult);
  },
};

let ollama: RealOllama;
let nginx: ChildProcess;
let nginxLog = '';
let proxy: ProxyServer;
let base: string;
let template: string;
/** The same template in front of a server that writes a stream line by line, on request. */
let paced: string;
let pacer: Server;
let pacedResponse: ServerResponse | undefined;

beforeAll(async () => {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} is missing: run scripts/prereqs/10-debian-packages.sh (npm test runs it)`);
  const objects = kustomizeBuild(path.join(ROOT, 'deploy/kubernetes/base'));
  const find = (kind: string, name: string) => objects.find((o: K8sObject) => o.kind === kind && o.metadata.name === name)!;
  template = find('ConfigMap', 'ollama-node-sidecar').data!['default.conf.template']!;
  const collector = configSchema.parse(parse(find('ConfigMap', 'llmeter-config').data!['llmeter.yaml']!));
  const upstream = collector.proxy.upstreams.find((u) => u.name === 'ollama-standard')!;

  ollama = await startOllama();
  // What nginx's image does with /etc/nginx/templates at start-up: ${VAR} of the variables set
  // replaced, nginx's own $variables left alone. Then the addresses of this machine.
  const dir = tempDir('llmeter-nginx-');
  const port = await freePort();
  expect(template).toContain('listen 8080;');
  expect(template).toContain('proxy_pass http://127.0.0.1:11434;');
  const conf = template
    .replaceAll('${NODE_NAME}', NODE)
    .replace('listen 8080;', `listen 127.0.0.1:${port};`)
    .replace('proxy_pass http://127.0.0.1:11434;', `proxy_pass ${ollama.url};`);
  // The same template in front of a server that writes one line of a stream and writes the next only
  // once the test has received the first: the line must come through on its own.
  pacer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.write('{"model":"tiny","response":"a","done":false}\n');
    pacedResponse = res;
  });
  await new Promise<void>((r) => pacer.listen(0, '127.0.0.1', r));
  const pacedPort = await freePort();
  const pacedConf = template
    .replaceAll('${NODE_NAME}', NODE)
    .replace('listen 8080;', `listen 127.0.0.1:${pacedPort};`)
    .replace('proxy_pass http://127.0.0.1:11434;', `proxy_pass http://127.0.0.1:${(pacer.address() as AddressInfo).port};`);
  paced = `http://127.0.0.1:${pacedPort}`;
  writeFileSync(path.join(dir, 'default.conf'), `${conf}\n${pacedConf}`);
  for (const d of ['body', 'proxy']) mkdirSync(path.join(dir, d));
  // The image's own nginx.conf around it: a foreground master, temporary files in a writable place.
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    `daemon off;\nworker_processes 1;\npid ${dir}/nginx.pid;\nerror_log stderr warn;\nevents { worker_connections 64; }\n` +
      `http {\n  access_log off;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n  fastcgi_temp_path ${dir}/proxy;\n  uwsgi_temp_path ${dir}/proxy;\n  scgi_temp_path ${dir}/proxy;\n  include ${dir}/default.conf;\n}\n`,
  );
  nginx = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  nginx.stderr!.on('data', (d: Buffer) => (nginxLog += d.toString()));
  const sidecar = `http://127.0.0.1:${port}`;
  await waitFor(
    'nginx in front of Ollama',
    () =>
      fetch(`${sidecar}/api/version`).then(
        (r) => r.ok,
        () => false,
      ),
    15_000,
    { explain: () => nginxLog },
  );

  const config = proxyConfigSchema.parse({
    enabled: true,
    listen: '127.0.0.1:0',
    ps_poll_ms: 0,
    anonymous_tenant: 'anonymous',
    upstreams: [{ ...upstream, url: sidecar }],
  });
  proxy = new ProxyServer({ config, sink, registry: new Registry(), log: silentLogger });
  await proxy.start();
  base = `http://${proxy.address()}`;
});

afterAll(async () => {
  await proxy?.shutdown();
  nginx?.kill('SIGQUIT');
  await ollama?.stop();
  pacedResponse?.destroy();
  await new Promise((r) => pacer?.close(r));
});

async function recorded(): Promise<LlmRequestRecord> {
  await proxy.idle();
  const all = records.splice(0);
  expect(all).toHaveLength(1);
  return all[0]!;
}

describe('the node-naming sidecar (deploy/kubernetes/base/node-sidecar.yaml)', () => {
  it('a streamed /api/generate is recorded on the node the sidecar names, with the figures Ollama sent; the client never sees the header', async () => {
    const res = await fetch(`${base}/api/generate`, {
      method: 'POST',
      body: JSON.stringify({ model: TINY, prompt: 'count', stream: true, options: { num_predict: 48, temperature: 0, seed: 7 } }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-llmeter-node')).toBeNull();
    const reads: string[] = [];
    const decoder = new TextDecoder();
    for await (const chunk of res.body!) reads.push(decoder.decode(chunk as Uint8Array, { stream: true }));
    const lines = reads.join('').trim().split('\n');
    const last = JSON.parse(lines.at(-1)!) as { done: boolean; prompt_eval_count: number; eval_count: number; eval_duration: number };
    expect(last.done).toBe(true);
    expect(lines.length).toBeGreaterThan(20);

    const r = await recorded();
    expect(r.node).toBe(NODE);
    expect(r.backend).toBe('ollama-standard');
    expect([r.input_tokens, r.output_tokens, Number(r.eval_duration_ns)]).toEqual([last.prompt_eval_count, last.eval_count, last.eval_duration]);
  });

  it('passes a stream on line by line: the first line reaches the client before the next is written', async () => {
    const res = await fetch(`${paced}/api/generate`, { method: 'POST', body: '{}' });
    expect(res.headers.get('x-llmeter-node')).toBe(NODE);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let got = '';
    while (!got.includes('\n')) {
      const { value, done } = await reader.read();
      expect(done, 'the stream ended before its first line arrived').toBe(false);
      got += decoder.decode(value, { stream: true });
    }
    expect(JSON.parse(got.trim())).toMatchObject({ response: 'a', done: false });
    pacedResponse!.end('{"model":"tiny","response":"","done":true}\n');
    while (!(await reader.read()).done);
  });

  it('so is a whole answer through the official client, and an error from Ollama', async () => {
    const client = new Ollama({ host: base });
    const chat = await client.chat({ model: TINY, messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 4 } });
    const r = await recorded();
    expect({ node: r.node, status: r.status, output: r.output_tokens }).toEqual({ node: NODE, status: 200, output: chat.eval_count });

    const missing = await fetch(`${base}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'no-such-model', prompt: 'q', stream: false }) });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-llmeter-node')).toBeNull();
    const e = await recorded();
    expect({ node: e.node, status: e.status }).toEqual({ node: NODE, status: 404 });
  });

  it('passes what it does not know straight through (the model list, a large body)', async () => {
    const tags = (await (await fetch(`${base}/api/tags`)).json()) as { models: { name: string }[] };
    expect(tags.models.map((m) => m.name)).toContain(`${TINY}:latest`);
    expect((await recorded()).node).toBe(NODE);
    // Past nginx's default client_max_body_size (1 MiB): the template lifts it, so Ollama itself
    // answers (it knows no such model) rather than nginx's 413.
    const big = 'word '.repeat(400_000);
    const res = await fetch(`${base}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'no-such-model', prompt: big, stream: false }) });
    expect(res.status, await res.clone().text()).toBe(404);
    await res.text();
    expect((await recorded()).node).toBe(NODE);
  });
});
