// What a web page must not be able to do with the collector's HTTP endpoint, checked before any
// route runs. A page the user visits can send requests to 127.0.0.1 (CSRF) and, through DNS
// rebinding, read the answers under its own host name. So:
// - `Host` must name this machine by address, `localhost`, or a configured name: a rebinding page's
//   requests carry its own host name and are refused.
// - a request a browser marks as coming from another origin (`Origin`, or `Sec-Fetch-Site` where a
//   browser sends no `Origin`) is refused unless that origin is configured.
// - a body must come with a content type a page cannot send without asking first: text/plain, forms
//   and no type at all are what a page may send cross-origin without a CORS preflight, which this
//   endpoint never grants.
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';

/** How a route is exposed: probes to anyone; the API only to this origin; `cors` routes check origins themselves. */
export type Exposure = 'probe' | 'api' | 'cors';

export interface GuardConfig {
  /** Host names (besides addresses and localhost) the endpoint answers to; `*.example.com` matches subdomains, `*` any. */
  allowed_hosts: readonly string[];
  /** Origins (scheme://host[:port]) allowed to send API requests from a browser. */
  allowed_origins: readonly string[];
}

/** Why a request is refused: status and message. */
export interface Refusal {
  status: number;
  reason: 'host' | 'origin' | 'content_type';
  message: string;
}

const SIMPLE_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain']);

export function hostOf(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']'));
  const i = h.lastIndexOf(':');
  return i >= 0 && h.indexOf(':') === i ? h.slice(0, i) : h;
}

/** A loopback listen address (127.x, ::1, localhost). */
export function isLoopbackAddress(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

export function hostAllowed(hostHeader: string | undefined, cfg: GuardConfig): boolean {
  if (!hostHeader) return false;
  const host = hostOf(hostHeader);
  if (isIP(host) !== 0 || host === 'localhost' || host.endsWith('.localhost')) return true;
  for (const a of cfg.allowed_hosts) {
    const allowed = a.toLowerCase();
    if (allowed === '*' || allowed === host) return true;
    if (allowed.startsWith('*.') && host.endsWith(allowed.slice(1))) return true;
  }
  return false;
}

function originAllowed(origin: string, hostHeader: string | undefined, cfg: GuardConfig): boolean {
  const o = origin.toLowerCase();
  if (cfg.allowed_origins.some((a) => a === '*' || a.toLowerCase() === o)) return true;
  // A page served from this very endpoint (same scheme-less host and port).
  return hostHeader !== undefined && (o === `http://${hostHeader.toLowerCase()}` || o === `https://${hostHeader.toLowerCase()}`);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The media type of the request body, lower-case, without parameters ('' when none was sent). */
export function mediaType(req: IncomingMessage): string {
  return (header(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * Checks a request against the guard; `bodyTypes` are the media types the route takes (a body of any
 * other type is refused). Returns the refusal, or undefined when the request may go on.
 */
export function refuse(req: IncomingMessage, exposure: Exposure, cfg: GuardConfig, bodyTypes?: readonly string[]): Refusal | undefined {
  if (exposure === 'probe') return undefined;
  const host = header(req, 'host');
  if (!hostAllowed(host, cfg)) {
    return {
      status: 403,
      reason: 'host',
      message: `Host ${JSON.stringify(host ?? '')} is not this endpoint's: add it to http.allowed_hosts to serve it (a guard against DNS rebinding)`,
    };
  }
  if (exposure === 'cors') return undefined;
  const origin = header(req, 'origin');
  const site = header(req, 'sec-fetch-site');
  const allowedOrigin = origin !== undefined && originAllowed(origin, host, cfg);
  if (origin !== undefined && !allowedOrigin) {
    return { status: 403, reason: 'origin', message: `requests from origin ${origin} are refused: add it to http.allowed_origins to allow browsers on it` };
  }
  if (origin === undefined && site !== undefined && site !== 'same-origin' && site !== 'none') {
    return { status: 403, reason: 'origin', message: `a browser request from another site (Sec-Fetch-Site: ${site}) is refused` };
  }
  if (bodyTypes && req.method !== 'GET' && req.method !== 'HEAD') {
    const type = mediaType(req);
    if (!bodyTypes.includes(type)) {
      const why = type === '' || SIMPLE_TYPES.has(type) ? ': any web page can send a body like that, so it is refused' : '';
      return { status: 415, reason: 'content_type', message: `send the body with Content-Type ${bodyTypes.join(' or ')} (got ${type || 'none'})${why}` };
    }
  }
  return undefined;
}
