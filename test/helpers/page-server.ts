// A real HTTP server that serves metrics pages the way dcgm-exporter and vLLM do (text/plain;
// version=0.0.4), from the captured fixtures or from text a test sets. Pages can be changed, made to
// fail, hang or grow between scrapes.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fixtureText } from './paths.ts';
import { freePort } from './net.ts';

export function fixture(kind: 'dcgm' | 'vllm', file: string): string {
  return fixtureText(kind, file);
}

export interface PageBehaviour {
  body?: string;
  status?: number;
  /** Never answer (for timeouts). */
  hang?: boolean;
  delayMs?: number;
}

export class PageServer {
  readonly pages = new Map<string, PageBehaviour>();
  readonly hits = new Map<string, number>();
  private server: Server | undefined;
  private port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const p = (req.url ?? '/').split('?')[0]!;
      this.hits.set(p, (this.hits.get(p) ?? 0) + 1);
      const b = this.pages.get(p);
      if (!b) {
        res.writeHead(404).end('not found');
        return;
      }
      if (b.hang) return;
      const send = () => {
        res.writeHead(b.status ?? 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(b.body ?? '');
      };
      if (b.delayMs) setTimeout(send, b.delayMs);
      else send();
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  url(p: string): string {
    return `http://127.0.0.1:${this.port}${p}`;
  }

  set(p: string, b: PageBehaviour): void {
    this.pages.set(p, b);
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

/** A URL on which nothing listens. */
export async function deadUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}/metrics`;
}
