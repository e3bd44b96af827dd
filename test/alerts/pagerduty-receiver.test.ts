// The PagerDuty stand-in used by the paging test answers PagerDuty's own examples like PagerDuty and
// refuses what PagerDuty refuses, so a pass in the paging test means Alertmanager kept the contract.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PagerDutyReceiver } from './pagerduty-receiver.ts';
import { fixtureText } from '../helpers/paths.ts';

const samples = JSON.parse(fixtureText('pagerduty', 'pagerduty-event-samples.json')) as Record<string, Record<string, unknown>>;
const KEY = 'e93facc04764012d7bfb002500d5d1a6';

describe('PagerDuty Events v2 receiver', () => {
  const pd = new PagerDutyReceiver();
  beforeAll(() => pd.start());
  afterAll(() => pd.close());

  const post = async (body: unknown, contentType = 'application/json') => {
    const res = await fetch(`${pd.url}/v2/enqueue`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it("accepts PagerDuty's trigger example with 202 and echoes its dedup key", async () => {
    const r = await post(samples.official_trigger_openapi_example);
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ status: 'success', message: 'Event processed', dedup_key: 'srv01/mysql' });
    expect(Object.keys(r.body).sort()).toEqual(Object.keys(samples.official_response_202!).sort());
  });

  it('accepts the documented resolve (with a 32-character key) and our own fleet samples', async () => {
    expect((await post({ ...samples.official_resolve_example, routing_key: KEY })).status).toBe(202);
    expect((await post(samples.llm_fleet_trigger)).status).toBe(202);
    expect((await post(samples.llm_fleet_resolve)).status).toBe(202);
  });

  it('gives a trigger without dedup key a fresh one', async () => {
    const { dedup_key: _unused, ...noKey } = samples.official_trigger_openapi_example as Record<string, unknown>;
    const r = await post(noKey);
    expect(r.status).toBe(202);
    expect(r.body.dedup_key).toMatch(/^[0-9a-f]{32}$/);
  });

  it('refuses what PagerDuty refuses, with 400 and the reasons', async () => {
    const trigger = samples.official_trigger_openapi_example as { payload: Record<string, unknown> };
    const cases: unknown[] = [
      { ...trigger, payload: { ...trigger.payload, severity: 'disaster' } },
      { ...trigger, payload: { summary: 'x', severity: 'critical' } },
      { ...trigger, event_action: 'escalate' },
      { routing_key: KEY, event_action: 'trigger' },
      { routing_key: KEY, event_action: 'resolve' },
      { ...trigger, routing_key: 'short' },
    ];
    for (const c of cases) {
      const r = await post(c);
      expect(r.status, JSON.stringify(c)).toBe(400);
      expect(r.body.status).toBe('invalid event');
      expect((r.body.errors as string[]).length).toBeGreaterThan(0);
    }
    const garbage = await post('{not json');
    expect(garbage.status).toBe(400);
    expect(garbage.body).toEqual(samples.official_response_400_error);
  });
});
