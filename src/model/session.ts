// What a session is doing, as the admin port's PROCESSLIST and the API show it.

/** A session's phase, from the greeting to the end (src/gateway/session.ts drives it). */
export type SessionState =
  | 'greeting'
  | 'tls'
  | 'handshake'
  | 'backend'
  | 'auth'
  | 'command'
  | 'change-user'
  | 'closed';

/** One PROCESSLIST row. */
export interface SessionInfo {
  id: number;
  user: string | null;
  host: string;
  db: string | null;
  command: string;
  timeSeconds: number;
  state: SessionState;
  tls: string | null;
}
