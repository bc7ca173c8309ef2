// PROXY protocol v1 and v2 (HAProxy's proxy-protocol.txt): the real client address a trusted load
// balancer puts in front of the stream. moat reads it only from configured balancer addresses,
// and before its own greeting, because MySQL's server speaks first.
//
//   v1: "PROXY TCP4|TCP6|UNKNOWN <src> <dst> <sport> <dport>\r\n"   (at most 107 bytes)
//   v2: 12-byte signature, ver/cmd (0x2_: 0 LOCAL, 1 PROXY), family/transport,
//       int<2 big-endian> length, addresses (TCP4: 4+4+2+2, TCP6: 16+16+2+2), TLVs (skipped)
import { isIP } from 'node:net';
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
  return { state: 'done', consumed, source: { address: src, port } };
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
    // An IPv4-mapped source (::ffff:a.b.c.d) is an IPv4 client: show it as one.
    if (groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff') {
      return { state: 'done', consumed, source: { address: buf.subarray(28, 32).join('.'), port } };
    }
    return { state: 'done', consumed, source: { address: compressIPv6(groups), port } };
  }
  if (family === 0) return { state: 'done', consumed, source: null }; // AF_UNSPEC
  throw bad(`v2 address family ${family}`);
}

function compressIPv6(groups: string[]): string {
  // Longest run of zero groups becomes '::' (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}
