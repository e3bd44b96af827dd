// The layout of a generated history (history.ts): which nodes, GPUs, model servers and tenants it
// has, in which zones, and the incidents it goes through. By default the demo's fleet (catalog.ts,
// habits.ts); `nodes` and `tenants` repeat the demo's shapes and habits, `fleet` names the shapes.
import { DEMO_SHAPES, SIM_ZONE, simGpuUuid, simNodeName, simServerName, type SimMigSlice, type SimNodeShape, type SimServerShape } from './catalog.ts';
import { simHabitOf, simTenantName, type SimHabit } from './habits.ts';

export interface HistoryNodeSpec {
  shape: SimNodeShape;
  /** Default: sim-gpu-a, sim-gpu-b… (sim-cpu-… for CPU shapes), in order of the list. */
  name?: string;
  /** Default: the zones in turn. */
  zone?: string;
}

export interface HistoryOptions {
  seed: number;
  /** Start and end of the range, epoch ms (end excluded). */
  from: number;
  to: number;
  /** GPU nodes in the demo's shapes, taken in turn (default 2: the demo's fleet). Ignored with `fleet`. */
  nodes?: number;
  /** Named node shapes instead of `nodes`. */
  fleet?: readonly HistoryNodeSpec[];
  /** Tenants: the demo's three habits in turn (default 3). */
  tenants?: number;
  /** Multiplies every tenant's request rate (default 1: the demo's rates). */
  rate?: number;
  /** Availability zones nodes are spread over (default: the demo's one). */
  zones?: readonly string[];
  provider?: string;
  region?: string;
  /** dcgm-exporter and vLLM scrape interval (default 15 s). */
  scrapeMs?: number;
  /** Ollama /api/ps poll interval (default 15 s). */
  psPollMs?: number;
  /** Inventory refresh: a `node` record per node (default 5 min). */
  inventoryMs?: number;
  /** Spot price step (default 1 h). */
  priceStepMs?: number;
  /** How long an idle model stays loaded (default Ollama's 5 min). */
  keepAliveMs?: number;
  /** Attribute GPUs to pods as dcgm-exporter does on Kubernetes (default false, as in the demo). */
  pods?: boolean;
  /** XIDs, a rebalance recommendation, a spot interruption with the node going down and coming back, a scheduled event (default false). */
  incidents?: boolean;
  /** Browser events of the chat tenants' app (default false). */
  frontend?: boolean;
  /** Time generated at once; every batch covers at most this much (default 1 h). */
  chunkMs?: number;
}

export interface HistoryGpu {
  uuid: string;
  index: number;
  model: string;
  memoryMiB: number;
  tdpW: number;
  idleW: number;
  slices: readonly SimMigSlice[];
}

export interface HistoryServer {
  name: string;
  shape: SimServerShape;
}

export interface HistoryNode {
  name: string;
  shape: SimNodeShape;
  zone: string;
  gpus: HistoryGpu[];
  server: HistoryServer | undefined;
}

export interface HistoryTenant {
  name: string;
  habit: SimHabit;
}

export interface HistoryIncident {
  at: number;
  kind: 'xid' | 'rebalance_recommendation' | 'spot_interruption' | 'node_down' | 'node_up' | 'scheduled_event';
  node: string;
  /** XID number, for `xid`. */
  xid?: number;
  /** GPU index, for `xid`. */
  gpu?: number;
  /** When the action takes effect. */
  actionAt?: number;
  action?: string;
}

export interface HistoryLayout {
  nodes: HistoryNode[];
  tenants: HistoryTenant[];
  incidents: HistoryIncident[];
  /** The down spell of each node that goes down: [from, to). */
  downtime: Map<string, { from: number; to: number }>;
}

const MIN = 60_000;

export function historyLayout(o: HistoryOptions): HistoryLayout {
  const zones = o.zones && o.zones.length > 0 ? o.zones : [SIM_ZONE];
  const specs: HistoryNodeSpec[] = o.fleet ? [...o.fleet] : Array.from({ length: o.nodes ?? 2 }, (_, i) => ({ shape: DEMO_SHAPES[i % DEMO_SHAPES.length]! }));
  const perStem = new Map<string, number>();
  const nodes = specs.map((spec, i): HistoryNode => {
    const n = perStem.get(spec.shape.stem) ?? 0;
    perStem.set(spec.shape.stem, n + 1);
    const name = spec.name ?? simNodeName(spec.shape.stem, n);
    const gpu = spec.shape.gpu;
    const gpus: HistoryGpu[] = gpu
      ? Array.from({ length: spec.shape.gpuCount }, (_, g) => ({
          uuid: simGpuUuid(name, g),
          index: g,
          model: gpu.model,
          memoryMiB: gpu.memoryMiB,
          tdpW: gpu.tdpW,
          idleW: gpu.idleW,
          slices: spec.shape.mig?.[g] ?? [],
        }))
      : [];
    const server = spec.shape.server ? { name: simServerName(spec.shape.server.kind, name), shape: spec.shape.server } : undefined;
    return { name, shape: spec.shape, zone: spec.zone ?? zones[i % zones.length]!, gpus, server };
  });
  const tenants = Array.from({ length: o.tenants ?? 3 }, (_, i) => ({ name: simTenantName(i), habit: simHabitOf(i) }));
  const incidents: HistoryIncident[] = [];
  const downtime = new Map<string, { from: number; to: number }>();
  if (o.incidents) {
    const span = o.to - o.from;
    const at = (share: number) => o.from + Math.floor((span * share) / MIN) * MIN;
    const gpuNodes = nodes.filter((n) => n.gpus.length > 0);
    const spot = nodes.filter((n) => n.shape.capacityType === 'spot' && n.server);
    if (gpuNodes[0]) incidents.push({ at: at(0.25), kind: 'xid', node: gpuNodes[0].name, xid: 79, gpu: 0 });
    const second = gpuNodes[1] ?? gpuNodes[0];
    if (second) incidents.push({ at: at(0.375), kind: 'xid', node: second.name, xid: 13, gpu: second.gpus.length - 1 });
    if (spot[0]) incidents.push({ at: at(0.375), kind: 'rebalance_recommendation', node: spot[0].name });
    // The last spot node is reclaimed: two minutes' notice, then down, then a new instance half an hour later.
    const victim = spot.at(-1);
    if (victim) {
      const t = at(0.625);
      incidents.push({ at: t, kind: 'spot_interruption', node: victim.name, action: 'terminate', actionAt: t + 2 * MIN });
      incidents.push({ at: t + 2 * MIN, kind: 'node_down', node: victim.name });
      incidents.push({ at: t + 30 * MIN, kind: 'node_up', node: victim.name });
      downtime.set(victim.name, { from: t + 2 * MIN, to: t + 30 * MIN });
    }
    const maintained = nodes.find((n) => n.gpus.length === 0) ?? nodes.find((n) => n.shape.capacityType === 'on_demand');
    if (maintained)
      incidents.push({ at: at(0.75), kind: 'scheduled_event', node: maintained.name, action: 'system-reboot', actionAt: at(0.75) + 24 * 60 * MIN });
    incidents.sort((a, b) => a.at - b.at);
  }
  return { nodes, tenants, incidents, downtime };
}

/** The instance id of a node, which changes when a reclaimed spot node comes back. */
export function instanceIdOf(node: HistoryNode, at: number, layout: HistoryLayout): string {
  const down = layout.downtime.get(node.name);
  return `i-${node.name}${down && at >= down.to ? '-2' : ''}`;
}
