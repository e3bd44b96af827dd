import type { Store } from '../../store/store.ts';
import type { DdlTarget } from '../ddl.ts';

/**
 * One step of the schema, applied once and recorded in `schema_migrations`. Every statement is
 * written so that running it twice is harmless (IF NOT EXISTS, MODIFY), so a migration that stopped
 * half-way is simply applied again.
 */
export interface Migration {
  version: number;
  name: string;
  /** Statements that do not depend on what the store holds. */
  statements?(target: DdlTarget): string[];
  /** A migration that must look at the store first (a data copy); returns the statements it ran. */
  run?(store: Store, target: DdlTarget): Promise<string[]>;
}
