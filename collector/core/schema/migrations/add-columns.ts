import { localName, onCluster, q, type DdlTarget } from '../ddl.ts';

/**
 * Adds columns (full definitions, `name` first) to a signal table. In a cluster the shards' local
 * tables get them first, then the Distributed table over them: a Distributed table that named a
 * column its shards lack would fail every insert in between. The Distributed table stores nothing,
 * so there the plain type is enough.
 */
export function addColumnsSql(table: string, columns: readonly string[], target: DdlTarget): string[] {
  const add = (cols: readonly string[]) => cols.map((c) => `ADD COLUMN IF NOT EXISTS ${c}`).join(', ');
  const stmts = [`ALTER TABLE ${q(target.database)}.${q(localName(table, target))}${onCluster(target)} ${add(columns)}`];
  if (target.cluster) {
    const plain = columns.map((c) => c.replace(/ (COMMENT|CODEC)\b.*$/, ''));
    stmts.push(`ALTER TABLE ${q(target.database)}.${q(table)}${onCluster(target)} ${add(plain)}`);
  }
  return stmts;
}
