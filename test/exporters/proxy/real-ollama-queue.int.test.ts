// Ollama's own queue overflow behind the proxy: a real Ollama (see real-ollama.int.test.ts) with
// OLLAMA_MAX_QUEUE=1. Requests for a model that is not loaded wait in Ollama's scheduler queue until
// the load has begun; the ones that find the queue full get Ollama's 503. The clients' answers, 503s
// and successes alike, must be what the proxy recorded.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Ollama, type GenerateResponse } from 'ollama';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { silentLogger } from '../../../collector/core/log.ts';
import type { ProxyServer } from '../../../exporters/proxy/server.ts';
import { startOllama, TINY, TINY_FULL, type RealOllama } from '../../helpers/ollama.ts';
import type { LlmRequestRow } from '../../helpers/rows.ts';
import { testConfig } from '../../helpers/store.ts';

let server: RealOllama;
let collector: Collector;
let proxy: ProxyServer;

beforeAll(async () => {
  server = await startOllama({ numParallel: 1, maxQueue: 1 });
  collector = await startCollector(
    testConfig({
      pipeline: { batch_ms: 50 },
      proxy: {
        enabled: true,
        listen: '127.0.0.1:0',
        ps_poll_ms: 0,
        anonymous_tenant: 'walk-in',
        upstreams: [{ name: 'cpu-ollama', url: server.url, node: 'cpu-node-1', kind: 'ollama' }],
      },
    }),
    silentLogger,
  );
  proxy = collector.components.find((c) => c.name === 'proxy') as ProxyServer;
});

afterAll(async () => {
  await collector?.shutdown();
  await server?.stop();
});

type Answer = { ok: true; r: GenerateResponse } | { ok: false; status: number; error: string };

it("OLLAMA_MAX_QUEUE overflow: Ollama's own 503 reaches the client unchanged and is recorded as queue_full", async () => {
  const client = new Ollama({ host: `http://${proxy.address()}` });
  const answers: Answer[] = [];
  // Each round sends a burst at the unloaded model; a round whose burst all fitted is followed by
  // another, after an unload.
  for (let round = 0; round < 4 && !answers.some((a) => !a.ok); round++) {
    if (round > 0) await client.generate({ model: TINY, prompt: '', keep_alive: 0 });
    const burst = Array.from({ length: 8 }, () =>
      client.generate({ model: TINY, prompt: 'hi', stream: false, options: { num_predict: 3 } }).then(
        (r): Answer => ({ ok: true, r }),
        (e: { status_code: number; error: string }): Answer => ({ ok: false, status: e.status_code, error: e.error }),
      ),
    );
    answers.push(...(await Promise.all(burst)));
  }
  const refused = answers.filter((a) => !a.ok);
  expect(refused.length).toBeGreaterThan(0);
  expect(refused).toContainEqual({ ok: false, status: 503, error: 'server busy, please try again.  maximum pending requests exceeded' });
  expect(new Set(refused.map((a) => `${a.status} ${a.error}`)).size).toBe(1);

  await proxy.idle();
  await collector.pipeline.forceFlush();
  const rows = await collector.store.queryRows<LlmRequestRow>(
    `SELECT * FROM ${collector.store.database}.llm_requests WHERE prompt_eval_duration_ns > 0 OR status != 200`,
  );
  const recorded = rows
    .map((x) =>
      [
        x.status,
        x.error_kind,
        x.error,
        x.input_tokens,
        x.output_tokens,
        x.load_duration_ns,
        x.prompt_eval_duration_ns,
        x.eval_duration_ns,
        x.total_duration_ns,
      ].join('|'),
    )
    .sort();
  const received = answers
    .map((a) =>
      a.ok
        ? [200, '', '', a.r.prompt_eval_count, a.r.eval_count, a.r.load_duration, a.r.prompt_eval_duration, a.r.eval_duration, a.r.total_duration]
        : [a.status, 'queue_full', a.error, 0, 0, 0, 0, 0, 0],
    )
    .map((x) => x.join('|'))
    .sort();
  expect(recorded).toEqual(received);
  expect(rows.every((x) => x.model === TINY_FULL && x.tenant === 'walk-in' && x.backend === 'cpu-ollama')).toBe(true);
});
