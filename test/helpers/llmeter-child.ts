// `llmeter` as a user runs it: a child process whose output is watched while it runs, that can be
// sent signals, and whose exit code (or killing signal) is reported once it ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { LLMETER_BIN } from './paths.ts';
import { requireTier } from './tiers.ts';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class LlmeterChild {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  private ended: Exit | undefined;

  constructor(args: readonly string[], env: NodeJS.ProcessEnv = {}, cwd?: string) {
    requireTier('An llmeter child process', 'integration', 'kafka');
    this.child = spawn(process.execPath, [LLMETER_BIN, ...args], {
      env: { ...process.env, LLMETER_CONFIG: '', ...env },
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.ended = { code, signal };
        resolve(this.ended);
      });
    });
  }

  get running(): boolean {
    return this.ended === undefined;
  }

  /** Waits until `ok()` holds, failing with what the child printed when it ends or time runs out. */
  async until(ok: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!ok()) {
      if (!this.running) throw new Error(`llmeter exited (${JSON.stringify(this.ended)}) before ${what}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** The exit, or a kill and an error when it does not come in time (no test leaves a process behind). */
  async exit(timeoutMs = 30_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`llmeter did not exit within ${timeoutMs} ms\nstdout: ${this.stdout}\nstderr: ${this.stderr}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Runs llmeter to its end. */
export async function runLlmeter(args: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<Exit & { stdout: string; stderr: string }> {
  const c = new LlmeterChild(args, env);
  const e = await c.exit(timeoutMs);
  return { ...e, stdout: c.stdout, stderr: c.stderr };
}
