// Why a login (or a change of user) ended without the command phase, and what the client is told.
import type { LoginOutcome } from '../../model/failure.ts';
import { ChannelClosedError } from '../../net/channel.ts';
import { formatServerError, type ServerError } from '../../protocol/error-codes.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import type { AuthOutcome } from '../auth/relay.ts';

export class LoginFailure extends Error {
  readonly outcome: LoginOutcome;
  readonly error: ServerError | null;
  /** The client was already told (the backend's own ERR was relayed). */
  readonly told: boolean;
  constructor(outcome: LoginOutcome, error: ServerError | null, message: string, told = false) {
    super(message);
    this.outcome = outcome;
    this.error = error;
    this.told = told;
  }
}

/** A failed auth exchange as a login failure. */
export function authFailure(outcome: Extract<AuthOutcome, { ok: false }>): LoginFailure {
  const kind: LoginOutcome =
    outcome.reason === 'cleartext-refused' || outcome.reason === 'user-limit'
      ? outcome.reason
      : outcome.reason === 'connection-limit'
        ? 'too-many-connections'
        : 'auth-denied';
  return new LoginFailure(kind, outcome.error, outcome.error.message, outcome.relayed);
}

/** What ended a login, as a LoginFailure; null for an error moat did not expect (a bug). */
export function loginFailureOf(e: unknown): LoginFailure | null {
  if (e instanceof LoginFailure) return e;
  if (e instanceof ProtocolError)
    return new LoginFailure('handshake-error', formatServerError(e.serverError), e.message);
  if (e instanceof ChannelClosedError)
    return new LoginFailure('client-gone', null, 'client closed during login');
  if (isSocketError(e))
    return new LoginFailure('client-gone', null, `client connection error: ${(e as Error).message}`);
  return null;
}

function isSocketError(e: unknown): boolean {
  return (
    e instanceof Error &&
    typeof (e as NodeJS.ErrnoException).code === 'string' &&
    (e as NodeJS.ErrnoException).code!.startsWith('E')
  );
}
