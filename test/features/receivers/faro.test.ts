// The Faro receiver's parts on their own: RecentKeys, the bounded memory of Idempotency-Keys.
import { describe, expect, it } from 'vitest';
import { RecentKeys } from '../../../collector/features/receivers/faro/idempotency.ts';

describe('RecentKeys', () => {
  it('holds at most max keys, forgetting the oldest first', () => {
    const r = new RecentKeys(3, 60_000, () => 0);
    for (const k of ['a', 'b', 'c', 'd']) {
      const c = r.claim(k);
      if (c.kind === 'new') c.settle({ accepted: 1, rejected: 0 });
    }
    expect(r.size).toBe(3);
    expect(r.claim('a').kind).toBe('new');
    expect(r.claim('d').kind).toBe('replay');
  });

  it('forgets a key ttl after its payload was stored', () => {
    let t = 0;
    const r = new RecentKeys(10, 1_000, () => t);
    const c = r.claim('k');
    if (c.kind === 'new') c.settle({ accepted: 2, rejected: 0 });
    t = 1_000;
    expect(r.claim('k')).toEqual({ kind: 'replay', result: { accepted: 2, rejected: 0 } });
    t = 1_001;
    expect(r.claim('other').kind).toBe('new');
    expect(r.size).toBe(1);
    expect(r.claim('k').kind).toBe('new');
  });

  it('makes a second claim wait for the first, then replays or hands the key over', async () => {
    const r = new RecentKeys(10, 60_000);
    const first = r.claim('k');
    const second = r.claim('k');
    expect(first.kind).toBe('new');
    expect(second.kind).toBe('wait');
    if (first.kind !== 'new' || second.kind !== 'wait') return;
    first.settle(undefined);
    await second.settled;
    const third = r.claim('k');
    expect(third.kind).toBe('new');
    if (third.kind === 'new') third.settle({ accepted: 1, rejected: 0 });
    expect(r.claim('k').kind).toBe('replay');
  });
});
