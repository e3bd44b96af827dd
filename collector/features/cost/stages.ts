// Runs the cost engine's stages into scratch tables (Memory engine, one per stage, each computed once
// and read by the next: a CTE would be computed again for every reference), and drops them after.
import { randomUUID } from 'node:crypto';
import type { Store } from '../../core/store/store.ts';
import { nodeHourStageSql, nodeResultSql, nodeUpStageSql, priceSegmentsStageSql, splitStageSql, usageStageSql } from './chargeback-sql.ts';

export type Params = Record<string, string | number>;

export const HOUR = 3_600_000;
export const DAY = 86_400_000;
/** Epoch milliseconds as whole epoch seconds (the UInt32 hour and day parameters). */
export const secs = (ms: number) => Math.floor(ms / 1000);

export class Scratch {
  private readonly id = randomUUID().replace(/-/g, '').slice(0, 16);
  private readonly tables: string[] = [];
  private readonly store: Store;

  constructor(store: Store) {
    this.store = store;
  }

  name(stage: string): string {
    return `${this.store.database}._chargeback_${stage}_${this.id}`;
  }

  /** A Memory table holding the rows of `select`. */
  async create(stage: string, select: string, params: Params): Promise<string> {
    const t = this.name(stage);
    this.tables.push(t);
    await this.store.command(`CREATE TABLE ${t} ENGINE = Memory AS ${select}`, undefined, params);
    return t;
  }

  /** Registers a table made some other way, so that drop() removes it too. */
  own(table: string): string {
    this.tables.push(table);
    return table;
  }

  /**
   * Called in a finally: a table that cannot be dropped must not replace the computation's own result
   * or error. Its name (`_chargeback_<stage>_<id>`) tells a leftover apart from the kept tables.
   */
  async drop(): Promise<void> {
    for (const t of this.tables.splice(0)) await this.store.command(`DROP TABLE IF EXISTS ${t}`).catch(() => {});
  }
}

export interface StageTables {
  /** Usage rows with GPU-seconds and cost (stage 3). */
  split: string;
  /** Node-hours with the usage cost charged on them. */
  nodes: string;
}

export interface StageOptions {
  /** SQL condition on `hour`: which hours of the period [from, to) to compute. */
  hours: string;
  source: 'rollup' | 'raw';
}

export async function computeStages(store: Store, scratch: Scratch, o: StageOptions, params: Params): Promise<StageTables> {
  const up = await scratch.create('up', nodeUpStageSql(o.hours), params);
  const segments = await scratch.create('seg', priceSegmentsStageSql(up), params);
  const nodeHour = await scratch.create('nh', nodeHourStageSql(up, segments, o.hours), params);
  const usage = await scratch.create('usage', usageStageSql(o.source, o.hours), params);
  const split = await scratch.create('split', splitStageSql(usage, nodeHour), params);
  const nodes = await scratch.create('nodes', nodeResultSql(nodeHour, split), params);
  return { split, nodes };
}
