import { createViewSql, onCluster, q, viewQuerySql, type DdlTarget } from '../ddl.ts';
import { ROLLUPS } from '../rollups.ts';
import { addColumnsSql } from './add-columns.ts';
import type { Migration } from './migration.ts';

// Written out, not derived from the table definition, so that this migration stays what it was (see
// 002-frontend-idempotency.ts).
const NODE_UP_UNTIL_COLUMNS = [
  "`up_until` Nullable(DateTime64(3, 'UTC')) COMMENT 'Until when this observation shows the node up (Kubernetes Ready, the host llmeter runs on): when the next refresh is due. NULL when the source only lists the node (a static entry, a NotReady node): a listing is no evidence that it runs.'",
];

/** Views this migration creates; their bodies are the rollups' current ones (CREATE … IF NOT EXISTS). */
const NEW_VIEWS = [
  'node_hours_from_server_mv',
  'node_hours_from_states_mv',
  'node_hours_from_requests_mv',
  'chargeback_inputs_server_mv',
  'chargeback_inputs_request_ends_mv',
  'chargeback_inputs_events_mv',
];

function view(name: string) {
  for (const r of ROLLUPS) for (const v of r.views) if (v.name === name) return { r, v };
  throw new Error(`migration 8: no view ${name}`);
}

/**
 * Up-time from evidence: node records say until when they show the node up, and only such records
 * count; a vLLM scrape, a resident model and an answered request count too. Hours before the
 * migration keep the up-time they had.
 */
export function uptimeEvidenceSql(target: DdlTarget): string[] {
  const nodes = view('node_hours_from_nodes_mv');
  return [
    ...addColumnsSql('nodes', NODE_UP_UNTIL_COLUMNS, target),
    `ALTER TABLE ${q(target.database)}.${q(nodes.v.name)}${onCluster(target)} MODIFY QUERY ${viewQuerySql(nodes.v, target)}`,
    ...NEW_VIEWS.map((n) => {
      const { r, v } = view(n);
      return createViewSql(r, v, target);
    }),
  ];
}

export const uptimeEvidence: Migration = {
  version: 8,
  name: 'up-time from evidence: nodes.up_until (an inventory that saw the node up), and up minutes from vLLM scrapes, resident models and answered requests; departures counted as a chargeback input',
  statements: uptimeEvidenceSql,
};
