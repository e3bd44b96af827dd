// llmeter's own errors share one base with a code, so a caller tells a refusal from a bug, while each
// keeps its name, its `instanceof` and the fields its callers read.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../collector/app/cli/context.ts';
import { ConfigError } from '../../collector/core/config/load.ts';
import { errorMessage, LlmeterError } from '../../collector/core/errors.ts';
import { HttpError } from '../../collector/core/http/server.ts';
import { QueryRefused } from '../../collector/core/query/guard.ts';
import { MetricUnavailable } from '../../collector/features/autoscale/errors.ts';
import { TriggerError } from '../../collector/features/autoscale/scaler.ts';
import { ParamError } from '../../collector/features/cost/params.ts';
import { HttpStatusError } from '../../exporters/prices/http.ts';
import { WatcherError } from '../../exporters/prices/interruptions/poller.ts';
import { GarbageAnswer, SourceConfigError } from '../../exporters/prices/source.ts';
import { ClientGoneError } from '../../exporters/proxy/exchange.ts';
import { BodyTooLargeError } from '../../exporters/proxy/request.ts';
import { QueueFullError, QueueTimeoutError } from '../../exporters/proxy/upstreams.ts';
import { ScrapeError } from '../../exporters/scrape/fetch.ts';

describe('errorMessage', () => {
  it('reads an Error, an object with a message, and anything else as text', () => {
    expect(errorMessage(new RangeError('too deep'))).toBe('too deep');
    expect(errorMessage({ message: 'from a library' })).toBe('from a library');
    expect(errorMessage('a thrown string')).toBe('a thrown string');
    expect(errorMessage(undefined)).toBe('undefined');
  });
});

describe('LlmeterError', () => {
  const cases: [Error, string, string | number][] = [
    [new UsageError('not a URL'), 'UsageError', 'usage'],
    [new ConfigError('llmeter.yaml', ['store.url: bad']), 'ConfigError', 'invalid_config'],
    [new HttpError(413, 'too large'), 'HttpError', 413],
    [new QueryRefused('writes are refused'), 'QueryRefused', 'refused'],
    [new MetricUnavailable('spot_price', 'gpu', 'no price yet'), 'MetricUnavailable', 'metric_unavailable'],
    [new TriggerError('trigger metadata needs `tier`'), 'TriggerError', 'invalid_trigger'],
    [new ParamError('from: required'), 'ParamError', 'invalid_param'],
    [new HttpStatusError('https://example.test/?key=secret', 503, 'busy'), 'HttpStatusError', 503],
    [new WatcherError('garbage', 'not JSON'), 'WatcherError', 'garbage'],
    [new GarbageAnswer('expected an array'), 'GarbageAnswer', 'garbage'],
    [new SourceConfigError('no credentials'), 'SourceConfigError', 'source_config'],
    [new ClientGoneError(), 'ClientGoneError', 'client_abort'],
    [new BodyTooLargeError('request body exceeds the limit'), 'BodyTooLargeError', 'too_large'],
    [new QueueFullError('3 requests already waiting'), 'QueueFullError', 'queue_full'],
    [new QueueTimeoutError('no upstream slot within 10 ms'), 'QueueTimeoutError', 'queue_timeout'],
    [new ScrapeError('timeout', 'timed out after 10 ms'), 'ScrapeError', 'timeout'],
  ];

  it.each(cases)('%s is an LlmeterError with its own name and code', (err, name, code) => {
    expect(err).toBeInstanceOf(LlmeterError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe(name);
    expect((err as LlmeterError).code).toBe(code);
    expect(String(err)).toBe(`${name}: ${err.message}`);
  });

  it('keeps the fields callers read beside the code', () => {
    expect(new HttpError(429, 'slow down', { 'retry-after': '5' })).toMatchObject({ status: 429, headers: { 'retry-after': '5' } });
    expect(new HttpStatusError('https://example.test/', 429, '', 2000)).toMatchObject({ status: 429, retryable: true, retryAfterMs: 2000 });
    expect(new HttpStatusError('https://example.test/?key=secret', 404, 'gone').message).toBe('https://example.test/?key=… answered 404: gone');
    expect(new ScrapeError('connect', 'ECONNREFUSED').kind).toBe('connect');
    expect(new WatcherError('token_refused', 'IMDS refused a session token').reason).toBe('token_refused');
    expect(new ConfigError('environment', ['a', 'b'])).toMatchObject({ issues: ['a', 'b'], message: 'invalid configuration (environment):\n  - a\n  - b' });
  });
});
