// Spans around the pipeline's two ends: a submit (ingest, one per producer call) and an insert (one
// per batch written to ClickHouse). Wrappers, so the pipeline itself knows nothing of tracing.
import type { Origin, RecordSink, SubmitResult } from '../../core/pipeline/pipeline.ts';
import type { EnqueueOptions, Inserter } from '../../core/pipeline/table-writer.ts';
import type { Signal, SignalRecords } from '../../core/schema/tables.ts';
import { inSpan } from './tracer.ts';

export function tracedInserter(inner: Inserter): Inserter {
  return {
    insert: (table, rows, token, span) =>
      inSpan('llmeter.insert', { 'db.system.name': 'clickhouse', 'db.collection.name': table, 'db.operation.name': 'INSERT', 'llmeter.rows': rows.count }, () =>
        inner.insert(table, rows, token, span),
      ),
  };
}

export function tracedSink(inner: RecordSink): RecordSink {
  return {
    submit<S extends Signal>(signal: S, records: readonly SignalRecords[S][], origin: Origin, opts?: EnqueueOptions): Promise<SubmitResult> {
      return inSpan('llmeter.ingest', { 'llmeter.signal': signal, 'llmeter.source': origin.source, 'llmeter.records': records.length }, async (span) => {
        const r = await inner.submit(signal, records, origin, opts);
        span.setAttributes({ 'llmeter.accepted': r.accepted, 'llmeter.rejected': r.rejected, 'llmeter.dropped': r.dropped });
        return r;
      });
    },
  };
}
