// The in-process flow: records are validated at the collector's edge, good rows go to their table's
// writer, bad records go to dead_letters with the reason. One bad record never takes the good
// records of its batch with it.
import path from 'node:path';
import type { Registry } from 'prom-client';
import type { PipelineConfig } from '../config/schema.ts';
import { once, type Component } from '../lifecycle/component.ts';
import type { Logger } from '../log.ts';
import { deadLetters, SIGNAL_TABLES, SIGNALS, type Signal, type SignalRecords, type TableDef } from '../schema/tables.ts';
import { ttlDays, type Retention } from '../schema/ddl.ts';
import type { AlreadyStored } from '../store/insert-sql.ts';
import { columnNames, compileValidator, rowToObject, validatorFor, type Row } from '../records/validate.ts';
import { NativeCodec } from '../store/native-blocks.ts';
import type { Store } from '../store/store.ts';
import { PipelineMetrics } from './metrics.ts';
import { TableWriter, type EnqueueOptions, type Inserter } from './table-writer.ts';

export interface Origin {
  /** Who produced the records: proxy, ingest, http, kafka, scrape… */
  source: string;
  topic?: string;
  partition?: number;
  /** Kafka offset of each record, index-aligned with the records (for dead letters). */
  offsets?: readonly number[];
  /** Where record `i` sat inside its message, e.g. `line 3 of 5` of a packed Kafka message ('' for none); prefixed to its rejection reason. Asked only for rejected records. */
  locate?: (i: number) => string;
  /** Record `i` as it was sent (a line of NDJSON): a dead letter keeps this text. Asked only for rejected records. */
  raw?: (i: number) => string;
}

export interface SubmitResult {
  accepted: number;
  rejected: number;
  dropped: number;
  /** Up to 20 distinct rejection reasons, with counts and where the first record with each was (`line 4`). */
  reasons: RejectionReason[];
  /** Resolves when every accepted row is in ClickHouse (or, through Kafka, in the broker or the spool). */
  durable: Promise<void>;
  /**
   * After `durable`: whether some accepted record was lost on the way (Kafka's spool was full at a
   * shutdown). An intake that answers its client after `durable` answers 503 then, not 2xx.
   */
  lost?: () => boolean;
}

export interface RejectionReason {
  reason: string;
  count: number;
  /** Where the first record refused for it sat, when the origin says (origin.locate). */
  first?: string;
}

/** What exporters write records to. The embedded pipeline implements it; so does the Kafka producer. */
export interface RecordSink {
  submit<S extends Signal>(signal: S, records: readonly SignalRecords[S][], origin: Origin, opts?: EnqueueOptions): Promise<SubmitResult>;
}

const MAX_PAYLOAD = 1 << 20;

/**
 * A payload that could not even be parsed into a record (not JSON), passed in place of a record so it
 * is dead-lettered with its own reason, its offset and the batch's deduplication token.
 */
export class Unparsable {
  readonly text: string;
  readonly reason: string;
  constructor(text: string, reason: string) {
    this.text = text;
    this.reason = reason;
  }
}
const DEAD_COLUMNS = columnNames(deadLetters);
const DEAD_SIGNAL = DEAD_COLUMNS.indexOf('signal');

// Rows name their columns, so columns a later migration adds take their defaults here.
const CODECS = new Map(
  [...SIGNALS.map((s) => SIGNAL_TABLES[s]), deadLetters].map((t) => [
    t.name,
    new NativeCodec(
      columnNames(t),
      Object.values(t.columns).map((c) => c.type),
    ),
  ]),
);

/** How a pipeline table's rows travel as Native blocks. */
export function codecFor(table: string): NativeCodec {
  const c = CODECS.get(table);
  if (!c) throw new Error(`no pipeline table ${table}`);
  return c;
}
const DEAD_CODEC = codecFor(deadLetters.name);

const TABLES = new Map([...SIGNALS.map((s) => SIGNAL_TABLES[s]), deadLetters].map((t) => [t.name as string, t as TableDef]));

