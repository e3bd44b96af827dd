// Interruption watchers against local metadata services that answer with the captured notices:
// IMDSv2 (token flow, refusal, expiry), GCE `preempted`, Azure Scheduled Events, and EventBridge
// events from a file and over HTTP. Each notice is stored once and published once.
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import type { CapacityNotice } from '../../../exporters/prices/interruptions/notice.ts';
import { eventToNotice, unwrapEvents } from '../../../exporters/prices/interruptions/eventbridge.ts';
import { count, tempDir, testConfig } from '../../helpers/store.ts';
import { fakeServer, fixture, send, type FakeServer } from '../../helpers/prices.ts';
import { metric } from '../../helpers/metrics.ts';
import { waitFor } from '../../helpers/wait.ts';

const INSTANCE = 'i-1234567890abcdef0';
const TOKEN_TTL = 21_600;

// IMDS: tokens are numbered; token "t1" is answered 401 once it has been "expired" by the test.
interface ImdsState {
  refuse: boolean;
  acceptV1: boolean;
  tokens: number;
  expired: Set<string>;
  action?: string;
  rebalance?: string;
  scheduled?: string;
}
const imdsState: ImdsState = { refuse: false, acceptV1: false, tokens: 0, expired: new Set() };
const gcpState = { preempted: false, waits: 0 };
let azureDocs: string[] = [];

let imds: FakeServer;
let gcp: FakeServer;
let azure: FakeServer;
let collector: Collector;
const notices: CapacityNotice[] = [];
const eventFile = path.join(tempDir('llmeter-spot-'), 'events.ndjson');

