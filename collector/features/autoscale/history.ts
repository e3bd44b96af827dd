// When each upstream and model last did real work, read from the requests the store holds. A
// collector that starts (a restart, an upgrade, a rescheduled pod) knows nothing of the traffic
// before it: counting idle time from its own start would report every scaled-to-zero pool active for
// its whole idle period and wake it. The end of the newest stored request of each upstream says
// instead how long the pool has really been idle.
import type { Store } from '../../core/store/store.ts';

/** The end of the newest request an upstream served (or was asked for) for one model. */
export interface Activity {
  upstream: string;
  model: string;
  /** Epoch milliseconds: the request's arrival plus its duration. */
  at: number;
}

export interface ActivityQuery {
  /** The tiers' upstreams, by name and the node the proxy records for them. */
  upstreams: readonly { name: string; node: string }[];
  /** Requests that arrived before now minus this many seconds are not read (the longest idle period is enough). */
  lookbackS: number;
  now: number;
}

/** The end of the newest stored request per upstream and model, for the upstreams asked about. */
export async function storedActivity(store: Store, q: ActivityQuery): Promise<Activity[]> {
  if (q.upstreams.length === 0) return [];
  const rows = await store.queryRows<{ upstream: string; node: string; model: string; at: string | number }>(
    `SELECT backend AS upstream, node, model, max(toUnixTimestamp64Milli(ts) + toInt64(ceil(duration_ms))) AS at
     FROM ${store.database}.llm_requests
     WHERE ts >= fromUnixTimestamp64Milli({since:Int64}) AND backend IN {names:Array(String)}
     GROUP BY backend, node, model`,
    { since: Math.floor(q.now - q.lookbackS * 1000), names: [...new Set(q.upstreams.map((u) => u.name))] },
  );
  // An upstream of the same name on another node is another proxy's (another pool).
  const nodes = new Map(q.upstreams.map((u) => [u.name, u.node]));
  return rows.filter((r) => nodes.get(r.upstream) === r.node).map((r) => ({ upstream: r.upstream, model: r.model, at: Number(r.at) }));
}