export function storeInserter(store: Store): Inserter {
  // Through Distributed tables an insert is acknowledged only once the shards have the rows, so an
  // acknowledgement (and the Kafka commit that follows it) never runs ahead of the data.
  const cluster = store.ddlTarget().cluster !== undefined;
  return {
    insert: (table, rows, token, span) => {
      const def = TABLES.get(table);
      const unique: AlreadyStored | undefined =
        span && def?.identity
          ? {
              identity: def.identity,
              repeats: span.repeats,
              time: def.ttlColumn,
              from: span.from,
              to: span.to,
              structure: Object.entries(def.columns)
                .map(([n, c]) => `${n} ${c.type}`)
                .join(', '),
            }
          : undefined;
      return store.insertBlocks(
        `${store.database}.${table}`,
        rows,
        codecFor(table).columns,
        {
          insert_deduplicate: 1,
          insert_deduplication_token: token,
          deduplicate_blocks_in_dependent_materialized_views: 1,
          ...(cluster ? { distributed_foreground_insert: 1 } : {}),
        },
        unique,
      );
    },
  };
}

export interface PipelineOptions {
  config: PipelineConfig;
  inserter: Inserter;
  registry: Registry;
  log: Logger;
  /** Directory for rows that shutdown could not insert in time. */
  spillDir?: string;
  /**
   * The retention in days (store.ttl_days; 0 keeps rows forever): a record the retention would delete
   * at once is refused. Absent: nothing is refused for its age.
   */
  retention?: Retention;
}

export class Pipeline implements RecordSink, Component {
  readonly name = 'pipeline';
  readonly metrics: PipelineMetrics;
  private readonly writers = new Map<string, TableWriter>();
  private readonly dead: TableWriter;
  private readonly cfg: PipelineConfig;
  private readonly log: Logger;
  private readonly retention: Retention;

  constructor(o: PipelineOptions) {
    this.cfg = o.config;
    this.log = o.log;
    this.retention = o.retention ?? { rawTtlDays: 0, referenceTtlDays: 0 };
    this.metrics = new PipelineMetrics(o.registry);
    const spillDir = o.spillDir;
    this.dead = new TableWriter({
      table: deadLetters,
      codec: DEAD_CODEC,
      config: o.config,
      inserter: o.inserter,
      metrics: this.metrics,
      log: o.log,
      // A dead letter ClickHouse itself refuses has nowhere left to go but the log.
      onReject: (row, reason) => o.log.error('dead letter refused by ClickHouse', { reason, signal: row[DEAD_SIGNAL] }),
      spillDir,
    });
    for (const signal of SIGNALS) {
      const table = SIGNAL_TABLES[signal];
      this.writers.set(
        signal,
        new TableWriter({
          table,
          codec: codecFor(table.name),
          config: o.config,
          inserter: o.inserter,
          metrics: this.metrics,
          log: o.log,
          onReject: (row, reason) => void this.deadLetter(signal, rowToObject(table, row), reason, { source: 'clickhouse' }),
          spillDir,
        }),
      );
    }
  }

  async start(): Promise<void> {}

  /** How long the longest current run of failed inserts of any table has lasted (0 when none fail). */
  failingForMs(): number {
    const now = Date.now();
    return Math.max(this.dead.failingForMs(now), ...[...this.writers.values()].map((w) => w.failingForMs(now)));
  }

  writer(signal: Signal): TableWriter {
    return this.writers.get(signal)!;
  }

