// The node label rules on their own: spot labels, provider IDs, the GPU count from the node capacity;
// and what a static inventory says about its nodes.
import { hostname } from 'node:os';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../collector/core/log.ts';
import type { RecordSink } from '../../../collector/core/pipeline/pipeline.ts';
import type { NodeRecord } from '../../../collector/core/schema/tables.ts';
import { scrapeConfigSchema } from '../../../exporters/scrape/config.ts';
import { NodeDirectory } from '../../../exporters/scrape/inventory/directory.ts';
import { isThisHost } from '../../../collector/core/node-name.ts';
import { Inventory } from '../../../exporters/scrape/inventory/inventory.ts';
import { capacityTypeOf, nodeIdentity, parseProviderId } from '../../../exporters/scrape/inventory/labels.ts';
import { ScrapeMetrics } from '../../../exporters/scrape/metrics.ts';

describe('node label rules', () => {
  it('absent spot labels mean on-demand; unknown values too', () => {
    expect(capacityTypeOf({})).toBe('on_demand');
    expect(capacityTypeOf({ 'cloud.google.com/gke-spot': 'false' })).toBe('on_demand');
    expect(capacityTypeOf({ 'karpenter.sh/capacity-type': 'on-demand' })).toBe('on_demand');
    expect(capacityTypeOf({ lifecycle: 'Ec2Spot' })).toBe('spot');
  });

  it('parses provider IDs', () => {
    expect(parseProviderId('aws:///us-east-1a/i-0123')).toEqual({ provider: 'aws', instanceId: 'i-0123' });
    expect(parseProviderId('gce://p/z/n')).toEqual({ provider: 'gcp', instanceId: 'n' });
    expect(parseProviderId('kind://docker/kind/kind-control-plane')).toEqual({ provider: 'kind', instanceId: 'kind-control-plane' });
    expect(parseProviderId(undefined)).toEqual({ provider: '', instanceId: '' });
  });

  it('takes the GPU count from the node capacity when no label gives it', () => {
    expect(nodeIdentity({ name: 'n', labels: {}, gpuCapacity: '4' }, 'llmeter.io/tier')).toMatchObject({ gpu_count: 4, tier: 'premium' });
  });
});

describe('a static inventory', () => {
  it('lists its nodes without saying they run, except the machine llmeter runs on (by its name, or said so)', async () => {
    const config = scrapeConfigSchema.parse({ inventory: { nodes: [{ node: hostname() }, { node: 'elsewhere' }, { node: 'vm-1', local: true }] } }).inventory;
    const submitted: NodeRecord[] = [];
    const sink = {
      submit: async (_signal: string, records: readonly NodeRecord[]) => {
        submitted.push(...records);
        return { accepted: records.length, rejected: 0, dropped: 0, reasons: [], durable: Promise.resolve(), lost: () => false };
      },
    } as unknown as RecordSink;
    const inv = new Inventory({
      config,
      directory: new NodeDirectory(),
      sink,
      metrics: new ScrapeMetrics(new Registry()),
      log: silentLogger,
      now: () => 1_000_000,
    });
    await inv.refresh();
    expect(submitted.map((r) => [r.node, r.up_until])).toEqual([
      [hostname(), 1_000_000 + config.refresh_ms + 60_000],
      ['elsewhere', null],
      ['vm-1', 1_000_000 + config.refresh_ms + 60_000],
    ]);
  });

  it('knows this host by its name or the first label of it', () => {
    expect(isThisHost('gpu-1', 'gpu-1.example.com')).toBe(true);
    expect(isThisHost('GPU-1.example.com', 'gpu-1')).toBe(true);
    expect(isThisHost('gpu-10', 'gpu-1')).toBe(false);
  });
});
