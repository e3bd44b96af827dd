// The Faro SDK puts an Idempotency-Key on every payload and keeps it across its retries, so a payload
// whose 202 was lost (a timeout, a dropped connection) comes back with the same key. Each app keeps
// the keys of the payloads it stored recently; a payload whose key is among them is answered as
// before without being stored again. A payload still being stored holds its key, so a retry that
// overtakes it waits for the first attempt's outcome instead of storing a second copy.

/** What was answered for a stored payload; a replay gets the same. */
export interface StoredResult {
  accepted: number;
  rejected: number;
}

export type Claim =
  /** Stored before: answer with its result, store nothing. */
  | { kind: 'replay'; result: StoredResult }
  /** Being stored by another request: wait for it, then claim again. */
  | { kind: 'wait'; settled: Promise<void> }
  /** New: store the payload, then settle with the result (or undefined when it was not stored). */
  | { kind: 'new'; settle(result: StoredResult | undefined): void };

interface Entry {
  result: StoredResult | undefined;
  /** When the result came (or the claim, while pending). */
  at: number;
  /** Made only when a second request waits: most keys are never seen twice. */
  settled: Promise<void> | undefined;
  wake: (() => void) | undefined;
}

/** The value of an Idempotency-Key header, or the reason it is not one. */
export function parseIdempotencyKey(raw: string | undefined): { key: string } | { error: string } | undefined {
  if (raw === undefined) return undefined;
  let v = raw.trim();
  // The IETF draft writes the key as a structured-field string ("…"); the Faro SDK sends it bare.
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
  if (v === '') return undefined;
  if (v.length > MAX_KEY || !KEY_RE.test(v)) return { error: `Idempotency-Key must be 1 to ${MAX_KEY} visible ASCII characters` };
  return { key: v };
}

export const MAX_KEY = 128;
const KEY_RE = /^[\x21\x23-\x7e]+$/;

/**
 * The recent keys of one app: at most `maxKeys`, each for `ttlMs` after its payload was stored. The
 * oldest are forgotten first, so memory stays bounded whatever the traffic.
 */
export class RecentKeys {
  private readonly map = new Map<string, Entry>();
  private readonly maxKeys: number;
  private readonly ttlMs: number;
  private readonly now: () => number;
  /** No key expires before this time: until then claims skip the scan. */
  private nextExpiry = 0;

  constructor(maxKeys: number, ttlMs: number, now: () => number = Date.now) {
    this.maxKeys = maxKeys;
    this.ttlMs = ttlMs;
    this.now = now;
  }

  get size(): number {
    return this.map.size;
  }

  claim(key: string): Claim {
    const t = this.now();
    this.expire(t);
    const e = this.map.get(key);
    if (e) {
      if (!e.result) {
        e.settled ??= new Promise<void>((r) => (e.wake = r));
        return { kind: 'wait', settled: e.settled };
      }
      if (t - e.at <= this.ttlMs) return { kind: 'replay', result: e.result };
      this.map.delete(key);
    }
    const entry: Entry = { result: undefined, at: t, settled: undefined, wake: undefined };
    this.map.set(key, entry);
    this.evict();
    return {
      kind: 'new',
      settle: (result) => {
        if (result) {
          entry.result = result;
          entry.at = this.now();
        } else if (this.map.get(key) === entry) {
          // Not stored: a retry with this key must be stored.
          this.map.delete(key);
        }
        entry.wake?.();
      },
    };
  }

  /** Remembers a key stored earlier (keys read back from the store at start-up). */
  remember(key: string, result: StoredResult, at: number): void {
    if (this.map.has(key)) return;
    this.map.set(key, { result, at, settled: undefined, wake: undefined });
    this.evict();
  }

  private evict(): void {
    while (this.map.size > this.maxKeys) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
    }
  }

  /** Drops expired keys from the old end; entries are in claim order, so this stops early. */
  private expire(t: number): void {
    if (t < this.nextExpiry) return;
    for (const [k, e] of this.map) {
      if (!e.result || t - e.at <= this.ttlMs) {
        this.nextExpiry = e.result ? e.at + this.ttlMs + 1 : t + 1_000;
        return;
      }
      this.map.delete(k);
    }
  }
}
