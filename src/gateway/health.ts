// The optional health-check login: a complete login with an account configured for the purpose,
// at start and on an interval. It teaches moat the backend's greeting before the first client
// arrives and tells the operator whether the backend is up. It always finishes the handshake and
// quits (COM_QUIT), so the backend never counts it as an aborted connect against moat's address.
import { Com } from '../protocol/constants.ts';
import { writeRaw } from '../protocol/packets/auth.ts';
import type { BackendTarget } from './backend.ts';
import { loginBackend } from './own-login.ts';
import type { ProfileStore } from './profile.ts';

export interface HealthResult {
  ok: boolean;
  latencyMs: number;
  serverVersion: string | null;
  error: string | null;
}

export async function healthCheck(
  target: BackendTarget,
  files: { ca?: Buffer; cert?: Buffer; key?: Buffer },
  account: { user: string; password: string },
  profile: ProfileStore | null,
): Promise<HealthResult> {
  const started = performance.now();
  let serverVersion: string | null = null;
  const result = (error: string | null): HealthResult => ({
    ok: error === null,
    latencyMs: performance.now() - started,
    serverVersion,
    error,
  });
  try {
    const { link } = await loginBackend(target, files, account, (g) => {
      serverVersion = g.serverVersion;
      profile?.learn(g);
    });
    link.channel.write(writeRaw(Buffer.from([Com.QUIT]), 0));
    link.channel.socket.end();
    return result(null);
  } catch (e) {
    // The server's ERR as "1045 Access denied …"; anything else (unreachable, a timeout) as is.
    return result((e as Error).message);
  }
}
