// As-of pricing in ClickHouse: the same rules as asof.ts, for many nodes at once. Each node is
// expanded into its candidate series (book before feed, zone before region before global, its own
// capacity type before the on-demand fallback), joined on the price table's key, cut into segments
// with a window function, and each series is clipped where a more preferred one begins. Costs are
// Decimal128 sums of price × milliseconds, divided by 3 600 000 once at the end (rounded down).
import { sqlString } from '../../core/schema/ddl.ts';
import type { Store } from '../../core/store/store.ts';
import { BOOK_PROVIDER, candidateKeys, FALLBACK_RANK, fallbackSource, toMs, type NodeSpec } from './asof.ts';

/** Columns the nodes subquery must give: node (unique per row), the NodeSpec fields, t_from, t_to. */
export const NODE_COLUMNS = ['node', 'provider', 'instance_type', 'region', 'zone', 'capacity_type', 'os', 't_from', 't_to'] as const;

/** A price's operating system: a source that does not say means linux (see the table's `os`). */
const OS = "if(os = '', 'linux', os)";

// The node's own columns, as a NodeSpec whose values name them: candidateKeys (the rule) run on it
// gives the candidate series as SQL, so the rule is written once.
const COLUMN = '\u0000';
const BY_COLUMN: NodeSpec = {
  provider: `${COLUMN}provider`,
  instance_type: '',
  region: `${COLUMN}region`,
  zone: `${COLUMN}zone`,
  capacity_type: `${COLUMN}capacity_type`,
};
const sqlValue = (v: string) => (v.startsWith(COLUMN) ? v.slice(1) : sqlString(v));

function candidateArray(): string {
  // With column names for values no two keys look alike, so every candidate is listed for every node;
  // for a node whose own values make two of them the same series (a book node, an on-demand node),
  // the lower rank wins, as candidateKeys' own de-duplication keeps the first.
  const tuples = candidateKeys(BY_COLUMN).map(
    (k) => `(${sqlValue(k.provider)}, ${sqlValue(k.region)}, ${sqlValue(k.zone)}, ${sqlValue(k.capacity_type)}, toUInt16(${k.rank}))`,
  );
  return `[${tuples.join(', ')}]`;
}

/**
 * SQL of the price segments of every node in `nodesSql` over its [t_from, t_to): columns node,
 * seg_from, seg_to, usd_per_hour, source (prefixed when the on-demand fallback priced it), fallback,
 * effective_from. `table` is the (qualified) price table.
 */
export function segmentsSql(nodesSql: string, table = 'price_points'): string {
  return `
WITH toDateTime64('2100-01-01 00:00:00', 3, 'UTC') AS far,
nodes AS (${nodesSql}),
cand AS (
  SELECT node, instance_type, os, t_from, t_to,
         k.1 AS k_provider, k.2 AS k_region, k.3 AS k_zone, k.4 AS k_capacity, k.5 AS rnk
  FROM nodes ARRAY JOIN ${candidateArray()} AS k
  WHERE NOT (provider = '${BOOK_PROVIDER}' AND k.5 % ${FALLBACK_RANK} > 3)
),
series AS (
  -- First change of every series the nodes could use (duplicates of the replacing key share it).
  SELECT provider, instance_type, region, zone, capacity_type, ${OS} AS os_n, min(effective_from) AS s
  FROM ${table}
  WHERE instance_type IN (SELECT instance_type FROM nodes)
  GROUP BY provider, instance_type, region, zone, capacity_type, os_n
),
covered AS (
  -- Each candidate that has a series, with where it stops counting: where a more preferred
  -- candidate (lower rank) of the same node has begun.
  SELECT node, instance_type, os, t_from, t_to, k_provider, k_region, k_zone, k_capacity, rnk,
         arrayFilter(x -> x.1 < rnk, ranks) AS better,
         if(empty(better), far, arrayMin(arrayMap(x -> x.2, better))) AS cover_end
  FROM (
    SELECT c.*, groupArray((c.rnk, sr.s)) OVER (PARTITION BY c.node) AS ranks
    FROM cand AS c
    INNER JOIN series AS sr
    ON sr.provider = c.k_provider AND sr.instance_type = c.instance_type AND sr.region = c.k_region
       AND sr.zone = c.k_zone AND sr.capacity_type = c.k_capacity AND sr.os_n = c.os
  )
),
pts AS (
  -- The candidates are the small side of the join, so they are the hash table (the right side).
  SELECT c.node AS node, c.rnk AS rnk, c.t_from AS t_from, c.t_to AS t_to, c.cover_end AS cover_end,
         p.effective_from AS effective_from, p.usd_per_hour AS usd_per_hour, p.source AS source
  FROM (
    SELECT provider, instance_type, region, zone, capacity_type, ${OS} AS os_n, effective_from, usd_per_hour, source
    FROM ${table} FINAL
    WHERE effective_from < (SELECT max(t_to) FROM nodes)
      AND instance_type IN (SELECT instance_type FROM nodes)
  ) AS p
  INNER JOIN covered AS c
  ON p.provider = c.k_provider AND p.instance_type = c.instance_type AND p.region = c.k_region
     AND p.zone = c.k_zone AND p.capacity_type = c.k_capacity AND p.os_n = c.os
  WHERE p.effective_from < least(c.t_to, c.cover_end)
),
ranked AS (
  SELECT node, rnk, t_from, t_to, cover_end, effective_from, usd_per_hour, source,
         leadInFrame(effective_from, 1, far) OVER (PARTITION BY node, rnk ORDER BY effective_from ASC
                                                  ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING) AS next_from
  FROM pts
)
SELECT node,
       greatest(effective_from, t_from) AS seg_from,
       least(next_from, t_to, cover_end) AS seg_to,
       usd_per_hour,
       if(rnk > ${FALLBACK_RANK}, concat('${fallbackSource('')}', source), source) AS source,
       rnk > ${FALLBACK_RANK} AS fallback,
       effective_from
FROM ranked
WHERE seg_to > seg_from`;
}

