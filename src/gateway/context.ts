// What every session of one gateway shares: configuration, TLS material, the backend target,
// the learned greeting, logging and the event consumer.
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { LoginOutcome } from '../guard/failure.ts';
import type { Guard } from '../guard/guard.ts';
import type { SqlFirewall } from '../sqlfw/engine.ts';
import type { BackendTarget } from './backend.ts';
import type { CommandEvent } from './events.ts';
import type { BackendThreadOf } from './follow/kill.ts';
import type { ProfileStore } from './profile.ts';
import type { ServerTls } from './tls.ts';

export type { LoginOutcome } from '../guard/failure.ts';

export interface LoginRecord {
  session: number;
  outcome: LoginOutcome;
  user: string | null;
  clientAddress: string;
  clientPort: number;
  errorCode: number;
  message: string;
  /** A login, or a COM_CHANGE_USER re-authentication. */
  kind?: 'connect' | 'change-user';
  database?: string | null;
  tlsVersion?: string | null;
  tlsCipher?: string | null;
  /** The client program (connect attribute program_name), when sent. */
  program?: string | null;
}

export interface GatewayContext {
  readonly config: Config;
  readonly log: Logger;
  readonly profile: ProfileStore;
  readonly guard: Guard;
  readonly serverTls: ServerTls | null;
  readonly backend: BackendTarget;
  readonly backendTlsFiles: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  readonly onCommand: (e: CommandEvent) => void;
  readonly onLogin: (r: LoginRecord) => void;
  readonly shuttingDown: () => boolean;
  /** A logged-in session's backend thread id by its moat id (KILL by the greeted id). */
  readonly backendThreadOf: BackendThreadOf;
  /** The SQL firewall (null when sqlFirewall.enabled is false). */
  readonly sqlFirewall?: SqlFirewall | null;
}
