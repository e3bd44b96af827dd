// Helpers shared by the price tests: validated rows written straight to the store, and a local HTTP
// server that answers with captured payloads.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { rowToObject, validatorFor } from '../../collector/core/records/validate.ts';
import { pricePoints, type PricePointRecord } from '../../collector/core/schema/tables.ts';
import type { Store } from '../../collector/core/store/store.ts';
import { fixtureText } from './paths.ts';

export function fixture(name: string): string {
  return fixtureText('prices', name);
}

export function fixtureJson<T = unknown>(name: string): T {
  return JSON.parse(fixture(name)) as T;
}

export async function insertPoints(store: Store, points: readonly PricePointRecord[]): Promise<void> {
  const validate = validatorFor('price_point');
  const rows = points.map((p) => {
    const v = validate(p);
    if (!v.ok) throw new Error(v.errors.join('; '));
    return rowToObject(pricePoints, v.row);
  });
  await store.insert('price_points', rows);
}

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface FakeServer {
  url: string;
  requests: Recorded[];
  close(): Promise<void>;
}

export type Reply = (req: Recorded, res: ServerResponse) => void | Promise<void>;

/** A real HTTP server on 127.0.0.1 whose answers come from `reply`; every request is recorded. */
export async function fakeServer(reply: Reply): Promise<FakeServer> {
  const requests: Recorded[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(r);
      Promise.resolve(reply(r, res)).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function send(res: ServerResponse, status: number, body: string, type = 'application/json', headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, ...headers });
  res.end(body);
}
