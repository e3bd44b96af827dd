// What node a model server or exporter runs on when the configuration does not say: the host of its
// URL, except that a loopback address is this host, by its own name. "127.0.0.1" names no node;
// records from it would never meet the inventory's record of the machine.
import { hostname } from 'node:os';

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[?::1\]?)$/i;

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.test(host);
}

/** The node a service at `url` runs on: this host's name for a loopback URL, else the URL's host. */
export function nodeOfUrl(url: URL, thisHost = hostname()): string {
  return isLoopbackHost(url.hostname) ? thisHost : url.hostname;
}

/** Whether `node` names the host this process runs on (its host name, or the first label of it). */
export function isThisHost(node: string, host = hostname()): boolean {
  const n = node.toLowerCase();
  const h = host.toLowerCase();
  return n === h || n === h.split('.')[0] || n.split('.')[0] === h;
}
