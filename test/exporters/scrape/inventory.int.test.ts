import { writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { scrapeConfigSchema } from '../../../exporters/scrape/config.ts';
import { buildScrape } from '../../../exporters/scrape/build.ts';
import { tempDir, testConfig } from '../../helpers/store.ts';
import { fixture, PageServer } from '../../helpers/page-server.ts';

// Node objects as the API server returns them (v1 NodeList), one per provisioner's labelling; label
// keys and values follow the provider documentation collected in the shared node-label reference.
// `ready`: the Ready condition's status; null: the node object has no conditions yet.
function node(name: string, labels: Record<string, string>, providerID?: string, gpus?: string, ready: 'True' | 'False' | null = 'True') {
  return {
    metadata: {
      name,
      uid: `uid-${name}`,
      resourceVersion: '1',
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', ...labels },
    },
    spec: providerID ? { providerID } : {},
    status: {
      capacity: { cpu: '8', memory: '32Gi', ...(gpus ? { 'nvidia.com/gpu': gpus } : {}) },
      allocatable: { cpu: '8' },
      ...(ready
        ? {
            conditions: [
              { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory' },
              { type: 'Ready', status: ready, reason: ready === 'True' ? 'KubeletReady' : 'KubeletNotReady' },
            ],
          }
        : {}),
    },
  };
}

const WELL_KNOWN = (type: string, region: string, zone: string) => ({
  'node.kubernetes.io/instance-type': type,
  'topology.kubernetes.io/region': region,
  'topology.kubernetes.io/zone': zone,
});

const NODES = [
  node(
    'eks-spot',
    { ...WELL_KNOWN('g5.xlarge', 'us-east-1', 'us-east-1a'), 'eks.amazonaws.com/capacityType': 'SPOT', 'eks.amazonaws.com/nodegroup': 'gpu-spot' },
    'aws:///us-east-1a/i-0123456789abcdef0',
    '1',
  ),
  node(
    'eks-od',
    { ...WELL_KNOWN('m6i.large', 'us-east-1', 'us-east-1b'), 'eks.amazonaws.com/capacityType': 'ON_DEMAND', 'eks.amazonaws.com/nodegroup': 'cpu' },
    'aws:///us-east-1b/i-0aaaaaaaaaaaaaaaa',
  ),
  node(
    'eks-block',
    { ...WELL_KNOWN('p5.48xlarge', 'us-east-1', 'us-east-1a'), 'eks.amazonaws.com/capacityType': 'CAPACITY_BLOCK' },
    'aws:///us-east-1a/i-0bbbbbbbbbbbbbbbb',
    '8',
  ),
  node(
    'karpenter-spot',
    {
      ...WELL_KNOWN('p5.48xlarge', 'us-west-2', 'us-west-2c'),
      'karpenter.sh/capacity-type': 'spot',
      'karpenter.sh/nodepool': 'gpu',
      'karpenter.k8s.aws/instance-gpu-name': 'h100',
      'karpenter.k8s.aws/instance-gpu-count': '8',
      'karpenter.k8s.aws/instance-gpu-manufacturer': 'nvidia',
    },
    'aws:///us-west-2c/i-0ccccccccccccccc0',
  ),
  node(
    'karpenter-reserved',
    { ...WELL_KNOWN('p4d.24xlarge', 'us-west-2', 'us-west-2a'), 'karpenter.sh/capacity-type': 'reserved' },
    'aws:///us-west-2a/i-0dddddddddddddddd',
  ),
  node(
    'gke-spot',
    {
      ...WELL_KNOWN('a2-highgpu-1g', 'us-central1', 'us-central1-a'),
      'cloud.google.com/gke-spot': 'true',
      'cloud.google.com/gke-accelerator': 'nvidia-tesla-a100',
      'cloud.google.com/gke-nodepool': 'gpu-pool',
    },
    'gce://my-project/us-central1-a/gke-gpu-pool-1234',
    '1',
  ),
  node(
    'gke-preemptible',
    { ...WELL_KNOWN('n1-standard-4', 'us-central1', 'us-central1-b'), 'cloud.google.com/gke-preemptible': 'true' },
    'gce://my-project/us-central1-b/gke-old-pool-5678',
    undefined,
    'False',
  ),
  node(
    'aks-spot',
    {
      ...WELL_KNOWN('Standard_NC24ads_A100_v4', 'eastus', 'eastus-1'),
      'kubernetes.azure.com/scalesetpriority': 'spot',
      'kubernetes.azure.com/agentpool': 'gpuspot',
    },
    'azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-gpuspot-1/virtualMachines/3',
    '1',
  ),
  node(
    'oke-preemptible',
    { ...WELL_KNOWN('VM.GPU.A10.1', 'us-ashburn-1', 'US-ASHBURN-AD-1'), 'oci.oraclecloud.com/oke-is-preemptible': 'true' },
    'ocid1.instance.oc1.iad.abc',
    undefined,
    null,
  ),
  node('self-managed', {
    ...WELL_KNOWN('g4dn.xlarge', 'eu-west-1', 'eu-west-1a'),
    'node.kubernetes.io/lifecycle': 'spot',
    'nvidia.com/gpu.product': 'Tesla-T4',
    'nvidia.com/gpu.count': '1',
    'llmeter.io/tier': 'gold',
  }),
  node('gpu-node-titan', { 'nvidia.com/gpu.product': 'NVIDIA-TITAN-V', 'nvidia.com/gpu.count': '8' }),
];

class FakeApiServer {
  readonly requests: { url: string; headers: IncomingHttpHeaders }[] = [];
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.requests.push({ url: req.url ?? '', headers: req.headers });
      const url = new URL(req.url ?? '/', 'http://x');
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.headers.authorization !== 'Bearer test-token')
        return json(401, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401 });
      if (url.pathname === '/api/v1/nodes') {
        // Two pages, as the API server does with limit/continue.
        const second = url.searchParams.get('continue') === 'page-2';
        const items = second ? NODES.slice(6) : NODES.slice(0, 6);
        return json(200, { kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '42', ...(second ? {} : { continue: 'page-2' }) }, items });
      }
      if (url.pathname === '/api/v1/pods') {
        const name = (url.searchParams.get('fieldSelector') ?? '').replace(/^metadata\.name=/, '');
        const items =
          name === 'dcgm-exporter-lcxpl'
            ? [
                {
                  metadata: { name, namespace: 'gpu-operator', uid: 'p1' },
                  spec: { nodeName: 'gpu-node-titan', containers: [{ name: 'exporter', image: 'nvcr.io/nvidia/k8s/dcgm-exporter' }] },
                  status: { phase: 'Running' },
                },
              ]
            : [];
        return json(200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '43' }, items });
      }
      json(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}

