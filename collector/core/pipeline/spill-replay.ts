// Rows a shutdown could not insert in time sit in the spill directory as canonical records, one file
// per batch. The next start stores them and removes each file once its rows are stored; a record
// that had in fact reached the store before the shutdown gave up on it is not stored twice.
import { createReadStream } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { deadLetters, SIGNAL_TABLES, type Signal } from '../schema/tables.ts';
import { ingestNdjson } from './ingest.ts';
import type { Pipeline } from './pipeline.ts';

const SIGNAL_OF_TABLE = new Map(Object.entries(SIGNAL_TABLES).map(([signal, t]) => [t.name as string, signal as Signal]));

export interface ReplayReport {
  files: number;
  rows: number;
  /** Files left in place because some of their rows could not be taken (queue full, shutdown). */
  kept: number;
}

export async function replaySpill(pipeline: Pipeline, dir: string, log: Logger): Promise<ReplayReport> {
  const out: ReplayReport = { files: 0, rows: 0, kept: 0 };
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.ndjson')).sort();
  } catch (err) {
    // No spill directory: no shutdown ever had to spill. Any other failure leaves spilled rows unread.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      log.warn('spilled rows not replayed: the spill directory cannot be read', { dir, error: errorMessage(err) });
    return out;
  }
  for (const name of names) {
    const file = path.join(dir, name);
    const table = /^([a-z_]+)-\d+-/.exec(name)?.[1];
    const signal = table ? SIGNAL_OF_TABLE.get(table) : undefined;
    let taken: number;
    let complete: boolean;
    if (signal) {
      const r = await ingestNdjson(pipeline, signal, createReadStream(file), { source: 'spill', stopWhenFull: true });
      await r.durable;
      taken = r.accepted + r.rejected;
      complete = !r.stopped && r.dropped === 0;
    } else if (table === deadLetters.name) {
      const rows = (await readFile(file, 'utf8'))
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      await pipeline.restoreDeadLetters(rows);
      taken = rows.length;
      complete = true;
    } else {
      log.warn('spill file of no known table left in place', { file });
      out.kept++;
      continue;
    }
    out.files++;
    out.rows += taken;
    if (complete) await rm(file, { force: true });
    else out.kept++;
  }
  if (out.files > 0) log.info('stored the rows a previous shutdown had spilled to disk', { files: out.files, rows: out.rows, kept: out.kept });
  return out;
}