/**
 * SQL of each node's cost over its interval: node, cost (Decimal, rounded down to 9 places),
 * priced_ms, fallback_ms, segments, sources. Nodes without any price are absent (unpriced).
 */
export function nodeCostSql(nodesSql: string, table = 'price_points'): string {
  return `
SELECT node,
       toString(sum(toDecimal128(usd_per_hour, 9) * dateDiff('millisecond', seg_from, seg_to)) / 3600000) AS cost,
       sum(dateDiff('millisecond', seg_from, seg_to)) AS priced_ms,
       sumIf(dateDiff('millisecond', seg_from, seg_to), fallback) AS fallback_ms,
       count() AS segments,
       groupUniqArray(source) AS sources
FROM (${segmentsSql(nodesSql, table)})
GROUP BY node
ORDER BY node`;
}

function nodeRowSql(n: NodeSpec & { node?: string }, i: number, from: number, to: number): string {
  const s = sqlString;
  return `SELECT ${s(n.node ?? String(i))} AS node, ${s(n.provider)} AS provider, ${s(n.instance_type)} AS instance_type, ${s(n.region)} AS region, ${s(n.zone)} AS zone, ${s(n.capacity_type)} AS capacity_type, ${s(n.os ?? 'linux')} AS os, fromUnixTimestamp64Milli(toInt64(${Math.trunc(from)}), 'UTC') AS t_from, fromUnixTimestamp64Milli(toInt64(${Math.trunc(to)}), 'UTC') AS t_to`;
}

export interface StoredPriceAt {
  usd_per_hour: string;
  source: string;
  fallback: boolean;
  effective_from: string;
}

/** The price of a node at an instant, from the store; undefined when no series has begun. */
export async function priceAtFromStore(store: Store, node: NodeSpec, t: number | string | Date): Promise<StoredPriceAt | undefined> {
  const ms = toMs(t);
  const rows = await store.queryRows<{ usd_per_hour: string; source: string; fallback: number | boolean; effective_from: string }>(
    `SELECT toString(usd_per_hour) AS usd_per_hour, source, fallback, toString(effective_from) AS effective_from
     FROM (${segmentsSql(nodeRowSql(node, 0, ms, ms + 1))}) LIMIT 1`,
  );
  const r = rows[0];
  return r ? { usd_per_hour: r.usd_per_hour, source: r.source, fallback: Boolean(r.fallback), effective_from: r.effective_from } : undefined;
}

export interface StoredNodeCost {
  node: string;
  cost: string;
  priced_ms: number;
  fallback_ms: number;
  unpriced_ms: number;
  sources: string[];
}

/** Cost of each node over [from, to) from the store. */
export async function nodeCostsFromStore(
  store: Store,
  nodes: readonly (NodeSpec & { node: string })[],
  from: number | string | Date,
  to: number | string | Date,
): Promise<StoredNodeCost[]> {
  const a = toMs(from);
  const b = toMs(to);
  if (nodes.length === 0) return [];
  const nodesSql = nodes.map((n, i) => nodeRowSql(n, i, a, b)).join(' UNION ALL ');
  const rows = await store.queryRows<{ node: string; cost: string; priced_ms: string; fallback_ms: string; sources: string[] }>(nodeCostSql(nodesSql));
  const byNode = new Map(rows.map((r) => [r.node, r]));
  return nodes.map((n) => {
    const r = byNode.get(n.node);
    const priced = Number(r?.priced_ms ?? 0);
    return {
      node: n.node,
      cost: r ? r.cost : '0',
      priced_ms: priced,
      fallback_ms: Number(r?.fallback_ms ?? 0),
      unpriced_ms: b - a - priced,
      sources: r?.sources ?? [],
    };
  });
}
