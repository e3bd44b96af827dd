// A real Ollama for tests: the binary scripts/prereqs/30-ollama.sh builds into .cache/ollama/, started
// on a free loopback port with its own HOME and OLLAMA_MODELS in a temporary directory, and the tiny
// generated model created in it as `tiny`. One per test file.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { once } from '../../collector/core/lifecycle/component.ts';
import { tempDir } from './store.ts';
import { ROOT } from './paths.ts';
import { requireTier } from './tiers.ts';
import { freePort } from './net.ts';

/** The pinned Ollama release (scripts/ollama/VERSION) as the binary reports it, without the `v`. */
export const OLLAMA_VERSION = readFileSync(path.join(ROOT, 'scripts/ollama/VERSION'), 'utf8').trim().replace(/^v/, '');
export const OLLAMA_BINARY = path.join(ROOT, '.cache/ollama', `v${OLLAMA_VERSION}`, 'ollama');
export const TINY_GGUF = path.join(ROOT, '.cache/ollama/models/tiny.gguf');

/** The model the helper creates: the name a client asks for, and Ollama's full `name:tag`. */
export const TINY = 'tiny';
export const TINY_FULL = 'tiny:latest';

// A chat template, so /api/chat and the OpenAI and Anthropic endpoints have one. One thread per
// runner: the test machines' cores are shared, and the model needs no more. A small context keeps
// the load quick.
const TEMPLATE = '{{- range .Messages }}<|{{ .Role }}|>{{ .Content }}\n{{ end }}<|assistant|>';
const PARAMETERS = { num_ctx: 512, num_thread: 1 };

export interface RealOllamaOptions {
  /** OLLAMA_NUM_PARALLEL: requests one loaded model serves at once. */
  numParallel?: number;
  /** OLLAMA_MAX_QUEUE: requests waiting for the scheduler before Ollama answers 503. */
  maxQueue?: number;
}

export interface RealOllama {
  /** http://127.0.0.1:<port> */
  url: string;
  /** What the server printed so far (for a failing test's message). */
  log(): string;
  stop(): Promise<void>;
}

/** Starts `ollama serve` and creates the tiny model in it. */
export async function startOllama(o: RealOllamaOptions = {}): Promise<RealOllama> {
  requireTier('A real Ollama', 'integration');
  if (!existsSync(OLLAMA_BINARY) || !existsSync(TINY_GGUF)) {
    throw new Error(`no Ollama build at ${OLLAMA_BINARY} (or no model at ${TINY_GGUF}): run scripts/prereqs/30-ollama.sh, which \`npm test\` runs first`);
  }
  const dir = tempDir('llmeter-ollama-');
  const home = path.join(dir, 'home');
  mkdirSync(home);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    // serve writes its identity key under $HOME/.ollama: keep it out of the real home.
    HOME: home,
    TMPDIR: dir,
    OLLAMA_HOST: `127.0.0.1:${port}`,
    OLLAMA_MODELS: path.join(dir, 'models'),
    OLLAMA_NUM_PARALLEL: String(o.numParallel ?? 1),
    OLLAMA_MAX_QUEUE: String(o.maxQueue ?? 512),
    OLLAMA_NOPRUNE: '1',
  };
  // Its own process group, so that stopping it also stops the model runners it spawned.
  const child = spawn(OLLAMA_BINARY, ['serve'], { env, cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString('utf8')).slice(-64 * 1024);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const server: RealOllama = {
    url,
    log: () => output,
    stop: once(async () => {
      await stopGroup(child, exited);
      rmSync(dir, { recursive: true, force: true });
    }),
  };
  try {
    await waitUntilUp(url, child);
    await createTiny(url);
  } catch (err) {
    await server.stop();
    throw new Error(`${(err as Error).message}\n--- ollama serve said:\n${output.slice(-4000)}`, { cause: err });
  }
  return server;
}

async function waitUntilUp(url: string, child: ChildProcess): Promise<void> {
  const until = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`ollama serve exited (${child.exitCode ?? child.signalCode})`);
    try {
      if ((await fetch(`${url}/api/version`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`ollama serve did not answer on ${url} within 30 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Uploads the GGUF as a blob and creates `tiny` from it (what `ollama create` does). */
async function createTiny(url: string): Promise<void> {
  const gguf = readFileSync(TINY_GGUF);
  const digest = `sha256:${createHash('sha256').update(gguf).digest('hex')}`;
  const blob = await fetch(`${url}/api/blobs/${digest}`, { method: 'POST', body: gguf });
  if (!blob.ok) throw new Error(`uploading the model blob: ${blob.status} ${await blob.text()}`);
  const res = await fetch(`${url}/api/create`, {
    method: 'POST',
    body: JSON.stringify({ model: TINY, files: { 'tiny.gguf': digest }, template: TEMPLATE, parameters: PARAMETERS, stream: false }),
  });
  const text = await res.text();
  if (!res.ok || !text.includes('success')) throw new Error(`creating the model: ${res.status} ${text}`);
}

async function stopGroup(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const kill = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  kill('SIGTERM');
  const late = setTimeout(() => kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(late);
  // The runners live in the same group; one that outlived serve goes now.
  kill('SIGKILL');
}
