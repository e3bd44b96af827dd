// The floor for any Node.js proxy in the proxy benchmark: a node:http server that reads the body
// and forwards the request with undici's Pool.dispatch, writing the response back as it arrives.
// No authentication, routing, parsing or records: what it adds over going direct is the cost of
// one more process and HTTP hop, which the metering proxy cannot go below.
//
//   node bench/upstream/bare-forwarder.ts http://127.0.0.1:PORT   → prints "forwarding on http://…"
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';

const target = process.argv[2];
if (!target) throw new Error('usage: bare-forwarder.ts <upstream origin>');
const pool = new Pool(target, { connections: 256, pipelining: 1 });

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const headers: Record<string, string> = { 'content-length': String(body.length) };
    const ct = req.headers['content-type'];
    if (ct) headers['content-type'] = ct;
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart() {},
      onResponseStart(_c, status, h) {
        const out: Record<string, string | string[]> = {};
        for (const k in h) if (k !== 'connection' && k !== 'keep-alive' && h[k] !== undefined) out[k] = h[k]!;
        res.writeHead(status, out);
        if (out['content-length'] === undefined) res.flushHeaders();
      },
      onResponseData(_c, chunk: Buffer) {
        res.write(chunk);
      },
      onResponseEnd() {
        res.end();
      },
      onResponseError() {
        res.destroy();
      },
    };
    pool.dispatch({ method: (req.method ?? 'GET') as Dispatcher.HttpMethod, path: req.url ?? '/', headers, body }, handler);
  });
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`forwarding on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
