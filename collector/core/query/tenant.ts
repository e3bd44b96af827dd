// What a tenant's query may see, enforced by the engine: the setting `additional_table_filters`
// adds a filter to every read of the named tables, wherever the statement reads them (subqueries,
// joins, views, CTEs), and a session in readonly mode cannot change it (the engine refuses with
// READONLY). chDB has no users or row policies of its own, so this is the engine's mechanism the
// embedded store can use; a ClickHouse server applies the same setting to each query.
import { sqlString } from '../schema/ddl.ts';

/**
 * Tables without a tenant column whose rows may hold any tenant's data: a tenant sees none of their
 * rows. dead_letters keeps refused records as they arrived, whoever sent them.
 */
export const TENANT_HIDDEN_TABLES: readonly string[] = ['dead_letters'];

/** System tables whose rows tell of other users' queries. */
const HIDDEN_SYSTEM_TABLES: readonly string[] = ['system.processes'];

/**
 * The filters for `tenant`: `tenant = '<tenant>'` on every table with a tenant column, no rows of
 * the hidden ones. Each table is named with and without its database, as a statement may name it
 * either way.
 */
export function tenantFilters(tenant: string, database: string, tenantTables: readonly string[]): Record<string, string> {
  const filters: Record<string, string> = {};
  const add = (table: string, condition: string) => {
    filters[table] = condition;
    filters[`${database}.${table}`] = condition;
  };
  for (const t of tenantTables) add(t, `tenant = ${sqlString(tenant)}`);
  for (const t of TENANT_HIDDEN_TABLES) if (!tenantTables.includes(t)) add(t, '0');
  for (const t of HIDDEN_SYSTEM_TABLES) filters[t] = '0';
  return filters;
}

/** The value of `additional_table_filters`: a map literal of table name to condition. */
export function tableFiltersSetting(filters: Readonly<Record<string, string>>): string {
  return `{${Object.entries(filters)
    .map(([table, condition]) => `${sqlString(table)}:${sqlString(condition)}`)
    .join(',')}}`;
}
