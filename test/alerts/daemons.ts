// Starts Prometheus and Alertmanager (Debian's binaries) on loopback for the paging test: free
// ports, temporary directories, readiness polled on /-/ready, and a kill that waits for the exit.
import { spawn, type ChildProcess } from 'node:child_process';

export interface Daemon {
  readonly name: string;
  readonly url: string;
  /** Everything the process wrote, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

export async function startDaemon(name: string, cmd: string, args: readonly string[], port: number, timeoutMs = 20_000): Promise<Daemon> {
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const daemon: Daemon = {
    name,
    url,
    log: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(t);
      }
    },
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output}`);
    try {
      const res = await fetch(`${url}/-/ready`);
      if (res.ok) return daemon;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await daemon.stop();
  throw new Error(`${name} not ready within ${timeoutMs} ms:\n${output}`);
}
