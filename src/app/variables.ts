// SHOW VARIABLES as MySQL names them, from moat's configuration and the guard's live settings; and
// the SET GLOBAL values that survive restarts (stateDir/variables.json, applied at start).
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import type { Guard } from '../guard/guard.ts';
import { TLS_CIPHERS } from '../net/tls.ts';

export function variableRows(
  c: Config,
  guard: Guard,
  port: number,
  serverVersion: string,
): Array<[string, string | number]> {
  const g = guard.settings;
  const suites = (c.tls.ciphers ?? TLS_CIPHERS).split(':');
  return [
    ['connect_timeout', Math.ceil(c.limits.handshakeTimeoutMs / 1000)],
    ['connection_control_failed_connections_threshold', g.connection_control_failed_connections_threshold],
    ['connection_control_max_connection_delay', g.connection_control_max_connection_delay],
    ['connection_control_min_connection_delay', g.connection_control_min_connection_delay],
    ['have_ssl', c.tls.enabled ? 'YES' : 'DISABLED'],
    ['host_cache_size', g.host_cache_size],
    ['local_infile', c.localInfile ? 'ON' : 'OFF'],
    ['max_allowed_packet', c.limits.maxPacketSize],
    ['max_connect_errors', g.max_connect_errors],
    ['max_connections', g.max_connections],
    ['max_user_connections', g.max_user_connections],
    ['port', port],
    ['require_secure_transport', c.tls.require ? 'ON' : 'OFF'],
    ['skip_name_resolve', g.resolve.enabled ? 'OFF' : 'ON'],
    // MySQL's split: ssl_cipher for TLS 1.2 and below, tls_ciphersuites for TLS 1.3.
    ['ssl_cipher', suites.filter((x) => !x.startsWith('TLS_')).join(':')],
    ['tls_ciphersuites', suites.filter((x) => x.startsWith('TLS_')).join(':')],
    ['tls_version', c.tls.minVersion === 'TLSv1.3' ? 'TLSv1.3' : 'TLSv1.2,TLSv1.3'],
    ['version', serverVersion],
    ['version_comment', 'moat security gateway'],
  ];
}

/** SET GLOBAL values kept across restarts, in stateDir/variables.json (mode 0600). */
export class SavedVariables {
  private readonly path: string;

  constructor(stateDir: string) {
    this.path = join(stateDir, 'variables.json');
  }

  /** The saved values; {} when none were ever saved. */
  load(): Record<string, number> {
    if (!existsSync(this.path)) return {};
    return JSON.parse(readFileSync(this.path, 'utf8')) as Record<string, number>;
  }

  save(name: string, value: number): void {
    const saved = this.load();
    saved[name] = value;
    writeFileSync(this.path, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 });
    // The mode above applies only when the file is created, and through the umask.
    chmodSync(this.path, 0o600);
  }
}