  async submit<S extends Signal>(signal: S, records: readonly SignalRecords[S][], origin: Origin, opts?: EnqueueOptions): Promise<SubmitResult> {
    const validate = validatorFor(signal);
    const table = SIGNAL_TABLES[signal];
    // Rows the retention would delete at once are refused, not acknowledged and then lost.
    const ttl = ttlDays(table, this.retention);
    const oldest = ttl > 0 ? Date.now() - ttl * 86_400_000 : -Infinity;
    const timeAt = oldest === -Infinity ? -1 : columnNames(table).indexOf(table.ttlColumn);
    const good: Row[] = [];
    const reasons = new Map<string, RejectionReason>();
    const dead: Row[] = [];
    for (let i = 0; i < records.length; i++) {
      const rec: unknown = records[i];
      let reason: string;
      let payload: unknown = origin.raw?.(i) ?? rec;
      if (rec instanceof Unparsable) {
        reason = rec.reason;
        payload = rec.text;
      } else {
        const v = validate(rec);
        if (v.ok && (timeAt < 0 || (v.row[timeAt] as number) >= oldest)) {
          good.push(v.row);
          continue;
        }
        reason = v.ok
          ? `${table.ttlColumn}: older than the ${table.retention} retention (store.ttl_days.${table.retention} = ${ttl} days), which would delete it at once`
          : v.errors.join('; ');
      }
      const where = origin.locate?.(i);
      const seen = reasons.get(reason);
      if (seen) seen.count++;
      else if (reasons.size < 20) reasons.set(reason, where ? { reason, count: 1, first: where } : { reason, count: 1 });
      dead.push(this.deadLetterRow(signal, payload, where ? `${where}: ${reason}` : reason, origin, origin.offsets?.[i]));
    }
    this.metrics.rowsReceived.inc({ signal, source: origin.source }, records.length);
    const durables: Promise<void>[] = [];
    if (dead.length > 0) {
      this.metrics.rowsRejected.inc({ signal, source: origin.source }, dead.length);
      this.metrics.deadLetters.inc({ signal, source: origin.source }, dead.length);
      const d = await this.dead.enqueue(dead, opts?.token !== undefined ? { token: `${opts.token}/dead` } : {});
      durables.push(d.durable);
    }
    const r = await this.writer(signal).enqueue(good, opts);
    durables.push(r.durable);
    return {
      accepted: r.accepted,
      rejected: dead.length,
      dropped: r.dropped,
      reasons: [...reasons.values()],
      durable: Promise.all(durables).then(() => undefined),
    };
  }

  /** Dead letters read back from a spill file, stored as they were; resolves once they are. */
  async restoreDeadLetters(rows: readonly Record<string, unknown>[]): Promise<void> {
    const validate = compileValidator(deadLetters);
    const good: Row[] = [];
    for (const r of rows) {
      const v = validate(r);
      if (v.ok) good.push(v.row);
      else this.log.error('spilled dead letter unreadable; dropped', { errors: v.errors });
    }
    await (
      await this.dead.enqueue(good)
    ).durable;
  }

  private deadLetter(signal: string, row: Record<string, unknown>, reason: string, origin: Origin): Promise<unknown> {
    this.metrics.deadLetters.inc({ signal, source: origin.source });
    return this.dead.enqueue([this.deadLetterRow(signal, row, reason, origin)]);
  }

  private deadLetterRow(signal: string, record: unknown, reason: string, origin: Origin, offset?: number): Row {
    let payload: string;
    try {
      payload = typeof record === 'string' ? record : (JSON.stringify(record) ?? String(record));
    } catch {
      // Nested deeper than JSON.stringify's stack (String() of it overflows as well).
      payload = '(a record too deeply nested to write out)';
    }
    if (payload.length > MAX_PAYLOAD) payload = payload.slice(0, MAX_PAYLOAD);
    const byName: Record<string, Row[number]> = {
      ts: Date.now(),
      signal,
      reason: reason.slice(0, 2048),
      payload,
      source: origin.source,
      topic: origin.topic ?? '',
      partition: origin.partition ?? -1,
      offset: offset ?? -1,
    };
    return DEAD_COLUMNS.map((c) => byName[c]!);
  }

  async forceFlush(): Promise<void> {
    await Promise.all([...this.writers.values()].map((w) => w.flush()));
    await this.dead.flush();
  }

  /** Stops intake, flushes every table, then the dead letters the flush may have produced. */
  shutdown = once(async () => {
    const deadline = this.cfg.shutdown_timeout_ms;
    await Promise.all([...this.writers.values()].map((w) => w.close(deadline)));
    await this.dead.close(deadline);
    this.log.debug('pipeline flushed');
  });
}

export function defaultSpillDir(dataDir: string): string {
  return path.join(dataDir, 'spill');
}
