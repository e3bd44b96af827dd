// The one way code in the project gets a tracer. Before (or without) the SDK, the API hands out
// no-op spans, so instrumented code costs next to nothing while telemetry is off.
import { context, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { errorMessage } from '../../core/errors.ts';

export const TRACER_NAME = 'llmeter';

export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/** Runs `fn` inside a span that ends with it, marked as an error if `fn` throws. */
export async function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err instanceof Error ? err : errorMessage(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * Runs `fn` with tracing suppressed: nothing it starts is recorded. Used for the collector's own
 * OTLP intake, so that its exported spans, when they come back to it, make no new spans (no loop,
 * no double reporting).
 */
export function untraced<T>(fn: () => T): T {
  return context.with(suppressTracing(context.active()), fn);
}
