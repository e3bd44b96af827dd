// Errors of the core's domains share one base, so a caller can tell llmeter's own refusals (with a
// stable code) from a bug; and one way to turn anything thrown into a message.

/** The message of anything thrown (an Error, a string, an object with a message). */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') return (err as { message: string }).message;
  return String(err);
}

/**
 * The base of llmeter's own errors. `code` names the kind of failure in its domain (a ClickHouse error
 * code, an HTTP status, a configuration issue), parsed once where the error is made.
 */
export class LlmeterError extends Error {
  readonly code: string | number | undefined;
  constructor(message: string, code?: string | number, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}
