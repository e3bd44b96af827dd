// A tenant whose hard-stop budget is spent is refused at the proxy with a 429 that says why; a tenant
// without hard stop, or within budget, goes through.
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { keyDigestHex } from '../../../collector/core/security/keys.ts';
import type { Budgets } from '../../../collector/features/cost/budgets.ts';
import type { ProxyServer } from '../../../exporters/proxy/server.ts';
import { FleetBuilder, H } from '../../helpers/cost-fleet.ts';
import { testConfig } from '../../helpers/store.ts';
import { FakeUpstream } from '../../helpers/fake-upstream.ts';

const KEY_SPENT = 'llm_test_spent_0123456789';
const KEY_FINE = 'llm_test_fine_0123456789';
let upstream: FakeUpstream;
let collector: Collector;
let base: string;

beforeAll(async () => {
  upstream = new FakeUpstream();
  const url = await upstream.start();
  collector = await startCollector(
    testConfig({
      pipeline: { batch_ms: 20 },
      proxy: {
        enabled: true,
        listen: '127.0.0.1:0',
        ps_poll_ms: 0,
        upstreams: [{ name: 'ollama-a', url, node: 'gpu-node-1', kind: 'ollama' }],
        tenants: [
          { name: 'spent', keys: [`sha256:${keyDigestHex(KEY_SPENT)}`] },
          { name: 'fine', keys: [`sha256:${keyDigestHex(KEY_FINE)}`] },
        ],
      },
      cost: {
        budgets: [
          { tenant: 'spent', daily_usd: '0.10', hard_stop: true },
          { tenant: 'fine', daily_usd: '100', hard_stop: true },
        ],
      },
    }),
    silentLogger,
  );
  base = `http://${(collector.components.find((c) => c.name === 'proxy') as ProxyServer).address()}`;
  // Usage in the current hour (so always "today"): the 'spent' tenant keeps a $600/h node busy; even
  // one elapsed minute costs $10, far past its $0.10 daily budget.
  const now = Date.now();
  const start = now - (now % H);
  await new FleetBuilder()
    .node({ node: 'gpu-node-1', instance_type: 'g5.xlarge', up: [[start, start + H]] })
    .price({ instance_type: 'g5.xlarge', from: start - H, usd: '600' })
    .request({ tenant: 'spent', node: 'gpu-node-1', at: start, gpuSeconds: 3600 })
    .load(collector.pipeline);
  const budgets = collector.components.find((c) => c.name === 'budgets') as Budgets;
  await budgets.refresh();
});
afterAll(async () => {
  await collector?.shutdown();
  await upstream?.close();
});

describe('budget hard stop at the proxy', () => {
  it('refuses the tenant that spent its budget, with the reason and Retry-After', async () => {
    const res = await fetch(`${base}/api/generate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY_SPENT}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama3.2:1b', prompt: 'hi', stream: false }),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3600');
    expect(await res.text()).toMatch(/budget exhausted: tenant spent spent \$\d+\.\d\d of its daily budget of \$0\.10/);
  });

  it('lets a tenant within budget through', async () => {
    const r = await new Ollama({ host: base, headers: { authorization: `Bearer ${KEY_FINE}` } }).generate({
      model: 'llama3.2:1b',
      prompt: 'hi',
      stream: false,
    });
    expect(r.done).toBe(true);
  });
});
