// ClickHouse's errors, whichever way they arrive (a server through @clickhouse/client, chDB in-process):
// their code read once, and classified so writers know whether to retry, split or give up.
import { errorMessage, LlmeterError } from '../errors.ts';

export type InsertErrorClass = 'retryable' | 'too_large' | 'bad_data' | 'fatal';

// ClickHouse error codes (src/Common/ErrorCodes.cpp) that clear up by themselves.
const RETRYABLE_CODES = new Set([
  159, // TIMEOUT_EXCEEDED
  160, // TOO_SLOW
  164, // READONLY (replica read-only while ZooKeeper/Keeper reconnects)
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  236, // ABORTED
  241, // MEMORY_LIMIT_EXCEEDED
  242, // TABLE_IS_READ_ONLY
  252, // TOO_MANY_PARTS
  285, // TOO_FEW_LIVE_REPLICAS
  319, // UNKNOWN_STATUS_OF_INSERT
  425, // SYSTEM_ERROR
  439, // CANNOT_SCHEDULE_TASK
  999, // KEEPER_EXCEPTION
]);

const BAD_DATA_CODES = new Set([
  6, // CANNOT_PARSE_TEXT
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  53, // TYPE_MISMATCH
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA
  321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
]);

const NETWORK_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'UND_ERR_SOCKET']);

/** `Code: 62. DB::Exception: ` (chDB repeats it when it passes on the engine's message). */
const ENGINE_MESSAGE = /Code: (\d+)\. DB::Exception: /;

/**
 * ClickHouse's code for an error: chDB's `clickhouseCode`, the client's `code` (a number, or digits
 * as text), or the `Code: N.` that opens an engine message. Undefined for errors that are not
 * ClickHouse's (a socket's `ECONNRESET` code is not one).
 */
export function clickhouseCode(err: unknown): number | undefined {
  if (err instanceof ClickHouseError) return err.code;
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; clickhouseCode?: unknown };
  for (const v of [e.clickhouseCode, e.code]) {
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  }
  const m = ENGINE_MESSAGE.exec(errorMessage(err));
  return m ? Number(m[1]) : undefined;
}

/**
 * An error of ClickHouse with its code (`clickhouseCode()`) parsed once, where it is made. The message
 * is the engine's own, without the code prefix and the version suffix (what a user reads); the
 * error it was made from is its cause.
 */
export class ClickHouseError extends LlmeterError {
  declare readonly code: number | undefined;

  constructor(message: string, code: number | undefined, options?: ErrorOptions) {
    super(message, code, options);
  }

  static from(err: unknown): ClickHouseError {
    if (err instanceof ClickHouseError) return err;
    const text = errorMessage(err)
      .replace(/^(Code: \d+\. DB::Exception: )+/, '')
      .replace(/ \(version [\d.]+\)\.?/, '');
    return new ClickHouseError(text, clickhouseCode(err), { cause: err });
  }
}

/**
 * The ClickHouse server of `store.url` did not answer at all (refused, unknown host, timed out): a
 * setting to check rather than a bug, said in one line.
 */
export class StoreUnreachable extends LlmeterError {
  readonly url: string;
  constructor(url: string, cause: unknown) {
    super(`cannot reach the ClickHouse server at ${url}: ${reachReason(cause)}`, 'store_unreachable', { cause });
    this.url = url;
  }
}

/** Whether an error is a connection that never got an answer (as opposed to ClickHouse refusing a statement). */
export function isUnreachable(err: unknown): boolean {
  if (clickhouseCode(err) !== undefined) return false;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NETWORK_ERRNOS.has(code)) return true;
  return /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|EAI_AGAIN|ETIMEDOUT|Timeout error|socket hang up/i.test(errorMessage(err));
}

function reachReason(err: unknown): string {
  const msg = errorMessage(err);
  return /timeout/i.test(msg) && !/ETIMEDOUT/.test(msg) ? `no answer (${msg})` : msg;
}

export function classifyInsertError(err: unknown): InsertErrorClass {
  const code = clickhouseCode(err);
  if (code !== undefined) {
    if (RETRYABLE_CODES.has(code)) return 'retryable';
    if (BAD_DATA_CODES.has(code)) return 'bad_data';
    if (code === 62 && /max_query_size/i.test(errorMessage(err))) return 'too_large';
    return 'fatal';
  }
  const e = err as { code?: unknown } | null;
  if (e && typeof e.code === 'string' && NETWORK_ERRNOS.has(e.code)) return 'retryable';
  const msg = errorMessage(err);
  if (/timeout|socket hang up|ECONNRESET|ECONNREFUSED|network/i.test(msg)) return 'retryable';
  if (/request entity too large|413|max_query_size|too large/i.test(msg)) return 'too_large';
  return 'fatal';
}

export { errorMessage };
