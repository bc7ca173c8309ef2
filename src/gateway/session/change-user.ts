// COM_CHANGE_USER: a login inside the session. It passes the guard's identify step as a login
// does (user rules, REQUIRE, max_user_connections, the connection-control delay before the
// attempt), then the re-authentication is relayed like a login, then back to the relay. A failed
// change ends the session, as the server does.
import type { LoginOutcome } from '../../model/failure.ts';
import { formatServerError } from '../../protocol/error-codes.ts';
import { readChangeUser, writeChangeUser } from '../../protocol/packets/change-user.ts';
import { writeErr } from '../../protocol/packets/result.ts';
import { relayAuth } from '../auth/relay.ts';
import type { CommandPhase } from './command.ts';
import { loginRecord, type SessionCore, type SessionSteps } from './core.ts';
import { REAUTH_PLUGIN } from './login.ts';
import { authFailure } from './login-failure.ts';

/** `bytes` start with the client's COM_CHANGE_USER, which the relay held back. */
export async function changeUser(
  core: SessionCore,
  command: CommandPhase,
  bytes: Buffer,
  steps: SessionSteps,
): Promise<void> {
  const { ctx, client } = core;
  steps.enter('change-user');
  const follower = command.follower;
  if (!follower.following) {
    // Where the answers to earlier commands end is unknown: the re-authentication cannot be told
    // apart from them, so it is not attempted.
    client.socket.write(
      writeErr(
        formatServerError('ER_UNKNOWN_ERROR', 'moat: this session cannot change user; please reconnect'),
        1,
      ),
    );
    steps.close('change user on a session moat no longer follows');
    return;
  }
  // Commands pipelined before the COM_CHANGE_USER are answered first (the backend side relays
  // on); only then does the re-authentication own the backend channel, so no answer of theirs is
  // read as part of it (an OK taken for "changed").
  if (follower.queue.length > 0) {
    await command.answered();
    if (steps.isClosed()) return;
  }
  command.relay.suspend();
  const link = core.link!;
  client.channel.reattach(client.socket);
  link.channel.reattach(link.channel.socket);
  client.channel.prepend(bytes);
  const packet = await client.channel.read();
  const cu = readChangeUser(packet.payload, core.capabilities);
  if (cu.charset !== null) core.clientCollation = cu.charset;
  const gate = ctx.guard.identifyChangeUser(core.guardUser, cu.user, core.admission, client.guardTls());
  if (gate.refusal !== null) {
    client.socket.write(writeErr(gate.refusal.error, (packet.seq + 1) & 0xff));
    ended(core, cu.user, gate.refusal.outcome, gate.refusal.error.code, gate.refusal.message);
    steps.close(`change user refused: ${gate.refusal.message}`);
    return;
  }
  if (gate.delayMs > 0) {
    try {
      await steps.delay(gate.delayMs);
    } finally {
      ctx.guard.changeUserDelayOver();
    }
  }
  // The client answered a nonce the backend never issued; ask the backend for a fresh
  // challenge instead, by naming a plugin it does not have.
  link.channel.write(
    writeChangeUser(
      { ...cu, authResponse: Buffer.alloc(0), authPlugin: REAUTH_PLUGIN },
      core.capabilities,
      packet.seq,
    ),
  );
  const outcome = await relayAuth({
    client: { channel: client.channel, secure: client.secure },
    backend: { channel: link.channel, secure: link.secure },
    delta: 0,
    backendSeq: packet.seq,
    plugin: REAUTH_PLUGIN,
    nonce: Buffer.alloc(0),
    atOk: () => ctx.guard.claimUserConnection(core.admission, cu.user, core.guardUser),
  });
  if (!outcome.ok) {
    const failure = authFailure(outcome);
    ended(core, cu.user, failure.outcome, outcome.error.code, outcome.error.message);
    if (!outcome.relayed) client.socket.write(writeErr(outcome.error, outcome.seq));
    steps.close('change user failed');
    return;
  }
  ended(core, cu.user, 'ok', 0, 'change user ok');
  core.guardUser = cu.user;
  core.identity.user = cu.user;
  core.identity.database = cu.database === '' ? null : cu.database;
  follower.forgetPrepared();
  // The server reset the session: its sql_mode is the global one again.
  core.sqlMode = null;
  if (follower.quotes !== null) follower.quotes = follower.quotesAfterReset;
  const clientRest = client.channel.detach();
  const backendRest = link.channel.detach();
  steps.enter('command');
  command.start(clientRest.leftover, backendRest.leftover);
}

/** The guard's bookkeeping and the login record of one COM_CHANGE_USER. */
function ended(
  core: SessionCore,
  user: string,
  outcome: LoginOutcome,
  errorCode: number,
  message: string,
): void {
  core.ctx.guard.changeUser(core.guardUser, user, core.admission, outcome, errorCode);
  core.ctx.onLogin(loginRecord(core, { kind: 'change-user', outcome, user, errorCode, message }));
}
