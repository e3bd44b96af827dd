// Who may use the admin endpoints (/api/sql, /api/v1/ingest, scrape targets, spot events): a holder
// of an admin key, or, while no admin key is configured, a client on this machine.
import type { IncomingMessage } from 'node:http';
import type { HttpConfig } from '../config/schema.ts';
import { bearerToken, KeyRing, parseDigest, readKeyFile } from '../security/keys.ts';
import { HttpError } from './server.ts';

export function adminKeyRing(cfg: HttpConfig): KeyRing<'admin'> {
  const ring = new KeyRing<'admin'>();
  for (const d of cfg.admin_keys) ring.add(parseDigest(d), 'admin');
  if (cfg.admin_key_file) ring.addKey(readKeyFile(cfg.admin_key_file), 'admin');
  return ring;
}

/**
 * A client on this machine: a loopback peer that is not a reverse proxy passing on someone else's
 * request (which says so in a forwarding header). Behind a proxy on the same host every request
 * arrives from loopback, so without this test the proxy would make everyone a local operator.
 */
export function isLocalClient(req: IncomingMessage): boolean {
  const a = req.socket.remoteAddress ?? '';
  const loopback = a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.');
  const h = req.headers;
  return loopback && h.forwarded === undefined && h['x-forwarded-for'] === undefined && h['x-real-ip'] === undefined;
}

export function requireAdmin(req: IncomingMessage, ring: KeyRing<'admin'>): void {
  if (ring.size === 0) {
    if (!isLocalClient(req))
      throw new HttpError(403, 'admin endpoints accept clients on this machine only (not through a proxy) until http.admin_keys is configured');
    return;
  }
  if (ring.lookup(bearerToken(req.headers.authorization)) !== 'admin')
    throw new HttpError(401, 'missing or unknown admin key', { 'www-authenticate': 'Bearer' });
}
