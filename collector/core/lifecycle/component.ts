// Every running part (pipeline stage, exporter, server) has the same life: start, flush on demand,
// shut down once. Shutdown is idempotent: the second call returns the first call's promise.

export interface Component {
  readonly name: string;
  start(): Promise<void>;
  /** Push out whatever is buffered without stopping. */
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

/**
 * Waits `ms`, or until `signal` aborts. The timer keeps the process alive: a retry's wait is work a
 * command is not done with (`llmeter ingest` retrying an insert). Loops stop it with their signal.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', done);
      clearTimeout(t);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Exponential backoff with full jitter, capped. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.max(initialMs / 2, Math.floor(random() * ceiling));
}
