// Classifies ClickHouse and transport errors so writers know whether to retry, split or give up.
import { errorMessage } from '../errors.ts';

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

export function clickhouseCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; clickhouseCode?: unknown };
  for (const v of [e.clickhouseCode, e.code]) {
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  }
  return undefined;
}

export function classifyInsertError(err: unknown): InsertErrorClass {
  const code = clickhouseCode(err);
  if (code !== undefined) {
    if (RETRYABLE_CODES.has(code)) return 'retryable';
    if (BAD_DATA_CODES.has(code)) return 'bad_data';
    if (code === 62 && /max_query_size/i.test(errorMessage(err))) return 'too_large';
    return 'fatal';
  }
  const e = err as { code?: unknown; message?: unknown; name?: unknown } | null;
  if (e && typeof e.code === 'string' && NETWORK_ERRNOS.has(e.code)) return 'retryable';
  const msg = e && typeof e.message === 'string' ? e.message : String(err);
  if (/timeout|socket hang up|ECONNRESET|ECONNREFUSED|network/i.test(msg)) return 'retryable';
  if (/request entity too large|413|max_query_size|too large/i.test(msg)) return 'too_large';
  return 'fatal';
}

export { errorMessage };
