// The one bounded queue of the project, used by the ClickHouse writer (rows), the Kafka producer
// (bytes) and the query service (queries): what is held is bounded, a producer that finds it full
// waits its turn in a bounded waiting room (first come, first served) or is refused, and the
// batcher says when the batch being gathered must be cut — when it is full, or at the earliest
// deadline of what it holds.

export type Admitted = 'admitted' | 'full' | 'closed';

export interface AdmissionOptions {
  /** Weight held at once (rows, bytes, queries). A take that finds nothing held is admitted whatever its weight. */
  capacity: number;
  /** How much may wait for room: weight, or a number of waiters (`roomCounts`). */
  waitingRoom: number;
  roomCounts?: 'weight' | 'waiters';
  /** On close: admit those waiting (they already hold their work in memory) or turn them away. */
  onClose?: 'admit' | 'refuse';
}

export interface TakeOptions {
  /** Refuse at once instead of waiting when there is no room. */
  noWait?: boolean;
  /** Give up waiting after this long ('full'). */
  timeoutMs?: number;
}

interface Waiter {
  weight: number;
  resolve: (a: Admitted) => void;
}

export class Admission {
  private readonly o: Required<AdmissionOptions>;
  private heldWeight = 0;
  private waitingWeight = 0;
  private readonly waiters: Waiter[] = [];
  private closed = false;

  constructor(o: AdmissionOptions) {
    this.o = { roomCounts: 'weight', onClose: 'admit', ...o };
  }

  get held(): number {
    return this.heldWeight;
  }

  /** Producers waiting for room. */
  get waiting(): number {
    return this.waiters.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get isFull(): boolean {
    return this.heldWeight >= this.o.capacity;
  }

  private fits(weight: number): boolean {
    return this.heldWeight === 0 || this.heldWeight + weight <= this.o.capacity;
  }

  /** Takes `weight` of room: at once, after waiting its turn, or not ('full' when the waiting room is full too). */
  take(weight: number, opts: TakeOptions = {}): Admitted | Promise<Admitted> {
    if (this.closed) return 'closed';
    if (this.waiters.length === 0 && this.fits(weight)) {
      this.heldWeight += weight;
      return 'admitted';
    }
    const room = this.o.roomCounts === 'weight' ? this.waitingWeight + weight : this.waiters.length + 1;
    if (opts.noWait || room > this.o.waitingRoom) return 'full';
    this.waitingWeight += weight;
    return new Promise<Admitted>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const w: Waiter = {
        weight,
        resolve: (a) => {
          clearTimeout(timer);
          resolve(a);
        },
      };
      this.waiters.push(w);
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const i = this.waiters.indexOf(w);
          if (i < 0) return;
          this.waiters.splice(i, 1);
          this.waitingWeight -= weight;
          resolve('full');
        }, opts.timeoutMs);
      }
    });
  }

  /** Gives `weight` back and lets the waiters in, in order, as far as there is room. */
  release(weight: number): void {
    this.heldWeight -= weight;
    this.wake();
  }

  private wake(): void {
    while (this.waiters.length > 0) {
      const w = this.waiters[0]!;
      const admit = this.closed ? this.o.onClose === 'admit' : this.fits(w.weight);
      if (!admit && !this.closed) break;
      this.waiters.shift();
      this.waitingWeight -= w.weight;
      if (admit) this.heldWeight += w.weight;
      w.resolve(admit ? 'admitted' : 'closed');
    }
  }

  /** Admits nobody new; those waiting are admitted or turned away (AdmissionOptions.onClose). */
  close(): void {
    this.closed = true;
    this.wake();
  }
}

export interface BatcherOptions extends AdmissionOptions {
  /** Weight at which the batch being gathered is cut. */
  maxBatch: number;
}

/**
 * Admission, and the batch being gathered from what was admitted: its weight and the earliest time
 * one of its parts must go out. The owner asks `dueIn()` when to cut, cuts, and releases a batch's
 * weight once the batch is done with (written, sent, spooled).
 */
export class BoundedBatcher extends Admission {
  private readonly maxBatch: number;
  private openWeight = 0;
  private openDue = Infinity;

  constructor(o: BatcherOptions) {
    super(o);
    this.maxBatch = o.maxBatch;
  }

  /** Weight gathered since the last cut. */
  get gathered(): number {
    return this.openWeight;
  }

  /** Notes `weight` added to the batch being gathered, which must go out by `due` (epoch ms) at the latest. */
  gather(weight: number, due: number): void {
    if (this.openWeight === 0 || due < this.openDue) this.openDue = due;
    this.openWeight += weight;
  }

  /** The time the batch being gathered must be cut by (Infinity when empty). */
  get due(): number {
    return this.openWeight === 0 ? Infinity : this.openDue;
  }

  /** Milliseconds until the batch being gathered must be cut: 0 when it is full or the batcher closed; undefined when it is empty. */
  dueIn(now: number): number | undefined {
    if (this.openWeight === 0) return undefined;
    if (this.isClosed || this.openWeight >= this.maxBatch) return 0;
    return Math.max(0, this.openDue - now);
  }

  /** Starts a new batch; returns the weight of the one cut. */
  cut(): number {
    const w = this.openWeight;
    this.openWeight = 0;
    this.openDue = Infinity;
    return w;
  }
}
