// What a chargeback could not price, said where it is read: node-minutes with no price, spot
// minutes priced at on-demand, requests on nodes with no inventory, a fleet with no price at all.
// Each gap names its node and says how to close it (the price-book entry to add, the price feed
// to sync, the inventory or proxy setting to fix), once, for every format and the command line.

/** A node of the report as its gaps need it: its minutes and its inventory as last observed in the period. */
export interface GapNode {
  node: string;
  pool: string;
  instance_type: string;
  provider: string;
  region: string;
  zone: string;
  capacity_type: string;
  on_demand_fallback_minutes: number;
  unpriced_minutes: number;
}

/** Node-minutes the report priced at $0 (`unpriced`) or at on-demand for want of a spot price (`on_demand_fallback`). */
export interface PriceGap {
  kind: 'unpriced' | 'on_demand_fallback';
  node: string;
  pool: string;
  instance_type: string;
  provider: string;
  region: string;
  zone: string;
  capacity_type: string;
  minutes: number;
  /** The `prices.book` entry that prices the node (YAML, the price left to fill in). */
  book_entry: string;
  /** The `llmeter prices sync` source for the node's cloud and capacity type; empty when no feed has it. */
  sync_source: string;
  /** One line: the node, its minutes and how to price it. */
  message: string;
}

/** Requests that ran on a node the report could not price (no inventory, or not seen up in their hour), or with no node at all. */
export interface UnattributedRequests {
  /** Empty: requests recorded with no node. */
  node: string;
  requests: number;
  tenants: string[];
  /** One line: the node, the requests and how to attribute them. */
  message: string;
}

/** The feed that prices a provider's instances (`llmeter prices sync <source>`), by capacity type. */
export function syncSourceFor(provider: string, capacityType: string): string {
  switch (provider) {
    case 'aws':
      return capacityType === 'spot' ? 'aws-spot' : capacityType === 'on_demand' ? 'aws-on-demand' : '';
    case 'azure':
    case 'gcp':
    case 'runpod':
    case 'vast':
    case 'lambda':
      return provider;
    default:
      return '';
  }
}

/** The configuration key of a sync source (`aws-spot` is configured under `prices.sources.aws_spot`). */
const sourceKey = (source: string) => source.replace(/-/g, '_');

const PRICE_PLACEHOLDER = '"<USD>"';

/** The price-book entry for an instance type and capacity type, as YAML a user pastes into llmeter.yaml. */
export function bookEntryYaml(instanceType: string, capacityType: string): string {
  const type = instanceType === '' ? '<host class>' : /^[\w.\-/]+$/.test(instanceType) ? instanceType : JSON.stringify(instanceType);
  return `prices:\n  book:\n    - { instance_type: ${type}, capacity_type: ${capacityType || 'on_demand'}, price: ${PRICE_PLACEHOLDER}, unit: hour }\n`;
}

/** The entry alone, on one line, for messages. */
const bookEntryLine = (yaml: string) => yaml.split('\n')[2]!.replace(/^\s*- /, '');

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function describeNode(n: GapNode): string {
  const where = [n.provider, n.region].filter(Boolean).join(' ') || 'no provider or region';
  return `node ${n.node} (${n.instance_type || 'no instance type'}, ${where}, ${n.capacity_type || 'no capacity type'})`;
}

function priceGap(n: GapNode, kind: PriceGap['kind'], minutes: number): PriceGap {
  const book_entry = bookEntryYaml(n.instance_type, n.capacity_type);
  const sync_source = syncSourceFor(n.provider, n.capacity_type);
  const sync = sync_source ? `run \`llmeter prices sync ${sync_source}\` (prices.sources.${sourceKey(sync_source)}, with its region and instance type)` : '';
  // A book entry is stored by `prices sync book` (or at start-up with prices.enabled).
  const book = `add a prices.book entry ${bookEntryLine(book_entry)} and run \`llmeter prices sync book\``;
  let message: string;
  if (kind === 'on_demand_fallback') {
    message = `${describeNode(n)}: ${plural(minutes, 'node-minute')} were priced at on-demand because no ${n.capacity_type} price was known — ${[sync, book].filter(Boolean).join(' or ')}`;
  } else if (n.instance_type === '') {
    message =
      `${describeNode(n)}: ${plural(minutes, 'node-minute')} had no price and cost $0 in this report — the node has no instance type, so no price can match it: ` +
      `give it one in the inventory (scrape.inventory.nodes[].instance_type, a host class such as "gpu-box") and ${book.replace('<host class>', 'that class')}`;
  } else {
    message = `${describeNode(n)}: ${plural(minutes, 'node-minute')} had no price and cost $0 in this report — ${[book, sync].filter(Boolean).join(' or ')}`;
  }
  return {
    kind,
    node: n.node,
    pool: n.pool,
    instance_type: n.instance_type,
    provider: n.provider,
    region: n.region,
    zone: n.zone,
    capacity_type: n.capacity_type,
    minutes,
    book_entry,
    sync_source,
    message,
  };
}

/** Every node's price gaps, by node, its unpriced minutes before its on-demand fallback. */
export function priceGaps(nodes: readonly GapNode[]): PriceGap[] {
  const gaps: PriceGap[] = [];
  for (const n of [...nodes].sort((a, b) => a.node.localeCompare(b.node) || a.pool.localeCompare(b.pool))) {
    if (n.unpriced_minutes > 0) gaps.push(priceGap(n, 'unpriced', n.unpriced_minutes));
    if (n.on_demand_fallback_minutes > 0) gaps.push(priceGap(n, 'on_demand_fallback', n.on_demand_fallback_minutes));
  }
  return gaps;
}

/** Requests that could not be priced, one entry per node, from (node, tenant, requests) rows. */
export function unattributedRequests(rows: readonly { node: string; tenant: string; requests: number }[]): UnattributedRequests[] {
  const byNode = new Map<string, { requests: number; tenants: Set<string> }>();
  for (const r of rows) {
    const e = byNode.get(r.node) ?? { requests: 0, tenants: new Set<string>() };
    e.requests += r.requests;
    e.tenants.add(r.tenant);
    byNode.set(r.node, e);
  }
  return [...byNode]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([node, e]) => ({
      node,
      requests: e.requests,
      tenants: [...e.tenants].sort(),
      message:
        node === ''
          ? `${plural(e.requests, 'request was', 'requests were')} recorded with no node and could not be priced — set the node on the proxy's upstream (proxy.upstreams[].node) to its name in the inventory`
          : `${plural(e.requests, 'request')} ran on node ${node}, which has no inventory (or was not seen up) when ${e.requests === 1 ? 'it' : 'they'} ran, and could not be priced — ` +
            `add the node to the inventory (scrape.inventory.nodes, or the Kubernetes inventory), or set proxy.upstreams[].node to the name the inventory knows it by`,
    }));
}

/** Said first when the fleet had minutes and none of them had a price: every amount of the report is then $0.00. */
export const NO_PRICE_MESSAGE =
  'no node had a price in this period: every amount in this report is $0.00 — set a price for each node named below ' +
  '(a prices.book entry, or `llmeter prices sync <source>` for its cloud; see docs/prices.md)';

/** The report's warnings, one line each, in the order they are printed: the whole fleet, then each node's price, then unattributed requests. */
export function gapWarnings(noPriceAtAll: boolean, gaps: readonly PriceGap[], unattributed: readonly UnattributedRequests[]): string[] {
  return [...(noPriceAtAll ? [NO_PRICE_MESSAGE] : []), ...gaps.map((g) => g.message), ...unattributed.map((u) => u.message)];
}
