// PROXY protocol v1 and v2 (HAProxy's proxy-protocol.txt): the real client address a trusted load
// balancer puts in front of the stream. moat reads it only from configured balancer addresses,
// and before its own greeting, because MySQL's server speaks first.
//
//   v1: "PROXY TCP4|TCP6|UNKNOWN <src> <dst> <sport> <dport>\r\n"   (at most 107 bytes)
//   v2: 12-byte signature, ver/cmd (0x2_: 0 LOCAL, 1 PROXY), family/transport,
//       int<2 big-endian> length, addresses (TCP4: 4+4+2+2, TCP6: 16+16+2+2), TLVs (skipped)
import { isIP } from 'node:net';
import { clientAddress } from '../model/address.ts';
import { ProtocolError } from './errors.ts';

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
const V1_MAX = 107;

export type ProxyHeader =
  | { state: 'incomplete' }
  /** `source` is null for LOCAL / UNKNOWN: the balancer's own connection (health check). */
  | { state: 'done'; consumed: number; source: { address: string; port: number } | null };

function bad(why: string): ProtocolError {
  return new ProtocolError('MOAT_PROXY_HEADER_INVALID', `invalid PROXY protocol header: ${why}`);
}

export function parseProxyHeader(buf: Buffer): ProxyHeader {
  if (buf.length === 0) return { state: 'incomplete' };
  if (buf[0] === 0x0d) return parseV2(buf);
  if (buf[0] === 0x50 /* P */) return parseV1(buf);
  throw bad('expected a PROXY protocol header from a trusted balancer');
}

function prefixMatches(buf: Buffer, sig: Buffer): boolean {
  const n = Math.min(buf.length, sig.length);
  return buf.subarray(0, n).equals(sig.subarray(0, n));
}

function parseV1(buf: Buffer): ProxyHeader {
  if (!prefixMatches(buf, V1_PREFIX)) throw bad('bad v1 signature');
  const eol = buf.indexOf('\r\n');
  if (eol < 0) {
    if (buf.length >= V1_MAX) throw bad('v1 line longer than 107 bytes');
    return { state: 'incomplete' };
  }
  if (eol + 2 > V1_MAX) throw bad('v1 line longer than 107 bytes');
  const parts = buf.subarray(0, eol).toString('latin1').split(' ');
  const consumed = eol + 2;
  if (parts[1] === 'UNKNOWN') return { state: 'done', consumed, source: null };
  if (parts.length !== 6) throw bad('v1 line needs 6 fields');
  const [, proto, src, , sport] = parts as [string, string, string, string, string, string];
  const family = isIP(src);
  if (proto !== 'TCP4' && proto !== 'TCP6') throw bad(`v1 protocol '${proto}'`);
  if (family !== (proto === 'TCP4' ? 4 : 6)) {
    throw bad(`v1 source address '${src}' does not match ${proto}`);
  }
  const port = Number(sport);
  if (!/^\d{1,5}$/.test(sport) || port > 65535) throw bad(`v1 source port '${sport}'`);
  // In canonical form (net/address.ts): 'TCP6 ::FFFF:192.0.2.7' is the IPv4 client 192.0.2.7, and
  // an upper-case or uncompressed IPv6 source is the same client as Node's own spelling of it.
  return { state: 'done', consumed, source: { address: clientAddress(src), port } };
}

function parseV2(buf: Buffer): ProxyHeader {
  if (!prefixMatches(buf, V2_SIGNATURE)) throw bad('bad v2 signature');
  if (buf.length < 16) return { state: 'incomplete' };
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) throw bad(`v2 version ${verCmd >> 4}`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) throw bad(`v2 command ${cmd}`);
  const fam = buf[13]!;
  const len = buf.readUInt16BE(14);
  const consumed = 16 + len;
  if (buf.length < consumed) return { state: 'incomplete' };
  if (cmd === 0) return { state: 'done', consumed, source: null }; // LOCAL: balancer's own probe
  const family = fam >> 4;
  const transport = fam & 0x0f;
  if (transport !== 1) throw bad('v2 transport is not STREAM');
  if (family === 1) {
    if (len < 12) throw bad('v2 IPv4 block too short');
    const a = buf.subarray(16, 20);
    return { state: 'done', consumed, source: { address: a.join('.'), port: buf.readUInt16BE(24) } };
  }
  if (family === 2) {
    if (len < 36) throw bad('v2 IPv6 block too short');
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(16 + i * 2).toString(16));
    const port = buf.readUInt16BE(48);
    // Canonical form (net/address.ts): RFC 5952, and an IPv4-mapped source (::ffff:a.b.c.d) is
    // the IPv4 client it carries.
    return { state: 'done', consumed, source: { address: clientAddress(groups.join(':')), port } };
  }
  if (family === 0) return { state: 'done', consumed, source: null }; // AF_UNSPEC
  throw bad(`v2 address family ${family}`);
}

