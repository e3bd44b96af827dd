// The part of retention a TTL cannot express. A TTL deletes a row by its own age, but a price set
// long ago is still the price while no newer one has replaced it; tables whose rows are such versions
// (`inForceKey`) have no TTL, and this sweep deletes only the versions a newer one had replaced before
// the retention horizon. The version in force at the horizon stays, so every price a kept hour could
// need is still there, whatever its age.
import type { Component } from '../lifecycle/component.ts';
import { once } from '../lifecycle/component.ts';
import type { BackgroundFailures } from '../lifecycle/background.ts';
import { localName, onCluster, q, type DdlTarget } from '../schema/ddl.ts';
import { ALL_TABLES, type TableDef } from '../schema/tables.ts';
import type { Store } from './store.ts';

const DAY_MS = 86_400_000;

/** The DELETE of `t`'s versions replaced before `horizon` (epoch ms). */
export function supersededDeleteSql(t: TableDef, target: DdlTarget, horizon: number): string {
  const key = t.inForceKey!.map(q).join(', ');
  const time = q(t.ttlColumn);
  const table = `${q(target.database)}.${q(localName(t.name, target))}`;
  const before = `${time} < fromUnixTimestamp64Milli(toInt64(${Math.trunc(horizon)}), 'UTC')`;
  // In a cluster each shard deletes from its own rows: a key's versions are on one shard (the
  // sharding key is among the key's columns), so the latest before the horizon is found there.
  return `DELETE FROM ${table}${onCluster(target)} WHERE ${before} AND (${key}, ${time}) NOT IN (SELECT ${key}, max(${time}) FROM ${table} WHERE ${before} GROUP BY ${key})`;
}

/** Deletes the replaced versions older than the reference retention; nothing when it is 0 (forever). */
export async function sweepRetention(store: Store, target: DdlTarget, now = Date.now()): Promise<void> {
  if (target.referenceTtlDays <= 0) return;
  const horizon = now - target.referenceTtlDays * DAY_MS;
  for (const t of ALL_TABLES) if (t.inForceKey) await store.command(supersededDeleteSql(t, target, horizon));
}

/** Runs the sweep at start and then every `intervalMs`; a failed sweep is reported and tried again at the next. */
export class RetentionSweep implements Component {
  readonly name = 'retention-sweep';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  private readonly store: Store;
  private readonly failures: BackgroundFailures;
  private readonly intervalMs: number;

  constructor(store: Store, failures: BackgroundFailures, intervalMs = DAY_MS) {
    this.store = store;
    this.failures = failures;
    this.intervalMs = intervalMs;
  }

  async start(): Promise<void> {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  private tick(): void {
    if (this.running) return;
    this.running = sweepRetention(this.store, this.store.ddlTarget())
      .catch(this.failures.handler(this.name, 'retention sweep failed'))
      .finally(() => (this.running = undefined));
  }

  async forceFlush(): Promise<void> {}

  shutdown = once(async () => {
    clearInterval(this.timer);
    await this.running;
  });
}
