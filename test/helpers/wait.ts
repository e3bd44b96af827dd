// Waiting in tests: for a condition, never for a fixed time.

export interface WaitOptions {
  /** How often the check runs. */
  everyMs?: number;
  /** More to say when time runs out (what a daemon logged, the last value seen). */
  explain?: () => string;
}

/**
 * Runs `check` until it gives something other than false, undefined or null, and returns that;
 * after `timeoutMs` it fails, naming `what` it was waiting for.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 30_000,
  opts: WaitOptions = {},
): Promise<Exclude<T, false | undefined | null>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== false && v !== undefined && v !== null) return v as Exclude<T, false | undefined | null>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${opts.explain ? `\n${opts.explain()}` : ''}`);
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 100));
  }
}
