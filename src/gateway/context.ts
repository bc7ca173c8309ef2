// What every session of one gateway shares: configuration, TLS material, the backend target,
// the learned greeting, logging and the event consumer.

import type { Logger } from 'pino';
import type { BackendTarget } from '../client/backend.ts';
import type { ProfileStore } from '../client/profile.ts';
import type { Config } from '../config/schema.ts';
import type { Guard } from '../guard/guard.ts';
import type { CommandEvent, LoginRecord } from '../model/events.ts';
import type { ServerTls } from '../net/tls.ts';
import type { BackendThreadOf } from '../protocol/follow/kill.ts';
import type { SqlFirewall } from '../sqlfw/engine.ts';

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
