// The machine llmeter runs on as a node: its GPUs as nvidia-smi lists them, the record it writes,
// and when it writes one at all.
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { scrapeConfigSchema } from '../../../exporters/scrape/config.ts';
import { localHostWanted } from '../../../exporters/scrape/index.ts';
import { localGpus, localHostRecord } from '../../../exporters/scrape/inventory/local-host.ts';

// `nvidia-smi --query-gpu=index,name --format=csv,noheader` prints one "index, name" line per GPU.
const SMI_MIXED = '0, NVIDIA L4\n1, NVIDIA H100 80GB HBM3\n2, NVIDIA H100 80GB HBM3\n';

describe('the local host as a node', () => {
  it('reads its GPUs from nvidia-smi, most numerous model first', async () => {
    const args: string[][] = [];
    const gpus = await localGpus(async (a) => {
      args.push([...a]);
      return SMI_MIXED;
    });
    expect(args).toEqual([['--query-gpu=index,name', '--format=csv,noheader']]);
    expect(gpus).toEqual({
      count: 3,
      models: [
        ['NVIDIA H100 80GB HBM3', 2],
        ['NVIDIA L4', 1],
      ],
    });
  });

  it('is a CPU node where nvidia-smi cannot run (no NVIDIA driver), or says nothing it can read', async () => {
    const missing = Object.assign(new Error('spawn nvidia-smi ENOENT'), { code: 'ENOENT' });
    expect(await localGpus(() => Promise.reject(missing))).toEqual({ count: 0, models: [] });
    expect(await localGpus(async () => 'No devices were found\n')).toEqual({ count: 0, models: [] });
  });

  it("writes a record of this host's name, priced by that name unless told otherwise, up until the next refresh", () => {
    const c = scrapeConfigSchema.parse({}).inventory.local_host;
    const cpu = localHostRecord(c, { count: 0, models: [] }, 1_000, 300_000);
    expect(cpu).toMatchObject({
      node: hostname(),
      instance_type: hostname(),
      provider: 'on_prem',
      capacity_type: 'on_prem',
      gpu_count: 0,
      tier: 'standard',
      up_until: 1_000 + 300_000 + 60_000,
    });
    const gpu = localHostRecord(
      { ...c, instance_type: 'g6e.xlarge', provider: 'aws', capacity_type: 'on_demand' },
      {
        count: 3,
        models: [
          ['NVIDIA H100 80GB HBM3', 2],
          ['NVIDIA L4', 1],
        ],
      },
      1_000,
      300_000,
    );
    expect(gpu).toMatchObject({ instance_type: 'g6e.xlarge', gpu_count: 3, gpu_model: 'NVIDIA H100 80GB HBM3', tier: 'premium' });
    expect(gpu.labels).toEqual({ source: 'local-host', 'llmeter.io/gpu-models': '2x NVIDIA H100 80GB HBM3, 1x NVIDIA L4' });
  });

  it('is written when llmeter meters something on this host that no other inventory covers', () => {
    const parse = (s: Record<string, unknown>) => scrapeConfigSchema.parse(s);
    // The proxy in front of a local model server, nothing else configured.
    expect(localHostWanted(parse({}), true)).toBe(true);
    expect(localHostWanted(parse({}), false)).toBe(false);
    // The scrapers with no other inventory.
    expect(localHostWanted(parse({ enabled: true }), false)).toBe(true);
    // A static entry for this host (by name, or local: true), or Kubernetes, covers it.
    expect(localHostWanted(parse({ enabled: true, inventory: { nodes: [{ node: hostname() }] } }), true)).toBe(false);
    expect(localHostWanted(parse({ enabled: true, inventory: { nodes: [{ node: 'vm-1', local: true }] } }), true)).toBe(false);
    expect(localHostWanted(parse({ enabled: true, inventory: { kubernetes: { enabled: true } } }), true)).toBe(false);
    // Static entries for other hosts do not.
    expect(localHostWanted(parse({ enabled: true, inventory: { nodes: [{ node: 'other' }] } }), true)).toBe(true);
    // Said outright.
    expect(localHostWanted(parse({ inventory: { local_host: { enabled: 'off' } } }), true)).toBe(false);
    expect(localHostWanted(parse({ inventory: { local_host: { enabled: 'on' } } }), false)).toBe(true);
  });
});
