import { schemaSql } from '../ddl.ts';
import type { Migration } from './migration.ts';

// The tables as they are defined now: a new store starts here and then applies the later migrations,
// each of which is written to be a no-op on what this one creates.
export const initialSchema: Migration = { version: 1, name: 'initial schema: signal tables, dead letters, hourly rollups', statements: schemaSql };
