// A model server stand-in for the proxy benchmark: answers Ollama's /api/generate and the
// OpenAI-compatible /v1/chat/completions in their real wire formats, streaming N tokens at a fixed
// cadence, or at once when not streamed. It does no work per token beyond writing the bytes, so
// whatever a proxy adds is what the benchmark sees.
//
//   node bench/upstream/paced-upstream.ts [--tokens 16] [--cadence-ms 1]   → prints "listening PORT"
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
}

const TOKENS = arg('tokens', 16);
const CADENCE_MS = arg('cadence-ms', 1);
const PORT = arg('port', 0);

// The shapes of the real captures (test/fixtures/ollama): Ollama 0.34 NDJSON and OpenAI SSE.
const ollamaLine = (i: number) => `{"model":"bench","created_at":"${new Date().toISOString()}","response":"tok${i}","done":false}\n`;
const ollamaFinal = () =>
  `{"model":"bench","created_at":"${new Date().toISOString()}","response":"","done":true,"done_reason":"stop","total_duration":174560334,"load_duration":101397084,"prompt_eval_count":11,"prompt_eval_duration":13074791,"eval_count":${TOKENS},"eval_duration":52479709}\n`;
const ollamaWhole = () =>
  `{"model":"bench","created_at":"${new Date().toISOString()}","response":"${'tok '.repeat(TOKENS).trim()}","done":true,"done_reason":"stop","total_duration":174560334,"load_duration":101397084,"prompt_eval_count":11,"prompt_eval_duration":13074791,"eval_count":${TOKENS},"eval_duration":52479709}`;
const created = () => Math.floor(Date.now() / 1000);
const sseChunk = (i: number) =>
  `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":${created()},"model":"bench","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"content":"tok${i}"},"finish_reason":null}]}\n\n`;
const sseTail = (usage: boolean) =>
  `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":${created()},"model":"bench","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n` +
  (usage
    ? `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":${created()},"model":"bench","system_fingerprint":"fp_ollama","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":${TOKENS},"total_tokens":${11 + TOKENS}}}\n\n`
    : '') +
  'data: [DONE]\n\n';
const chatWhole = () =>
  `{"id":"chatcmpl-1","object":"chat.completion","created":${created()},"model":"bench","system_fingerprint":"fp_ollama","choices":[{"index":0,"message":{"role":"assistant","content":"${'tok '.repeat(TOKENS).trim()}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":${TOKENS},"total_tokens":${11 + TOKENS}}}`;

function paced(res: ServerResponse, first: number, make: (i: number) => string, tail: () => string): void {
  let i = first;
  const tick = () => {
    if (res.destroyed) return;
    if (i >= TOKENS) {
      res.end(tail());
      return;
    }
    res.write(make(i++));
    setTimeout(tick, CADENCE_MS);
  };
  tick();
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length
      ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { stream?: boolean; stream_options?: { include_usage?: boolean } })
      : {};
    const url = req.url ?? '/';
    if (url === '/api/generate') {
      if (body.stream === false) {
        const text = ollamaWhole();
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
        return res.end(text);
      }
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      return paced(res, 0, ollamaLine, ollamaFinal);
    }
    if (url === '/v1/chat/completions' || url === '/chat/completions') {
      if (body.stream !== true) {
        const text = chatWhole();
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        return res.end(text);
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      return paced(res, 0, sseChunk, () => sseTail(body.stream_options?.include_usage === true));
    }
    if (url === '/v1/models' || url === '/models') {
      const text = '{"object":"list","data":[{"id":"bench","object":"model","created":1783237329,"owned_by":"library"}]}';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      return res.end(text);
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('404 page not found');
  });
});
server.keepAliveTimeout = 65_000;
server.listen(PORT, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
