// Where moat stands relative to the server, derived from moat's configuration: which path its
// backend connections take, and the host part the server sees for them — which is the only host
// part an account reached through moat needs.
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Config } from '../config/schema.ts';
import { isLoopback } from '../model/address.ts';

export type BackendPath =
  | { kind: 'unix'; path: string }
  /** TCP over loopback. */
  | { kind: 'loopback'; host: string; port: number }
  /** TCP to one of this host's own non-loopback addresses. */
  | { kind: 'local'; host: string; port: number }
  /** TCP to another host. */
  | { kind: 'remote'; host: string; port: number };

export interface CheckContext {
  config: Config;
  path: BackendPath;
  /** The host part the server sees for moat's connections ('localhost' for the unix socket). */
  moatHost: string;
  /** This host's non-loopback addresses (IPv6 link-local ones with their %interface). */
  localAddresses: readonly string[];
  now: number;
  /** A certificate expiring within this many days is a warning. */
  certWarnDays: number;
}

/** Non-internal addresses of this host, as net.connect takes them. */
export function hostAddresses(): string[] {
  const out: string[] = [];
  for (const [name, list] of Object.entries(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      // A link-local IPv6 address means nothing without its interface.
      out.push(
        a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80:')
          ? `${a.address}%${name}`
          : a.address,
      );
    }
  }
  return [...new Set(out)];
}

export function backendPath(config: Config, localAddresses: readonly string[]): BackendPath {
  const e = config.backend.address;
  if (e.kind === 'unix') return { kind: 'unix', path: e.path };
  if (isLoopback(e.host)) return { kind: 'loopback', host: e.host, port: e.port };
  if (localAddresses.includes(e.host)) return { kind: 'local', host: e.host, port: e.port };
  return { kind: 'remote', host: e.host, port: e.port };
}

/**
 * What the server calls moat's connections. For a remote backend that is this host's address on
 * the way there, known only from a TCP connection to it (`seenFrom`).
 */
export function moatHostOf(path: BackendPath, seenFrom: string | null): string {
  switch (path.kind) {
    case 'unix':
      return 'localhost';
    case 'loopback':
      return isIP(path.host) === 0 ? '127.0.0.1' : path.host;
    case 'local':
      return path.host;
    case 'remote':
      return seenFrom ?? '<moat address>';
  }
}
