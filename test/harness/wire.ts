// Raw bytes a test writes on a socket itself, where no client library would: PROXY protocol
// headers (HAProxy's proxy-protocol.txt) as a load balancer sends them, the 32-byte SSLRequest,
// and reading one MySQL packet (the greeting) off a plain socket.
import { isIP, type Socket } from 'node:net';

/** "PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n" */
export function proxyV1(src: string, dst: string, sport: number, dport: number): Buffer {
  const proto = isIP(src) === 6 ? 'TCP6' : 'TCP4';
  return Buffer.from(`PROXY ${proto} ${src} ${dst} ${sport} ${dport}\r\n`, 'latin1');
}

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/**
 * A v2 PROXY command over TCP:
 *
 *   signature(12) | 0x21 (v2, PROXY) | 0x11 TCP4 / 0x21 TCP6 | int<2 BE> length |
 *   src addr | dst addr | int<2 BE> src port | int<2 BE> dst port
 */
export function proxyV2(
  src: { address: string; port: number },
  dst: { address: string; port: number },
): Buffer {
  const six = isIP(src.address) === 6;
  const addrs = Buffer.concat([ipBytes(src.address), ipBytes(dst.address)]);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(src.port, 0);
  ports.writeUInt16BE(dst.port, 2);
  const head = Buffer.alloc(4);
  head[0] = 0x21;
  head[1] = six ? 0x21 : 0x11;
  head.writeUInt16BE(addrs.length + 4, 2);
  return Buffer.concat([V2_SIGNATURE, head, addrs, ports]);
}

/** A v2 LOCAL command (a balancer's own health check): no addresses, length 0. */
export function proxyV2Local(): Buffer {
  return Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
}

function ipBytes(address: string): Buffer {
  if (isIP(address) === 4) return Buffer.from(address.split('.').map(Number));
  const [head = '', tail] = address.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => {
    out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  });
  return out;
}

/** Reads one whole packet (header + payload) from a plain socket; bytes after it are put back. */
export function readPacket(socket: Socket, timeoutMs = 5000): Promise<{ seq: number; payload: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error('no packet in time')), timeoutMs);
    const done = (err: Error | null, packet?: { seq: number; payload: Buffer }) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      if (err) reject(err);
      else resolve(packet!);
    };
    const onClose = () => done(new Error('closed before a whole packet arrived'));
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 4) return;
      const len = buf.readUIntLE(0, 3);
      if (buf.length < 4 + len) return;
      if (buf.length > 4 + len) socket.unshift(buf.subarray(4 + len));
      done(null, { seq: buf[3]!, payload: buf.subarray(4, 4 + len) });
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

/**
 * SSLRequest, sequence id 1: the first 32 bytes of a HandshakeResponse41 —
 * int<4> capabilities (PROTOCOL_41 | SSL | SECURE_CONNECTION | PLUGIN_AUTH), int<4> max packet,
 * int<1> charset, 23 zero bytes.
 */
export function sslRequest(): Buffer {
  const p = Buffer.alloc(4 + 32);
  p.writeUIntLE(32, 0, 3);
  p[3] = 1;
  p.writeUInt32LE(0x0200 | 0x0800 | 0x8000 | 0x80000, 4);
  p.writeUInt32LE(0xffffff, 8);
  p[12] = 45;
  return p;
}
