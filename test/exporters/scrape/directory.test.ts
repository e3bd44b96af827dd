// An exporter pod's name is looked up in the background. A lookup that fails (the API down, pods the
// collector may not list) leaves the name as it is until the retry, and is logged and counted, so a
// fleet whose GPUs all show under pod names has a reason on /metrics.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BackgroundFailures } from '../../../collector/core/lifecycle/background.ts';
import { silentLogger } from '../../../collector/core/log.ts';
import { NodeDirectory } from '../../../exporters/scrape/inventory/directory.ts';

describe('NodeDirectory', () => {
  it('counts a pod lookup that failed and asks again only after retryMs', async () => {
    const registry = new Registry();
    const directory = new NodeDirectory({}, { retryMs: 1_000, failures: new BackgroundFailures(registry, silentLogger) });
    let asked = 0;
    directory.setLookup(async () => {
      asked++;
      throw new Error('pods is forbidden: cannot list resource "pods" at the cluster scope');
    });
    expect(directory.resolve('dcgm-exporter-lcxpl', 0)).toBeUndefined();
    await directory.settled();
    const m = await registry.getSingleMetric('llmeter_background_failures_total')!.get();
    expect(m.values).toEqual([expect.objectContaining({ labels: { component: 'node-directory' }, value: 1 })]);
    expect(directory.resolve('dcgm-exporter-lcxpl', 500)).toBeUndefined();
    await directory.settled();
    expect(asked).toBe(1);
    directory.resolve('dcgm-exporter-lcxpl', 1_000);
    await directory.settled();
    expect(asked).toBe(2);
  });
});
