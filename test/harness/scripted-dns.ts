// A SCRIPTED DNS server over UDP on 127.0.0.1, for the resolver tests: a DNS server that answers
// slowly, answers SERVFAIL, or never answers at all cannot otherwise be arranged on this machine
// (and the system's resolver configuration is not ours to change). Each test says, per question,
// what the server does; every question received is recorded, so tests can count queries.
//
// It shares no code with src/guard on purpose (reverse names, address bytes): a test that built its
// questions with the code under test could agree with its bugs.
//
// The wire format it speaks (RFC 1035 §4.1), the minimum a stub resolver needs:
//
//   header   := id(2) | flags(2) | qdcount(2) | ancount(2) | nscount(2) | arcount(2)
//   flags    := QR(1) opcode(4) AA(1) TC(1) RD(1) | RA(1) Z(3) RCODE(4)
//   question := name | type(2) | class(2)            name := (len(1) label)* 0
//   answer   := 0xc00c (pointer to the question's name at offset 12) | type(2) | class(2) |
//               ttl(4) | rdlength(2) | rdata         A: 4 bytes, AAAA: 16 bytes, PTR: a name
//
// A reply echoes the question bytes as received (c-ares checks them, case included). Additional
// records in a query (EDNS's OPT) are ignored and none are sent back.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';

export const TYPES = { A: 1, PTR: 12, AAAA: 28 } as const;
export type RecordType = keyof typeof TYPES;

const RCODES = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;
export type Rcode = Exclude<keyof typeof RCODES, 'NOERROR'>;

/** What the server does with one question. `delayMs` holds the reply back that long. */
export type Reply =
  /** NOERROR with these records (addresses for A/AAAA, names for PTR); [] is NODATA. */
  | { records: readonly string[]; ttl?: number; delayMs?: number }
  | { rcode: Rcode; delayMs?: number }
  /** No reply, ever. */
  | { hang: true };

export interface Query {
  type: RecordType | number;
  /** Lower case, no trailing dot. */
  name: string;
}

export class ScriptedDns {
  /** Every question received, in order. */
  readonly queries: Query[] = [];
  private readonly script = new Map<string, Reply>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private socket: Socket | null = null;
  private port = 0;

  /** "127.0.0.1:port", as dns's setServers() takes it. */
  get server(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const socket = createSocket('udp4');
    socket.on('message', (msg, from) => this.onMessage(msg, from));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: '127.0.0.1', port: 0 }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', () => {}); // a resolver that went away before its reply: nothing to do
    this.port = socket.address().port;
    this.socket = socket;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  /**
   * Scripts one question. A question nobody scripted is REFUSED, so that a test that forgot a
   * record fails visibly instead of looking like an honest NXDOMAIN.
   */
  on(type: RecordType, name: string, reply: Reply): this {
    this.script.set(key(type, name), reply);
    return this;
  }

  /** Scripts the PTR question of an address (in-addr.arpa or ip6.arpa, built here). */
  onPtr(address: string, reply: Reply): this {
    return this.on('PTR', ptrName(address), reply);
  }

  /** Questions received of this type and name. */
  count(type: RecordType, name: string): number {
    const n = name.toLowerCase().replace(/\.$/, '');
    return this.queries.filter((q) => q.type === type && q.name === n).length;
  }

  /** Forgets the script and the query log (between tests). */
  reset(): void {
    this.script.clear();
    this.queries.length = 0;
  }

  private onMessage(msg: Buffer, from: RemoteInfo): void {
    const q = parseQuestion(msg);
    if (q === null) return; // not a query we can echo: a real server would answer FORMERR; a stub retries
    const typeName = (Object.keys(TYPES) as RecordType[]).find((t) => TYPES[t] === q.type);
    this.queries.push({ type: typeName ?? q.type, name: q.name });
    const reply: Reply =
      typeName === undefined
        ? { rcode: 'REFUSED' }
        : (this.script.get(key(typeName, q.name)) ?? { rcode: 'REFUSED' });
    if ('hang' in reply) return;
    const out = 'rcode' in reply ? response(msg, q.end, RCODES[reply.rcode], []) : answer(msg, q, reply);
    const send = (): void => this.socket?.send(out, from.port, from.address);
    if (!reply.delayMs) {
      send();
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      send();
    }, reply.delayMs);
    this.timers.add(t);
  }
}

const key = (type: RecordType, name: string): string => `${type} ${name.toLowerCase().replace(/\.$/, '')}`;

interface Question {
  name: string;
  type: number;
  /** Offset just past the question (after its class). */
  end: number;
}

/** The single question of a query, or null for anything else (a response, several questions, junk). */
function parseQuestion(msg: Buffer): Question | null {
  if (msg.length < 12 || (msg[2]! & 0x80) !== 0 || msg.readUInt16BE(4) !== 1) return null;
  const labels: string[] = [];
  let at = 12;
  for (;;) {
    const len = msg[at];
    if (len === undefined || len > 63) return null; // past the end, or a pointer: queries carry none
    at++;
    if (len === 0) break;
    if (at + len > msg.length) return null;
    labels.push(msg.toString('latin1', at, at + len));
    at += len;
  }
  if (at + 4 > msg.length) return null;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(at), end: at + 4 };
}

function answer(query: Buffer, q: Question, reply: { records: readonly string[]; ttl?: number }): Buffer {
  const rrs = reply.records.map((value) => {
    const rdata = q.type === TYPES.PTR ? encodeName(value) : addressBytes(value, q.type);
    const rr = Buffer.alloc(12 + rdata.length);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(q.type, 2);
    rr.writeUInt16BE(1, 4); // class IN
    rr.writeUInt32BE(reply.ttl ?? 300, 6);
    rr.writeUInt16BE(rdata.length, 10);
    rdata.copy(rr, 12);
    return rr;
  });
  return response(query, q.end, RCODES.NOERROR, rrs);
}

function response(query: Buffer, questionEnd: number, rcode: number, rrs: readonly Buffer[]): Buffer {
  const head = Buffer.alloc(12);
  query.copy(head, 0, 0, 2); // id
  // QR=1, opcode and RD copied, AA=1; RA=1, RCODE.
  head[2] = 0x80 | (query[2]! & 0x79) | 0x04;
  head[3] = 0x80 | rcode;
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(rrs.length, 6);
  return Buffer.concat([head, query.subarray(12, questionEnd), ...rrs]);
}

function encodeName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.');
  return Buffer.concat([
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])),
    Buffer.from([0]),
  ]);
}

function addressBytes(address: string, type: number): Buffer {
  if (type === TYPES.A) {
    if (isIP(address) !== 4) throw new Error(`A record needs an IPv4 address: ${address}`);
    return Buffer.from(address.split('.').map(Number));
  }
  return ipv6Bytes(address);
}

/** 16 bytes of an IPv6 address written with hex groups and at most one "::" (no IPv4 tail). */
function ipv6Bytes(address: string): Buffer {
  if (isIP(address) !== 6 || address.includes('.')) throw new Error(`AAAA record needs hex IPv6: ${address}`);
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

/** in-addr.arpa (RFC 1035 §3.5) or ip6.arpa nibbles, last first (RFC 3596 §2.5). */
export function ptrName(address: string): string {
  if (isIP(address) === 4) return `${address.split('.').reverse().join('.')}.in-addr.arpa`;
  const hex = ipv6Bytes(address).toString('hex');
  return `${[...hex].reverse().join('.')}.ip6.arpa`;
}