/** One end of the proxied connection, as the header names it. */
export interface ProxyPeer {
  address: string;
  port: number;
}

export type ProxyVersion = 'v1' | 'v2';

/**
 * The header moat writes as the very first bytes of a backend connection, so that a server that
 * trusts moat (MariaDB's proxy_protocol_networks) sees the client's address, not moat's.
 * `source` null: moat's own connection (health check, `moat check`) or a unix-socket client, sent
 * as LOCAL (v2) / UNKNOWN (v1) — the server then uses the connection's real peer, moat.
 * Source and destination must be of one family (the header has one family byte); a destination of
 * the other family (an IPv6 listener for an IPv4 client) is sent as that family's any-address,
 * which servers ignore (only the source is used).
 */
export function writeProxyHeader(
  version: ProxyVersion,
  source: ProxyPeer | null,
  destination: ProxyPeer,
): Buffer {
  const family = source === null ? 0 : isIP(source.address);
  if (source !== null && family === 0) throw bad(`source '${source.address}' is not an IP address`);
  const dst =
    family !== 0 && isIP(destination.address) !== family
      ? { address: family === 4 ? '0.0.0.0' : '::', port: destination.port }
      : destination;
  return version === 'v1' ? writeV1(source, dst, family) : writeV2(source, dst, family);
}

const V1_UNKNOWN = Buffer.from('PROXY UNKNOWN\r\n', 'latin1');

function writeV1(source: ProxyPeer | null, dst: ProxyPeer, family: number): Buffer {
  if (source === null) return V1_UNKNOWN;
  const proto = family === 4 ? 'TCP4' : 'TCP6';
  return Buffer.from(
    `PROXY ${proto} ${source.address} ${dst.address} ${source.port} ${dst.port}\r\n`,
    'latin1',
  );
}

// v2, PROXY command over STREAM:
//   sig[12] | 0x21 | 0x11 (INET) or 0x21 (INET6) | len int<2> BE | src addr | dst addr | sport | dport
// LOCAL: sig[12] | 0x20 | 0x00 (UNSPEC) | len 0.
const V2_LOCAL = Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);

function writeV2(source: ProxyPeer | null, dst: ProxyPeer, family: number): Buffer {
  if (source === null) return V2_LOCAL;
  const alen = family === 4 ? 4 : 16;
  const out = Buffer.alloc(16 + alen * 2 + 4);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x21;
  out[13] = family === 4 ? 0x11 : 0x21;
  out.writeUInt16BE(alen * 2 + 4, 14);
  writeAddress(out, 16, source.address, family);
  writeAddress(out, 16 + alen, dst.address, family);
  out.writeUInt16BE(source.port, 16 + alen * 2);
  out.writeUInt16BE(dst.port, 18 + alen * 2);
  return out;
}

function writeAddress(out: Buffer, at: number, address: string, family: number): void {
  if (family === 4) {
    const parts = address.split('.');
    for (let i = 0; i < 4; i++) out[at + i] = Number(parts[i]);
    return;
  }
  // Expand '::' and an embedded dotted quad (::ffff:1.2.3.4) into eight 16-bit groups.
  // A zone index (fe80::1%eth0) has no place in the header.
  let text = address.replace(/%.*$/, '');
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted !== null) {
    const q = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((q[0] << 8) | q[1]).toString(16)}:${((q[2] << 8) | q[3]).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, null];
  const h = head === '' ? [] : head.split(':');
  const t = tail === null || tail === '' ? [] : tail.split(':');
  const groups = tail === null ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(Number.parseInt(groups[i]!, 16), at + i * 2);
}
