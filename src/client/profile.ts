// What moat tells clients about the server before it has a backend connection: the backend's
// version, capabilities and character set, learned from real logins (or the health-check login)
// and kept in the state directory so a restart greets like the server did.
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Cap, DEFAULT_CHARSET, RELAYABLE_CAPS, Status } from '../protocol/constants.ts';
import type { Handshake } from '../protocol/packets/handshake.ts';

export interface BackendProfile {
  serverVersion: string;
  capabilities: number;
  /** MariaDB's extended capabilities (0 for MySQL, or a MariaDB greeting with CLIENT_MYSQL set). */
  mariadbCapabilities: number;
  charset: number;
  status: number;
  learnedAt: string | null;
}

/** Until a backend has been seen: what every MySQL 5.7+ / MariaDB 10.2+ server offers. */
function defaultProfile(serverVersion: string): BackendProfile {
  return {
    serverVersion,
    capabilities: (RELAYABLE_CAPS & ~(Cap.DEPRECATE_EOF | Cap.SESSION_TRACK)) >>> 0,
    mariadbCapabilities: 0,
    charset: DEFAULT_CHARSET,
    status: Status.AUTOCOMMIT,
    learnedAt: null,
  };
}

export class ProfileStore {
  private profile: BackendProfile;
  private readonly path: string | null;

  constructor(path: string | null, defaultVersion: string) {
    this.path = path;
    this.profile = defaultProfile(defaultVersion);
    if (path !== null) {
      try {
        const saved = JSON.parse(readFileSync(path, 'utf8')) as Partial<BackendProfile>;
        if (typeof saved.serverVersion === 'string' && typeof saved.capabilities === 'number') {
          this.profile = { ...this.profile, ...saved };
        }
      } catch {
        // No profile yet (first start) or an unreadable one: the default is safe.
      }
    }
  }

  get current(): BackendProfile {
    return this.profile;
  }

  /** Records a backend greeting; returns true if it differs from what moat was announcing. */
  learn(g: Handshake): boolean {
    const p = this.profile;
    if (
      p.serverVersion === g.serverVersion &&
      p.capabilities === g.capabilities &&
      p.mariadbCapabilities === g.mariadbCapabilities &&
      p.charset === g.charset
    ) {
      return false;
    }
    this.profile = {
      serverVersion: g.serverVersion,
      capabilities: g.capabilities,
      mariadbCapabilities: g.mariadbCapabilities,
      charset: g.charset,
      status: g.status & Status.AUTOCOMMIT,
      learnedAt: new Date().toISOString(),
    };
    if (this.path !== null) {
      try {
        mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
        // Like every file in the state directory: 0600 (the new file replaces the old one, mode and all).
        writeFileSync(`${this.path}.tmp`, JSON.stringify(this.profile, null, 2), { mode: 0o600 });
        chmodSync(`${this.path}.tmp`, 0o600);
        renameSync(`${this.path}.tmp`, this.path);
      } catch {
        // Persisting is an optimisation for the next start; failing it changes nothing now.
      }
    }
    return true;
  }
}
