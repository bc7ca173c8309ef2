// The client's side of a session: its socket (replaced by the TLS socket after an SSLRequest),
// the packet channel the login phases read it with, and what TLS told moat about it.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { type ClientTls, mysqlDn } from '../../guard/rules.ts';
import { PacketChannel } from '../../net/channel.ts';
import { acceptTls, clientCertVerified, type ServerTls } from '../../net/tls.ts';

/** Cap on a login-phase packet (HandshakeResponse, auth data, COM_CHANGE_USER). Client libraries
 * cap connection attributes at 64 KiB and the other fields are short; a larger length is garbage
 * (a PROXY header or TLS record sent to a plain MySQL port reads as several MiB) and is refused at
 * once rather than waited for until the handshake timeout. */
const MAX_LOGIN_PACKET = 128 * 1024;

export class ClientLeg {
  socket: Socket;
  readonly channel: PacketChannel;
  /** Arrived over the unix-socket listener: local, treated as secure like MySQL does. */
  readonly local: boolean;
  /** Sequence id of the client's last login-phase packet: moat's answer uses the next one. */
  seq = 0;
  tls: { version: string; cipher: string } | null = null;
  /** The client certificate, as the guard's REQUIRE checks see it. */
  private peer: { verified: boolean; subject: string | null; issuer: string | null } = {
    verified: false,
    subject: null,
    issuer: null,
  };

  constructor(socket: Socket, local: boolean, maxPacketSize: number) {
    this.socket = socket;
    this.local = local;
    socket.setNoDelay?.(true);
    this.channel = new PacketChannel(socket, Math.min(maxPacketSize, MAX_LOGIN_PACKET));
  }

  /** TLS or the unix socket: a leg a password may cross in clear. */
  get secure(): boolean {
    return this.tls !== null || this.local;
  }

  /** After an SSLRequest; throws TlsHandshakeError when the handshake fails. */
  async upgrade(serverTls: ServerTls): Promise<void> {
    const secure: TLSSocket = await acceptTls(this.channel, this.socket, serverTls);
    this.socket = secure;
    this.tls = { version: secure.getProtocol() ?? 'unknown', cipher: secure.getCipher()?.name ?? 'unknown' };
    const cert = secure.getPeerCertificate();
    if (cert !== null && Object.keys(cert).length > 0) {
      this.peer = {
        verified: clientCertVerified(secure, serverTls),
        subject: mysqlDn(cert.subject as unknown as Record<string, string>),
        issuer: mysqlDn(cert.issuer as unknown as Record<string, string>),
      };
    }
  }

  /** The connection's TLS as the guard's REQUIRE checks see it. */
  guardTls(): ClientTls {
    return {
      secure: this.tls !== null,
      cipher: this.tls?.cipher ?? null,
      verified: this.peer.verified,
      subject: this.peer.subject,
      issuer: this.peer.issuer,
    };
  }
}
