// API keys are kept only as SHA-256 digests and compared in constant time. Configuration may give a
// key's digest (`sha256:<hex>`) or point at a file holding the key; plain keys never sit in config.
import { hash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

export function sha256(text: string): Buffer {
  // The one-shot form: every authenticated request hashes its key, and a Hash object costs more.
  return hash('sha256', text, 'buffer');
}

export function keyDigestHex(key: string): string {
  return sha256(key).toString('hex');
}

/** Parses `sha256:<64 hex>` into the digest bytes, or throws naming what is wrong. */
export function parseDigest(spec: string): Buffer {
  const m = /^sha256:([0-9a-fA-F]{64})$/.exec(spec.trim());
  if (!m) throw new Error('expected "sha256:" followed by 64 hex digits (make one with `llmeter hash-key`)');
  return Buffer.from(m[1]!, 'hex');
}

export function readKeyFile(file: string): string {
  const key = readFileSync(file, 'utf8').trim();
  if (!key) throw new Error(`key file ${file} is empty`);
  return key;
}

/**
 * A set of keys, each mapped to a value (a tenant, a role). Lookup hashes the presented key once and
 * compares it with every stored digest using timingSafeEqual, without stopping at the first match, so
 * the time taken says nothing about which key (if any) matched.
 */
export class KeyRing<T> {
  private readonly entries: { digest: Buffer; value: T }[] = [];

  add(digest: Buffer, value: T): void {
    if (digest.length !== 32) throw new Error('a key digest must be 32 bytes (SHA-256)');
    this.entries.push({ digest, value });
  }

  addKey(key: string, value: T): void {
    this.add(sha256(key), value);
  }

  get size(): number {
    return this.entries.length;
  }

  lookup(presented: string | undefined): T | undefined {
    if (presented === undefined || presented.length === 0 || presented.length > 512) return undefined;
    const d = sha256(presented);
    let found: T | undefined;
    for (const e of this.entries) {
      if (timingSafeEqual(d, e.digest) && found === undefined) found = e.value;
    }
    return found;
  }
}

/** The token from `Authorization: Bearer <token>`, if any. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : undefined;
}
