// A minimal MySQL client for the connect-rate test (packets from ./wire.ts): greeting → HandshakeResponse41 → (AuthSwitch)
// → OK → COM_QUERY "SELECT 1" → result set → COM_QUIT. mysql_native_password only, no TLS, no
// compression. It exists because a full driver spends more CPU per connection than the proxies we
// measure; on 2 cores that CPU would be taken from the proxy and the server.
import net from 'node:net';
import { cstring, handshakeResponse, nativeScramble, packet, parseGreeting } from './wire.ts';

export type Endpoint = { host: string; port: number; user: string; password: string; database: string };

// Constant command packets, built once: 3-byte length, sequence id 0, command byte, argument.
const SELECT_1 = packet(0, Buffer.concat([Buffer.from([0x03]), Buffer.from('SELECT 1')]));
const QUIT = packet(0, Buffer.from([0x01]));

/** The greeting, or the server's ERR in its place (a blocked host, too many connections). */
function greeting(p: Buffer): { nonce: Buffer; plugin: string } {
  if (p[0] === 0xff) throw serverError(p);
  if (p[0] !== 10) throw new Error(`unexpected greeting protocol version ${p[0]}`);
  return parseGreeting(p);
}

function serverError(p: Buffer): Error {
  const code = p.readUInt16LE(1);
  const msg = p.toString('utf8', p[3] === 0x23 ? 9 : 3); // '#' + 5-byte SQLSTATE
  return new Error(`server error ${code}: ${msg}`);
}

type Step = 'greeting' | 'auth' | 'result' | 'done';

/**
 * One full cycle: connect, authenticate, SELECT 1, quit. Resolves when the socket has closed, with
 * the nanoseconds from connect() to the last packet of the SELECT 1 result.
 */
export function connectQueryQuit(ep: Endpoint): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    let latency = -1;
    let step: Step = 'greeting';
    let eofs = 0;
    let pending: Buffer | undefined;
    let failure: Error | undefined;
    const sock = net.connect({ host: ep.host, port: ep.port, noDelay: true });

    const fail = (err: Error): void => {
      failure ??= err;
      sock.destroy();
    };

    const onPacket = (seq: number, p: Buffer): void => {
      switch (step) {
        case 'greeting': {
          const { nonce, plugin } = greeting(p);
          sock.write(handshakeResponse(ep.user, ep.password, ep.database, nonce, plugin));
          step = 'auth';
          return;
        }
        case 'auth':
          if (p[0] === 0x00) {
            sock.write(SELECT_1);
            step = 'result';
          } else if (p[0] === 0xfe) {
            // AuthSwitchRequest: plugin name, then the nonce to answer (NUL-terminated).
            const [plugin, at] = cstring(p, 1);
            if (plugin !== 'mysql_native_password')
              throw new Error(`auth switch to unsupported plugin ${plugin}`);
            sock.write(packet(seq + 1, nativeScramble(ep.password, p.subarray(at, at + 20))));
          } else if (p[0] === 0xff) {
            throw serverError(p);
          } else {
            throw new Error(`unexpected auth packet 0x${p[0]?.toString(16)}`);
          }
          return;
        case 'result':
          // Without CLIENT_DEPRECATE_EOF: column count, column definitions, EOF, rows, EOF.
          if (p[0] === 0xff) throw serverError(p);
          if (p[0] === 0xfe && p.length < 9 && ++eofs === 2) {
            latency = Number(process.hrtime.bigint() - start);
            step = 'done';
            sock.end(QUIT);
          }
          return;
        case 'done':
          return;
      }
    };

    sock.on('data', (chunk: Buffer) => {
      // Handshake packets are small; joining a leftover with the next chunk is cheap here.
      let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = undefined;
      try {
        while (buf.length >= 4) {
          const len = buf.readUIntLE(0, 3);
          if (buf.length < 4 + len) break;
          onPacket(buf[3]!, buf.subarray(4, 4 + len));
          buf = buf.subarray(4 + len);
        }
      } catch (err) {
        fail(err as Error);
        return;
      }
      if (buf.length > 0) pending = buf;
    });
    sock.on('error', fail);
    sock.on('close', () => {
      if (failure) reject(failure);
      else if (step !== 'done') reject(new Error(`connection closed during ${step}`));
      else resolve(latency);
    });
  });
}