beforeAll(async () => {
  imds = await fakeServer((req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (imdsState.refuse) return send(res, 403, '', 'text/plain');
      expect(req.headers['x-aws-ec2-metadata-token-ttl-seconds']).toBe(String(TOKEN_TTL));
      return send(res, 200, `t${++imdsState.tokens}`, 'text/plain', { 'x-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL) });
    }
    const token = req.headers['x-aws-ec2-metadata-token'];
    if (typeof token !== 'string' ? !imdsState.acceptV1 : imdsState.expired.has(token)) return send(res, 401, '', 'text/plain');
    const p = req.url.replace('/latest/meta-data/', '');
    const body =
      p === 'instance-id'
        ? INSTANCE
        : p === 'spot/instance-action'
          ? imdsState.action
          : p === 'events/recommendations/rebalance'
            ? imdsState.rebalance
            : p === 'events/maintenance/scheduled'
              ? imdsState.scheduled
              : undefined;
    if (body === undefined) return send(res, 404, '<?xml version="1.0"?><html>404 - Not Found</html>', 'text/html');
    send(res, 200, body, 'text/plain');
  });
  gcp = await fakeServer((req, res) => {
    if (req.headers['metadata-flavor'] !== 'Google') return send(res, 403, 'Missing Metadata-Flavor:Google header.', 'text/html');
    const u = new URL(req.url, 'http://x');
    if (u.pathname === '/computeMetadata/v1/instance/id') return send(res, 200, '4520031799277581759', 'application/text');
    if (u.pathname !== '/computeMetadata/v1/instance/preempted') return send(res, 404, 'not found', 'text/html');
    expect(u.searchParams.get('wait_for_change')).toBe('true');
    gcpState.waits++;
    const value = gcpState.preempted ? 'TRUE' : 'FALSE';
    const etag = gcpState.preempted ? '7e0ee7a5d0fa1f2a' : 'c4ca4238a0b92382';
    // A hanging GET with an unchanged value waits; here it answers after a short pause.
    setTimeout(() => send(res, 200, value, 'application/text', { etag }), u.searchParams.get('last_etag') === etag ? 30 : 0);
  });
  azure = await fakeServer((req, res) => {
    if (req.headers.metadata !== 'true') return send(res, 400, '{"error":"Bad request. Required metadata header not specified"}');
    expect(req.url).toBe('/metadata/scheduledevents?api-version=2020-07-01');
    send(res, 200, azureDocs.length > 1 ? azureDocs.shift()! : (azureDocs[0] ?? '{"DocumentIncarnation":0,"Events":[]}'));
  });
  writeFileSync(eventFile, '');
  collector = await startCollector(
    testConfig({
      // The captured notices are the providers' documented examples, dated 2017 to 2022: the reference
      // retention a user gets would refuse them (test/core/http/ingest-api.int.test.ts), so events stay.
      store: { ttl_days: { raw: 0, reference: 0 } },
      pipeline: { batch_ms: 50 },
      prices: {
        enabled: true,
        interruptions: {
          node: 'gpu-node-1',
          aws_imds: { enabled: true, endpoint: imds.url, interval_ms: 20, token_ttl_s: TOKEN_TTL },
          gcp_metadata: { enabled: true, endpoint: gcp.url, interval_ms: 20, wait_timeout_s: 1 },
          azure_scheduled_events: { enabled: true, endpoint: azure.url, interval_ms: 20 },
          eventbridge: { file: eventFile, poll_ms: 20, http: true },
        },
      },
    }),
    silentLogger,
  );
  collector.provided!.prices.notices.onNotice((n) => {
    notices.push(n);
  });
}, 60_000);

afterAll(async () => {
  await collector?.shutdown();
  await Promise.all([imds?.close(), gcp?.close(), azure?.close()]);
});

async function stored(kind: string, provider: string): Promise<number> {
  await collector.pipeline.forceFlush();
  return count(collector.store, `capacity_events FINAL WHERE kind = '${kind}' AND provider = '${provider}'`);
}

describe('AWS IMDSv2', () => {
  it('reads the spot instance-action with a session token, and records a notice polled many times once', async () => {
    imdsState.action = fixture('aws-imds-spot-instance-action-terminate.json');
    await waitFor('the IMDS interruption notice', () => notices.some((n) => n.kind === 'spot_interruption' && n.channel === 'imds'));
    const polls = imds.requests.length;
    await waitFor('20 more IMDS polls', () => imds.requests.length > polls + 20);
    const n = notices.filter((x) => x.kind === 'spot_interruption' && x.channel === 'imds');
    expect(n).toHaveLength(1);
    expect(n[0]).toMatchObject({
      provider: 'aws',
      node: 'gpu-node-1',
      instanceId: INSTANCE,
      action: 'terminate',
      actionAt: Date.parse('2017-09-18T08:22:00Z'),
      eventId: `aws-imds:${INSTANCE}:instance-action:terminate:2017-09-18T08:22:00Z`,
    });
    expect(await stored('spot_interruption', 'aws')).toBe(1);
    expect(await metric(collector.registry, 'llmeter_spot_notices_duplicate_total', { channel: 'imds' })).toBeGreaterThan(5);
    // Every read carried a token, and one token served them all.
    const reads = imds.requests.filter((r) => r.method === 'GET');
    expect(reads.every((r) => r.headers['x-aws-ec2-metadata-token'] === 't1')).toBe(true);
    expect(imds.requests.filter((r) => r.method === 'PUT')).toHaveLength(1);
  });

  it('records the rebalance recommendation and scheduled maintenance', async () => {
    imdsState.rebalance = fixture('aws-imds-rebalance-recommendation.json');
    imdsState.scheduled = fixture('aws-imds-scheduled-maintenance-events.json');
    await waitFor(
      'the rebalance recommendation and the scheduled event',
      () => notices.some((n) => n.kind === 'rebalance_recommendation') && notices.some((n) => n.kind === 'scheduled_event' && n.provider === 'aws'),
    );
    const r = notices.find((n) => n.kind === 'rebalance_recommendation')!;
    expect(r).toMatchObject({ ts: Date.parse('2020-10-27T08:22:00Z'), actionAt: null });
    const s = notices.find((n) => n.kind === 'scheduled_event' && n.provider === 'aws')!;
    expect(s).toMatchObject({
      action: 'system-reboot',
      actionAt: Date.parse('21 Jan 2019 09:00:43 GMT'),
      eventId: `aws-imds:${INSTANCE}:instance-event-0d59937288b749b32`,
    });
  });

  it('fetches a new token when a read answers 401 (expired)', async () => {
    imdsState.expired.add('t1');
    await waitFor('a read with the new token', () => imds.requests.some((r) => r.method === 'GET' && r.headers['x-aws-ec2-metadata-token'] === 't2'));
    expect(imds.requests.filter((r) => r.method === 'PUT').length).toBe(2);
  });

  it('reports a refused token PUT and never reads without a token', async () => {
    const errorsBefore = await metric(collector.registry, 'llmeter_spot_watcher_errors_total', { watcher: 'aws-imds', reason: 'token_refused' });
    imdsState.expired.add('t2');
    imdsState.refuse = true;
    const mark = imds.requests.length;
    await waitFor(
      'a token_refused error counted',
      async () => (await metric(collector.registry, 'llmeter_spot_watcher_errors_total', { watcher: 'aws-imds', reason: 'token_refused' })) > errorsBefore,
    );
    const since = imds.requests.slice(mark);
    expect(since.filter((r) => r.method === 'GET' && r.headers['x-aws-ec2-metadata-token'] === undefined)).toHaveLength(0);
    expect(await metric(collector.registry, 'llmeter_spot_watcher_up', { watcher: 'aws-imds' })).toBe(0);
    imdsState.refuse = false;
    await waitFor(
      'the IMDS watcher up again',
      async () => (await metric(collector.registry, 'llmeter_spot_watcher_up', { watcher: 'aws-imds' })) === 1,
      15_000,
    );
  });
});

describe('GCE metadata', () => {
  it('waits on instance/preempted with the Metadata-Flavor header and records TRUE once', async () => {
    await waitFor('two waits on instance/preempted', () => gcpState.waits >= 2);
    expect(notices.some((n) => n.provider === 'gcp')).toBe(false);
    gcpState.preempted = true;
    await waitFor('the GCE preemption notice', () => notices.some((n) => n.kind === 'preemption' && n.provider === 'gcp'));
    const w = gcpState.waits;
    await waitFor('three more waits', () => gcpState.waits > w + 3);
    const g = notices.filter((n) => n.provider === 'gcp');
    expect(g).toHaveLength(1);
    expect(g[0]).toMatchObject({ instanceId: '4520031799277581759', eventId: 'gcp-metadata:4520031799277581759:preempted:7e0ee7a5d0fa1f2a' });
    expect(await stored('preemption', 'gcp')).toBe(1);
    expect(gcp.requests.some((r) => r.url.includes('last_etag=c4ca4238a0b92382'))).toBe(true);
  });
});

describe('Azure Scheduled Events', () => {
  it('records a Freeze once across documents, and a Preempt as a preemption', async () => {
    const docs = JSON.parse(fixture('azure-scheduled-events-freeze-docs-sequence.json')) as {
      DocumentIncarnation: number;
      Events: Record<string, unknown>[];
    }[];
    // A Spot eviction document in the documented shape (EventType Preempt, RFC 1123 NotBefore).
    const preempt = {
      DocumentIncarnation: 5,
      Events: [
        {
          EventId: 'A123BC45-1234-5678-AB90-ABCDEF123456',
          EventStatus: 'Scheduled',
          EventType: 'Preempt',
          ResourceType: 'VirtualMachine',
          Resources: ['WestNO_0'],
          NotBefore: 'Tue, 09 Aug 2022 17:07:32 GMT',
          Description: '',
          EventSource: 'Platform',
          DurationInSeconds: -1,
        },
      ],
    };
    azureDocs = [...docs, preempt].map((d) => JSON.stringify(d));
    await waitFor('the Azure preemption notice', () => notices.some((n) => n.provider === 'azure' && n.kind === 'preemption'));
    const a = notices.filter((n) => n.provider === 'azure');
    expect(a.map((n) => [n.kind, n.action])).toEqual([
      ['scheduled_event', 'Freeze'],
      ['preemption', 'Preempt'],
    ]);
    expect(a[0]).toMatchObject({
      actionAt: Date.parse('Mon, 11 Apr 2026 22:26:58 GMT'),
      eventId: 'azure-scheduled-events:C7061BAC-AFDC-4513-B24B-AA5F13A16123',
    });
    expect(a[1]).toMatchObject({ actionAt: Date.parse('2022-08-09T17:07:32Z') });
    expect(await stored('scheduled_event', 'azure')).toBe(1);
    expect(await stored('preemption', 'azure')).toBe(1);
    expect(azure.requests.every((r) => r.headers.metadata === 'true')).toBe(true);
  });
});

describe('EventBridge events', () => {
  it('maps the captured events and unwraps SQS and SNS envelopes', () => {
    const warning = JSON.parse(fixture('aws-spot-interruption-eventbridge-nth-example.json')) as Record<string, unknown>;
    expect(eventToNotice(warning)).toMatchObject({
      kind: 'spot_interruption',
      instanceId: 'i-0b662ef9931388ba0',
      action: 'terminate',
      eventId: 'aws-eventbridge:1e5527d7-bb36-4607-3370-4164db56a40e',
    });
    // The docs' example keeps its "yyyy-mm-dd…" placeholder: not a time, not a notice.
    expect(eventToNotice(JSON.parse(fixture('aws-rebalance-recommendation-eventbridge.json')))).toBe('bad_time');
    expect(eventToNotice(JSON.parse(fixture('aws-ec2-state-change-eventbridge-nth-example.json')))).toBe('state_not_tracked');
    const sqs = { Records: [{ body: JSON.stringify({ Type: 'Notification', Message: JSON.stringify(warning) }) }] };
    expect(unwrapEvents(sqs)).toEqual([warning]);
  });

  it('records an event delivered twice (file and HTTP) once', async () => {
    const warning = fixture('aws-spot-interruption-eventbridge-nth-example.json').replace('"1970-01-01T00:00:00Z"', '"2026-03-01T10:00:00Z"');
    const line = JSON.stringify(JSON.parse(warning));
    appendFileSync(eventFile, `${line}\n${line}\n`);
    await waitFor('the EventBridge notice from the file', () => notices.some((n) => n.channel === 'eventbridge'));
    const res = await fetch(`http://${collector.address}/api/v1/spot/events`, {
      method: 'POST',
      body: JSON.stringify({ Records: [{ body: line }] }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ recorded: 0, duplicates: 1, ignored: {} });
    const e = notices.filter((n) => n.channel === 'eventbridge');
    expect(e).toHaveLength(1);
    expect(e[0]).toMatchObject({ ts: Date.parse('2026-03-01T10:00:00Z'), actionAt: Date.parse('2026-03-01T10:02:00Z') });
    await collector.pipeline.forceFlush();
    expect(await count(collector.store, "capacity_events FINAL WHERE event_id = 'aws-eventbridge:1e5527d7-bb36-4607-3370-4164db56a40e'")).toBe(1);
  });

  it('stores the same interruption from IMDS and EventBridge under each channel, but publishes it once', async () => {
    const warning = JSON.parse(
      fixture('aws-spot-interruption-eventbridge.json').replace('yyyy-mm-ddThh:mm:ssZ', '2026-03-01T11:00:00Z').replace('"action"', '"terminate"'),
    ) as Record<string, unknown>;
    const before = notices.length;
    const res = await fetch(`http://${collector.address}/api/v1/spot/events`, {
      method: 'POST',
      body: JSON.stringify(warning),
      headers: { 'content-type': 'application/json' },
    });
    expect(await res.json()).toEqual({ recorded: 1, duplicates: 0, ignored: {} });
    // Already published by the IMDS watcher (same instance, same kind): no second drain.
    expect(notices.length).toBe(before);
    expect(notices.filter((n) => n.kind === 'spot_interruption' && n.instanceId === INSTANCE).map((n) => n.channel)).toEqual(['imds']);
    await collector.pipeline.forceFlush();
    expect(await count(collector.store, `capacity_events FINAL WHERE kind = 'spot_interruption' AND instance_id = '${INSTANCE}'`)).toBe(2);
  });
});

describe('AWS IMDSv1 fallback', () => {
  it('reads without a token only when imdsv1_fallback allows it', async () => {
    const { AwsImdsWatcher } = await import('../../../exporters/prices/interruptions/aws-imds.ts');
    const hub = collector.provided!.prices.notices;
    imdsState.refuse = true;
    imdsState.acceptV1 = true;
    imdsState.action = fixture('aws-imds-spot-instance-action-stop.json');
    const mark = imds.requests.length;
    const w = new AwsImdsWatcher({
      endpoint: imds.url,
      tokenTtlS: 60,
      imdsv1Fallback: true,
      scheduledEvents: false,
      node: 'gpu-node-2',
      instanceId: 'i-0aaaaaaaaaaaaaaaa',
      hub,
      intervalMs: 20,
      maxBackoffMs: 100,
      metrics: collector.provided!.prices.watcherMetrics,
      log: silentLogger,
    });
    await w.start();
    try {
      await waitFor('the IMDSv1 notice', () => notices.some((n) => n.instanceId === 'i-0aaaaaaaaaaaaaaaa'));
    } finally {
      await w.shutdown();
      imdsState.refuse = false;
      imdsState.acceptV1 = false;
    }
    expect(notices.find((n) => n.instanceId === 'i-0aaaaaaaaaaaaaaaa')).toMatchObject({ action: 'stop', node: 'gpu-node-2' });
    expect(imds.requests.slice(mark).some((r) => r.method === 'GET' && r.headers['x-aws-ec2-metadata-token'] === undefined)).toBe(true);
  });
});

describe('after a restart', () => {
  it('a hub that preloads stored ids does not publish an old notice again', async () => {
    const { NoticeHub } = await import('../../../exporters/prices/interruptions/hub.ts');
    const { Registry } = await import('prom-client');
    await collector.pipeline.forceFlush();
    const hub = new NoticeHub({ sink: collector.pipeline, registry: new Registry(), log: silentLogger, dedupeWindow: 100, suppressMs: 0 });
    const published: CapacityNotice[] = [];
    hub.onNotice((n) => {
      published.push(n);
    });
    expect(await hub.preload(collector.store, Date.parse('2000-01-01T00:00:00Z'))).toBeGreaterThan(3);
    const old = notices.find((n) => n.channel === 'imds' && n.kind === 'spot_interruption')!;
    expect(await hub.report(old)).toBe(false);
    expect(await hub.report({ ...old, eventId: 'aws-imds:new', instanceId: 'i-0bbbbbbbbbbbbbbbb' })).toBe(true);
    expect(published.map((n) => n.eventId)).toEqual(['aws-imds:new']);
  });
});
