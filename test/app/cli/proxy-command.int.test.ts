// `llmeter proxy --upstream URL --listen HOST:PORT` as a user runs it: a separate process, a real
// client through it, Ctrl-C, and the request is in the store afterwards.
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Ollama } from 'ollama';
import { openStore } from '../../../collector/core/store/store.ts';
import { testConfig, tempDir } from '../../helpers/store.ts';
import { FakeUpstream } from '../../helpers/fake-upstream.ts';
import { ROOT } from '../../helpers/paths.ts';

const dir = tempDir('llmeter-proxy-cli-');
const upstream = new FakeUpstream();

afterAll(async () => {
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

it('runs the proxy until SIGINT and the requests it metered are stored', async () => {
  const url = await upstream.start();
  writeFileSync(path.join(dir, 'llmeter.yaml'), 'log_level: warn\n');
  const child = spawn(
    process.execPath,
    [
      'bin/llmeter.js',
      '-c',
      path.join(dir, 'llmeter.yaml'),
      '--data-dir',
      path.join(dir, 'data'),
      'proxy',
      '--upstream',
      url,
      '--listen',
      '127.0.0.1:0',
      '--http-listen',
      '127.0.0.1:0',
      '--node',
      'gpu-7',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const address = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /llmeter proxy on (http:\/\/[\d.:]+)/.exec(out);
      if (m) resolve(m[1]!);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`exited ${code}: ${out}`)));
  });
  expect(out).toContain(`upstream: upstream ${url} (ollama)`);
  expect(out).toContain('anonymous requests: anonymous');

  // OpenAI-style clients always send some key; with no tenants configured it is the anonymous tenant's.
  const client = new Ollama({ host: address, headers: { authorization: 'Bearer ollama' } });
  const reply = await client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false });
  expect(reply.message.content).toBe('Hello! How are you today?');

  child.kill('SIGINT');
  expect(await exited).toBe(0);

  const store = await openStore(testConfig({}, path.join(dir, 'data')).store);
  try {
    const rows = await store.queryRows<Record<string, unknown>>(
      `SELECT tenant, backend, node, endpoint, input_tokens, output_tokens FROM ${store.database}.llm_requests`,
    );
    expect(rows).toEqual([{ tenant: 'anonymous', backend: 'upstream', node: 'gpu-7', endpoint: '/api/chat', input_tokens: 26, output_tokens: 298 }]);
  } finally {
    await store.close();
  }
});
