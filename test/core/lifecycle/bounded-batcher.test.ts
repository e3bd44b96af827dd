// The one bounded queue (rows for the ClickHouse writer, bytes for the Kafka producer, queries for the
// query service): its bound, its first-come-first-served waiting room, what closing does to those
// waiting, and when the batch being gathered is due.
import { describe, expect, it } from 'vitest';
import { Admission, BoundedBatcher } from '../../../collector/core/lifecycle/bounded-batcher.ts';

describe('Admission', () => {
  it('admits up to its capacity, and always admits one take when nothing is held', () => {
    const a = new Admission({ capacity: 10, waitingRoom: 10 });
    expect(a.take(25)).toBe('admitted');
    expect(a.held).toBe(25);
    a.release(25);
    expect(a.take(6)).toBe('admitted');
    expect(a.take(4)).toBe('admitted');
    expect(a.isFull).toBe(true);
  });

  it('lets the waiting in first come, first served, as far as there is room', async () => {
    const a = new Admission({ capacity: 10, waitingRoom: 20 });
    a.take(10);
    const order: string[] = [];
    const big = (a.take(8) as Promise<string>).then((r) => order.push(`big:${r}`));
    const small = (a.take(1) as Promise<string>).then((r) => order.push(`small:${r}`));
    // A later small take does not jump the queue either.
    expect(a.take(1)).toBeInstanceOf(Promise);
    a.release(5);
    await Promise.resolve();
    expect(order).toEqual([]);
    a.release(5);
    await big;
    await small;
    expect(order).toEqual(['big:admitted', 'small:admitted']);
    expect(a.held).toBe(9 + 1);
  });

  it('refuses at once past the waiting room, by weight or by number of waiters', () => {
    const w = new Admission({ capacity: 10, waitingRoom: 10 });
    w.take(10);
    expect(w.take(6)).toBeInstanceOf(Promise);
    expect(w.take(5)).toBe('full');
    expect(w.take(4)).toBeInstanceOf(Promise);
    const n = new Admission({ capacity: 1, waitingRoom: 2, roomCounts: 'waiters' });
    n.take(1);
    n.take(1);
    n.take(1);
    expect(n.take(1)).toBe('full');
    expect(n.take(1, { noWait: true })).toBe('full');
  });

  it('gives up a wait after its timeout, leaving its place to the next', async () => {
    const a = new Admission({ capacity: 1, waitingRoom: 5, roomCounts: 'waiters' });
    a.take(1);
    const late = a.take(1, { timeoutMs: 20 });
    const next = a.take(1);
    expect(await late).toBe('full');
    a.release(1);
    expect(await next).toBe('admitted');
  });

  it('on close admits those waiting (their work is in memory) or turns them away, and takes nobody new', async () => {
    const admit = new Admission({ capacity: 1, waitingRoom: 5, onClose: 'admit' });
    admit.take(1);
    const w = admit.take(1);
    admit.close();
    expect(await w).toBe('admitted');
    expect(admit.take(1)).toBe('closed');
    const refuse = new Admission({ capacity: 1, waitingRoom: 5, roomCounts: 'waiters', onClose: 'refuse' });
    refuse.take(1);
    const r = refuse.take(1);
    refuse.close();
    expect(await r).toBe('closed');
    expect(refuse.held).toBe(1);
  });
});

describe('BoundedBatcher', () => {
  it('is due at the earliest deadline of what it gathered, at once when full or closed, and not when empty', () => {
    const b = new BoundedBatcher({ capacity: 100, waitingRoom: 100, maxBatch: 10 });
    expect(b.dueIn(0)).toBeUndefined();
    b.gather(2, 1_000);
    b.gather(2, 500);
    b.gather(2, 2_000);
    expect(b.dueIn(100)).toBe(400);
    expect(b.dueIn(900)).toBe(0);
    b.gather(4, 5_000);
    expect(b.dueIn(100)).toBe(0);
    expect(b.cut()).toBe(10);
    expect(b.dueIn(100)).toBeUndefined();
    b.gather(1, 5_000);
    b.close();
    expect(b.dueIn(100)).toBe(0);
  });
});
