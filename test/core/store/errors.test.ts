// ClickHouse's errors arrive three ways: @clickhouse/client's ClickHouseError (the code as digits in
// `code`), chDB's own errors (`clickhouseCode`, beside a `code` of its own such as CHDB_QUERY), and a
// bare message that opens with `Code: N. DB::Exception:`. Each is read to the same code, once.
import { ClickHouseError as ClientError, parseError } from '@clickhouse/client';
import { describe, expect, it } from 'vitest';
import { LlmeterError } from '../../../collector/core/errors.ts';
import { ClickHouseError, classifyInsertError, clickhouseCode } from '../../../collector/core/store/errors.ts';

const chdbError = (message: string, code: number) => Object.assign(new Error(message), { clickhouseCode: code, code: 'CHDB_QUERY' });

describe('clickhouseCode', () => {
  it("reads the server client's code, chDB's clickhouseCode and a bare engine message alike", () => {
    const server = parseError('Code: 62. DB::Exception: Syntax error: failed at position 8 (end of query). (SYNTAX_ERROR) (version 25.8.1.1)');
    expect(server).toBeInstanceOf(ClientError);
    expect(clickhouseCode(server)).toBe(62);
    expect(clickhouseCode(chdbError('Code: 164. DB::Exception: Cannot execute query in readonly mode. (READONLY)', 164))).toBe(164);
    expect(clickhouseCode(new Error('Code: 159. DB::Exception: Timeout exceeded: elapsed 1.2 seconds. (TIMEOUT_EXCEEDED)'))).toBe(159);
    expect(clickhouseCode({ code: 241 })).toBe(241);
  });

  it('finds none in an error that is not the engine’s', () => {
    expect(clickhouseCode(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBeUndefined();
    expect(clickhouseCode(new Error('socket hang up'))).toBeUndefined();
    expect(clickhouseCode('Code: 62')).toBeUndefined();
    expect(clickhouseCode(null)).toBeUndefined();
  });
});

describe('ClickHouseError', () => {
  it('keeps the engine’s message without the code chDB repeats and the version, and the original as its cause', () => {
    const raw = new Error('Code: 164. DB::Exception: Code: 164. DB::Exception: Cannot execute query in readonly mode. (READONLY) (version 25.8.1.1)');
    const e = ClickHouseError.from(raw);
    expect(e).toBeInstanceOf(ClickHouseError);
    expect(e).toBeInstanceOf(LlmeterError);
    expect(e.code).toBe(164);
    expect(e.name).toBe('ClickHouseError');
    expect(e.message).toBe('Cannot execute query in readonly mode. (READONLY)');
    expect(e.cause).toBe(raw);
  });

  it('is made once: one already made comes back as it is, with its code', () => {
    const e = new ClickHouseError('the result is too large', 396);
    expect(ClickHouseError.from(e)).toBe(e);
    expect(clickhouseCode(e)).toBe(396);
    expect(ClickHouseError.from('not an Error')).toMatchObject({ message: 'not an Error', code: undefined });
  });

  it('classifies by the parsed code however the error arrived', () => {
    expect(classifyInsertError(chdbError('Code: 27. DB::Exception: Cannot parse input. (CANNOT_PARSE_INPUT_ASSERTION_FAILED)', 27))).toBe('bad_data');
    expect(classifyInsertError(new ClickHouseError('Too many parts', 252))).toBe('retryable');
    expect(classifyInsertError(parseError('Code: 62. DB::Exception: Max query size exceeded (max_query_size). (SYNTAX_ERROR)'))).toBe('too_large');
    expect(classifyInsertError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' }))).toBe('retryable');
    expect(classifyInsertError(new Error('Unknown table'))).toBe('fatal');
  });
});
