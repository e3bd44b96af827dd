// A Kubernetes node's labels (and providerID, GPU capacity) → its identity for cost joins. Every
// provisioner spells instance type, zone, region, pool and spot capacity its own way; all the
// spellings in use are read here, the well-known topology labels first.
import type { CAPACITY_TYPES } from '../../../collector/core/schema/tables.ts';

export type CapacityType = (typeof CAPACITY_TYPES)[number];

export interface NodeFacts {
  name: string;
  labels: Record<string, string>;
  providerID?: string;
  /** status.capacity['nvidia.com/gpu'] */
  gpuCapacity?: string;
  /** The Ready condition is True: the node runs (an absent or Unknown condition is not evidence). */
  ready?: boolean;
}

export interface NodeIdentity {
  node: string;
  instance_type: string;
  instance_id: string;
  provider: string;
  region: string;
  zone: string;
  capacity_type: CapacityType;
  gpu_model: string;
  gpu_count: number;
  pool: string;
  tier: string;
  labels: Record<string, string>;
  /** The source saw the node running (Kubernetes Ready, the host llmeter runs on), not only listed. */
  up: boolean;
}

function first(l: Record<string, string>, keys: readonly string[]): string {
  for (const k of keys) {
    const v = l[k];
    if (v) return v;
  }
  return '';
}

const INSTANCE_TYPE = ['node.kubernetes.io/instance-type', 'beta.kubernetes.io/instance-type'];
const REGION = ['topology.kubernetes.io/region', 'failure-domain.beta.kubernetes.io/region'];
const ZONE = ['topology.kubernetes.io/zone', 'failure-domain.beta.kubernetes.io/zone', 'topology.gke.io/zone'];
const POOL = [
  'karpenter.sh/nodepool',
  'karpenter.sh/provisioner-name',
  'eks.amazonaws.com/nodegroup',
  'alpha.eksctl.io/nodegroup-name',
  'cloud.google.com/gke-nodepool',
  'kubernetes.azure.com/agentpool',
  'agentpool',
  'oci.oraclecloud.com/node-pool-id',
  'node-pool',
];
const GPU_MODEL = ['nvidia.com/gpu.product', 'karpenter.k8s.aws/instance-gpu-name', 'cloud.google.com/gke-accelerator', 'accelerator'];
const GPU_COUNT = ['nvidia.com/gpu.count', 'karpenter.k8s.aws/instance-gpu-count'];

/** Labels kept on the node record: the ones read above plus the spot/capacity spellings. */
const KEPT = new Set([
  ...INSTANCE_TYPE,
  ...REGION,
  ...ZONE,
  ...POOL,
  ...GPU_MODEL,
  ...GPU_COUNT,
  'eks.amazonaws.com/capacityType',
  'karpenter.sh/capacity-type',
  'cloud.google.com/gke-spot',
  'cloud.google.com/gke-preemptible',
  'kubernetes.azure.com/scalesetpriority',
  'oci.oraclecloud.com/oke-is-preemptible',
  'node.kubernetes.io/lifecycle',
  'lifecycle',
  'nvidia.com/gpu.memory',
  'karpenter.k8s.aws/instance-gpu-memory',
  'cloud.google.com/machine-family',
  'kubernetes.io/arch',
]);

/** spot / on-demand / reserved from whichever provisioner's label the node carries. */
export function capacityTypeOf(l: Record<string, string>): CapacityType {
  const eks = l['eks.amazonaws.com/capacityType'];
  if (eks) {
    const v = eks.toUpperCase();
    if (v === 'SPOT') return 'spot';
    if (v === 'CAPACITY_BLOCK') return 'reserved';
    return 'on_demand';
  }
  const karpenter = l['karpenter.sh/capacity-type'];
  if (karpenter) {
    const v = karpenter.toLowerCase();
    if (v === 'spot') return 'spot';
    if (v === 'reserved') return 'reserved';
    return 'on_demand';
  }
  if (l['cloud.google.com/gke-spot'] === 'true' || l['cloud.google.com/gke-preemptible'] === 'true') return 'spot';
  if ((l['kubernetes.azure.com/scalesetpriority'] ?? '').toLowerCase() === 'spot') return 'spot';
  if (l['oci.oraclecloud.com/oke-is-preemptible'] === 'true') return 'spot';
  const lifecycle = (l['node.kubernetes.io/lifecycle'] ?? l.lifecycle ?? '').toLowerCase();
  if (lifecycle === 'spot' || lifecycle === 'ec2spot' || lifecycle === 'preemptible') return 'spot';
  return 'on_demand';
}

/** aws:///us-east-1a/i-0123 → aws, i-0123; gce://project/zone/name → gcp, name; azure://…/virtualMachines/3 → azure, 3. */
export function parseProviderId(id: string | undefined): { provider: string; instanceId: string } {
  if (!id) return { provider: '', instanceId: '' };
  const m = /^([a-z0-9-]+):\/\/(.*)$/i.exec(id);
  if (!m) return { provider: '', instanceId: '' };
  const scheme = m[1]!.toLowerCase();
  const provider = scheme === 'gce' ? 'gcp' : scheme;
  const parts = m[2]!.split('/').filter(Boolean);
  return { provider, instanceId: parts[parts.length - 1] ?? '' };
}

export function nodeIdentity(n: NodeFacts, tierLabel: string): NodeIdentity {
  const l = n.labels;
  const { provider, instanceId } = parseProviderId(n.providerID);
  const countText = first(l, GPU_COUNT) || n.gpuCapacity || '';
  const count = /^\d+$/.test(countText) ? Math.min(Number(countText), 65535) : 0;
  const kept: Record<string, string> = {};
  for (const k of Object.keys(l)) if (KEPT.has(k) || k === tierLabel) kept[k] = l[k]!;
  return {
    node: n.name,
    instance_type: first(l, INSTANCE_TYPE),
    instance_id: instanceId,
    provider,
    region: first(l, REGION),
    zone: first(l, ZONE),
    capacity_type: capacityTypeOf(l),
    gpu_model: first(l, GPU_MODEL),
    gpu_count: count,
    pool: first(l, POOL),
    tier: l[tierLabel] || (count > 0 ? 'premium' : 'standard'),
    labels: kept,
    up: n.ready === true,
  };
}
