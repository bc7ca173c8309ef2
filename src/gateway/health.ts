// The optional health-check login: a complete login with an account configured for the purpose,
// at start and on an interval. It teaches moat the backend's greeting before the first client
// arrives and tells the operator whether the backend is up. It always finishes the handshake and
// quits (COM_QUIT), so the backend never counts it as an aborted connect against moat's address.
import { constants, publicEncrypt } from 'node:crypto';
import { scramble, xor } from '../protocol/client-auth.ts';
import { Cap, Com, DEFAULT_CHARSET, Header } from '../protocol/constants.ts';
import { nonceOf, readAuthSwitchRequest, writeRaw } from '../protocol/packets/auth.ts';
import { writeHandshakeResponse } from '../protocol/packets/handshake-response.ts';
import { readErr } from '../protocol/packets/result.ts';
import { type BackendTarget, connectBackend } from './backend.ts';
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
  let link: Awaited<ReturnType<typeof connectBackend>> | null = null;
  try {
    link = await connectBackend(target, files);
    const g = link.greeting;
    profile?.learn(g);
    const ch = link.channel;
    let plugin = g.authPlugin;
    let nonce = g.nonce;
    const caps =
      (Cap.LONG_PASSWORD |
        Cap.PROTOCOL_41 |
        Cap.SECURE_CONNECTION |
        Cap.PLUGIN_AUTH |
        Cap.TRANSACTIONS |
        (link.tls ? Cap.SSL : 0)) >>>
      0;
    ch.write(
      writeHandshakeResponse(
        {
          capabilities: caps,
          mariadbCapabilities: 0,
          maxPacketSize: 0xffffff,
          charset: g.charset || DEFAULT_CHARSET,
          user: account.user,
          authResponse: scramble(plugin, account.password, nonce),
          database: null,
          authPlugin: plugin,
          attributes: [],
        },
        link.nextSeq,
      ),
    );
    for (;;) {
      const p = await ch.read();
      const first = p.payload[0];
      if (first === Header.OK) {
        ch.write(writeRaw(Buffer.from([Com.QUIT]), 0));
        return {
          ok: true,
          latencyMs: performance.now() - started,
          serverVersion: g.serverVersion,
          error: null,
        };
      }
      if (first === Header.ERR) {
        const e = readErr(p.payload);
        return {
          ok: false,
          latencyMs: performance.now() - started,
          serverVersion: g.serverVersion,
          error: `${e.code} ${e.message}`,
        };
      }
      if (first === Header.AUTH_SWITCH) {
        const req = readAuthSwitchRequest(p.payload);
        plugin = req.plugin;
        nonce = nonceOf(req.data);
        ch.write(writeRaw(scramble(plugin, account.password, nonce), p.seq + 1));
        continue;
      }
      if (first === Header.AUTH_MORE_DATA && plugin === 'caching_sha2_password') {
        const code = p.payload[1];
        if (code === 0x03) continue; // fast auth success: OK follows
        if (code === 0x04) {
          const clear = Buffer.concat([Buffer.from(account.password, 'utf8'), Buffer.alloc(1)]);
          if (link.secure) ch.write(writeRaw(clear, p.seq + 1));
          else ch.write(writeRaw(Buffer.from([0x02]), p.seq + 1));
          continue;
        }
        // The public key we asked for.
        const sealed = publicEncrypt(
          { key: p.payload.subarray(1), padding: constants.RSA_PKCS1_OAEP_PADDING },
          xor(Buffer.concat([Buffer.from(account.password, 'utf8'), Buffer.alloc(1)]), nonce),
        );
        ch.write(writeRaw(sealed, p.seq + 1));
        continue;
      }
      throw new Error(`unexpected packet 0x${(first ?? 0).toString(16)} during the health-check login`);
    }
  } catch (e) {
    return {
      ok: false,
      latencyMs: performance.now() - started,
      serverVersion: link?.greeting.serverVersion ?? null,
      error: (e as Error).message,
    };
  } finally {
    link?.channel.socket.end();
  }
}