describe('node inventory from the Kubernetes API', () => {
  const api = new FakeApiServer();
  const pages = new PageServer();
  let collector: Collector;
  let nodes: Map<string, Record<string, unknown>>;
  let gpuNodes: string[];

  beforeAll(async () => {
    await api.start();
    await pages.start();
    pages.set('/titan', { body: fixture('dcgm', 'dcgm-k8s-empty-pod-labels-8gpu-titanv.prom') });
    const tokenFile = path.join(tempDir(), 'token');
    writeFileSync(tokenFile, 'test-token\n');
    collector = await startCollector(testConfig({ pipeline: { batch_ms: 50 } }), silentLogger, { withoutHttp: true });
    const config = scrapeConfigSchema.parse({
      enabled: true,
      targets: [{ name: 'titan', kind: 'dcgm', url: pages.url('/titan') }],
      inventory: { kubernetes: { enabled: true, api_url: `http://127.0.0.1:${api.port}`, token_file: tokenFile } },
    });
    const f = buildScrape({ config, sink: collector.pipeline, registry: collector.registry, log: silentLogger });
    const [scraped] = await f.scraper.scrapeAll();
    expect(scraped!.ok, scraped!.error).toBe(true);
    await scraped!.durable;
    const inv = await f.inventory!.refresh();
    expect(inv.nodes).toBe(NODES.length);
    await inv.result!.durable;
    const rows = await collector.store.queryRows<Record<string, unknown>>('SELECT * FROM nodes');
    nodes = new Map(rows.map((r) => [r.node as string, r]));
    gpuNodes = (await collector.store.queryRows<{ node: string }>('SELECT DISTINCT node FROM gpu_metrics')).map((r) => r.node);
  });
  afterAll(async () => {
    await collector?.shutdown();
    await api.stop();
    await pages.stop();
  });

  it('lists every node across pages, with the bearer token', () => {
    const lists = api.requests.filter((r) => r.url.startsWith('/api/v1/nodes'));
    expect(lists).toHaveLength(2);
    expect(lists[1]!.url).toContain('continue=page-2');
    expect(nodes.size).toBe(NODES.length);
  });

  it("reads each provider's spelling of spot, instance type, zone, region, pool and GPUs", () => {
    expect(nodes.get('eks-spot')).toMatchObject({
      capacity_type: 'spot',
      instance_type: 'g5.xlarge',
      region: 'us-east-1',
      zone: 'us-east-1a',
      provider: 'aws',
      instance_id: 'i-0123456789abcdef0',
      pool: 'gpu-spot',
      gpu_count: 1,
      tier: 'premium',
    });
    expect(nodes.get('eks-od')).toMatchObject({ capacity_type: 'on_demand', pool: 'cpu', gpu_count: 0, tier: 'standard' });
    expect(nodes.get('eks-block')).toMatchObject({ capacity_type: 'reserved', gpu_count: 8 });
    expect(nodes.get('karpenter-spot')).toMatchObject({ capacity_type: 'spot', pool: 'gpu', gpu_model: 'h100', gpu_count: 8, zone: 'us-west-2c' });
    expect(nodes.get('karpenter-reserved')).toMatchObject({ capacity_type: 'reserved' });
    expect(nodes.get('gke-spot')).toMatchObject({
      capacity_type: 'spot',
      provider: 'gcp',
      instance_id: 'gke-gpu-pool-1234',
      gpu_model: 'nvidia-tesla-a100',
      pool: 'gpu-pool',
    });
    expect(nodes.get('gke-preemptible')).toMatchObject({ capacity_type: 'spot' });
    expect(nodes.get('aks-spot')).toMatchObject({
      capacity_type: 'spot',
      provider: 'azure',
      instance_id: '3',
      pool: 'gpuspot',
      instance_type: 'Standard_NC24ads_A100_v4',
    });
    expect(nodes.get('oke-preemptible')).toMatchObject({ capacity_type: 'spot', zone: 'US-ASHBURN-AD-1' });
    expect(nodes.get('self-managed')).toMatchObject({ capacity_type: 'spot', gpu_model: 'Tesla-T4', gpu_count: 1, tier: 'gold' });
    expect((nodes.get('eks-spot')!.labels as Record<string, string>)['eks.amazonaws.com/capacityType']).toBe('SPOT');
  });

  it('says a Ready node is up until the next refresh is due; a NotReady node, or one with no Ready condition, only listed', () => {
    const upFor = (n: string) => {
      const r = nodes.get(n)!;
      return r.up_until === null ? null : Date.parse(`${r.up_until as string}Z`) - Date.parse(`${r.ts as string}Z`);
    };
    // The default refresh, and a minute for a late timer.
    expect(upFor('eks-spot')).toBe(300_000 + 60_000);
    expect(upFor('gpu-node-titan')).toBe(300_000 + 60_000);
    expect(upFor('gke-preemptible')).toBeNull();
    expect(upFor('oke-preemptible')).toBeNull();
  });

  it('maps the dcgm-exporter pod name in Hostname to the node the pod runs on', () => {
    expect(gpuNodes).toEqual(['gpu-node-titan']);
    expect(api.requests.some((r) => r.url.includes('fieldSelector=metadata.name%3Ddcgm-exporter-lcxpl'))).toBe(true);
    // The node's own labels win over what dcgm-exporter reported.
    expect(nodes.get('gpu-node-titan')).toMatchObject({ gpu_model: 'NVIDIA-TITAN-V', gpu_count: 8, tier: 'premium' });
  });
});
