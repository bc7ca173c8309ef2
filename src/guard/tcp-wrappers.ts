// TCP-wrappers access files (hosts.allow, hosts.deny: hosts_access(5), with the allow/deny options
// of hosts_options(5)) compiled once for the daemon name moat answers to, into a policy that decides
// each connection without I/O. Matching follows tcpd's hosts_access.c; each departure says why.
import { isIP } from 'node:net';
import { InvalidAddressError, parseClientAddress } from '../model/address.ts';

export type TcpWrappersFile = 'hosts.allow' | 'hosts.deny';
export type TcpWrappersVerdict = 'allow' | 'deny';

export interface TcpWrappersClient {
  /** As the socket reports it; `::ffff:a.b.c.d` is the IPv4 client a.b.c.d. */
  address: string;
  /**
   * A forward-confirmed reverse name, or null. tcpd tells "no name" (UNKNOWN) from "name and address
   * disagree" (PARANOID); a caller that passes only confirmed names cannot, so both match null.
   */
  hostname: string | null;
}

export interface TcpWrappersRuleRef {
  file: TcpWrappersFile;
  /** Where the rule starts, counting continued lines. */
  line: number;
  text: string;
}

export interface TcpWrappersDecision {
  verdict: TcpWrappersVerdict;
  /** null: no rule matched, and tcpd allows by default. */
  rule: TcpWrappersRuleRef | null;
}

export interface TcpWrappersWarning {
  file: TcpWrappersFile;
  line: number;
  message: string;
}

export interface TcpWrappersPolicy {
  readonly daemon: string;
  /** False when no rule for this daemon can look at a host name: the caller may skip DNS. */
  readonly needsHostname: boolean;
  readonly warnings: readonly TcpWrappersWarning[];
  decide(client: TcpWrappersClient): TcpWrappersDecision;
  /**
   * The decision when it can be made from the address alone — every rule up to the deciding one
   * looks at addresses only — else null (the name is needed). Lets an address rule admit or refuse
   * without waiting for DNS, whatever later rules say about names.
   */
  decideByAddress(address: string): TcpWrappersDecision | null;
}

export class TcpWrappersSyntaxError extends Error {
  readonly code = 'MOAT_TCPWRAP_SYNTAX';
  readonly file: TcpWrappersFile;
  readonly line: number;
  constructor(file: TcpWrappersFile, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = 'TcpWrappersSyntaxError';
    this.file = file;
    this.line = line;
  }
}

/** `items EXCEPT except`, right-associative: `a EXCEPT b EXCEPT c` is `a EXCEPT (b EXCEPT c)`. */
interface List<P> {
  items: P[];
  except: List<P> | null;
}

type Host =
  | { kind: 'all' | 'never' | 'known' | 'unknown' | 'local' }
  | { kind: 'net'; net: bigint; mask: bigint }
  | { kind: 'text'; test: (lower: string) => boolean; names: boolean };

interface Rule extends TcpWrappersRuleRef {
  clients: List<Host>;
  verdict: TcpWrappersVerdict;
}

interface Subject {
  bits: bigint | null;
  address: string;
  hostname: string | null;
}

interface Where {
  file: TcpWrappersFile;
  line: number;
  warnings: TcpWrappersWarning[];
}

const ALL: Host = { kind: 'all' };
const NEVER: Host = { kind: 'never' };
const KEYWORDS = new Map<string, Host>([
  ['ALL', ALL],
  ['KNOWN', { kind: 'known' }],
  ['UNKNOWN', { kind: 'unknown' }],
  ['PARANOID', { kind: 'unknown' }],
  ['LOCAL', { kind: 'local' }],
]);

export function compileTcpWrappers(allowText: string, denyText: string, daemon: string): TcpWrappersPolicy {
  if (!/^\S+$/.test(daemon)) throw new TypeError(`daemon name '${daemon}' must be one word`);
  const name = daemon.toLowerCase();
  const warnings: TcpWrappersWarning[] = [];
  // One list in evaluation order: the first match in hosts.allow, else in hosts.deny, decides.
  const rules = [
    ...parseFile(allowText, 'hosts.allow', name, warnings),
    ...parseFile(denyText, 'hosts.deny', name, warnings),
  ];
  const needsName = (h: Host): boolean =>
    h.kind === 'known' || h.kind === 'unknown' || h.kind === 'local' || (h.kind === 'text' && h.names);
  return {
    daemon: name,
    needsHostname: rules.some((r) => listSome(r.clients, needsName)),
    warnings,
    decide(client) {
      const subject = toSubject(client);
      for (const r of rules) {
        if (listMatch(r.clients, (h) => hostMatch(h, subject)))
          return { verdict: r.verdict, rule: { file: r.file, line: r.line, text: r.text } };
      }
      return { verdict: 'allow', rule: null };
    },
    decideByAddress(address) {
      const subject = toSubject({ address, hostname: null });
      for (const r of rules) {
        if (listSome(r.clients, needsName)) return null;
        if (listMatch(r.clients, (h) => hostMatch(h, subject)))
          return { verdict: r.verdict, rule: { file: r.file, line: r.line, text: r.text } };
      }
      return { verdict: 'allow', rule: null };
    },
  };
}

function parseFile(
  text: string,
  file: TcpWrappersFile,
  daemon: string,
  warnings: TcpWrappersWarning[],
): Rule[] {
  const rules: Rule[] = [];
  const physical = text.split(/\r?\n/);
  const unterminated = physical.at(-1) !== '';
  for (let i = 0; i < physical.length; i++) {
    const line = i + 1;
    let s = physical[i]!;
    // tcpd's xgets drops backslash-newline without adding a blank, so "a\<newline>b" is "ab".
    while (s.endsWith('\\') && i + 1 < physical.length) s = s.slice(0, -1) + physical[++i]!;
    if (s.endsWith('\\')) s = s.slice(0, -1);
    s = s.trim();
    if (s === '' || s.startsWith('#')) continue;
    const at: Where = { file, line, warnings };
    const rule = parseRule(s, at, daemon);
    if (rule === null) continue;
    rules.push(rule);
    if (unterminated && i === physical.length - 1)
      warn(at, 'tcpd ignores a last line without a newline; moat applies it');
  }
  return rules;
}

/** The rule, or null when its daemon_list does not name this daemon (still checked for syntax). */
function parseRule(text: string, at: Where, daemon: string): Rule | null {
  const [daemons, clients, ...options] = splitFields(text);
  if (clients === undefined) throw syntaxError(at, "missing ':' between daemon_list and client_list");
  const applies = listMatch(
    parseList(tokens(daemons!, at), at, 'daemon_list', (t) => daemonMatch(t, daemon, at)),
    (m) => m,
  );
  // Patterns and options of other daemons' rules are no concern of moat's: no warnings for them.
  const where = applies ? at : { ...at, warnings: [] };
  const hint =
    clients.trim() === '' && options.length > 0 ? ' (write an IPv6 address in brackets: [::1])' : '';
  const list = parseList(tokens(clients, where), where, `client_list${hint}`, (t) => clientPattern(t, where));
  const fileVerdict = at.file === 'hosts.allow' ? 'allow' : 'deny';
  const verdict = ruleVerdict(options, where) ?? fileVerdict;
  return applies ? { file: at.file, line: at.line, text, clients: list, verdict } : null;
}

/**
 * The first two colons outside brackets end the lists (an IPv6 pattern is `[::1]`); the rest is
 * options, split at colons a backslash does not escape, as hosts_options reads them.
 */
function splitFields(text: string): string[] {
  const fields: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length && fields.length < 2; i++) {
    const c = text[i];
    if (c === '[') depth++;
    else if (c === ']') depth = Math.max(0, depth - 1);
    else if (c === ':' && depth === 0) {
      fields.push(text.slice(start, i));
      start = i + 1;
    }
  }
  const rest = text.slice(start);
  return fields.length < 2 ? [...fields, rest] : [...fields, ...rest.split(/(?<!\\):/)];
}

function tokens(list: string, at: Where): string[] {
  const out = list.split(/[\s,]+/).filter((t) => t !== '');
  const hash = out.findIndex((t) => t.startsWith('#'));
  if (hash >= 0)
    warn(at, `'#' starts a comment only at the start of a line; '${out.slice(hash).join(' ')}' are patterns`);
  return out;
}

function parseList<P>(words: string[], at: Where, what: string, pattern: (t: string) => P): List<P> {
  const cut = words.findIndex((t) => t.toUpperCase() === 'EXCEPT');
  const head = cut < 0 ? words : words.slice(0, cut);
  if (head.length === 0)
    throw syntaxError(at, cut < 0 ? `empty ${what}` : `nothing before EXCEPT in ${what}`);
  if (cut === words.length - 1) throw syntaxError(at, `nothing after EXCEPT in ${what}`);
  return {
    items: head.map(pattern),
    except: cut < 0 ? null : parseList(words.slice(cut + 1), at, what, pattern),
  };
}

function listMatch<P>(list: List<P>, match: (p: P) => boolean): boolean {
  return list.items.some(match) && (list.except === null || !listMatch(list.except, match));
}

function listSome<P>(list: List<P>, test: (p: P) => boolean): boolean {
  return list.items.some(test) || (list.except !== null && listSome(list.except, test));
}

function daemonMatch(token: string, daemon: string, at: Where): boolean {
  const host = token.indexOf('@', 1);
  if (host < 0) return stringMatch(token, at)(daemon);
  if (stringMatch(token.slice(0, host), at)(daemon))
    warn(at, `'${token}': daemon@host (per listening address) is not supported; read as not matching`);
  return false;
}

function clientPattern(token: string, at: Where): Host {
  const keyword = KEYWORDS.get(token.toUpperCase());
  if (keyword !== undefined) return keyword;
  if (token.startsWith('@')) return unsupported(at, token, 'NIS netgroups are not supported');
  if (token.startsWith('/')) return unsupported(at, token, 'pattern files are not supported');
  if (token.indexOf('@', 1) > 0) return unsupported(at, token, 'user@host needs an ident (RFC 931) lookup');
  const slash = token.indexOf('/');
  if (slash > 0) return netPattern(token.slice(0, slash), token.slice(slash + 1), token, at);
  if (token.startsWith('[')) {
    const inner = token.slice(1, -1);
    if (!token.endsWith(']') || isIP(inner) !== 6)
      throw syntaxError(at, `'${token}' is not an [ipv6] address`);
    return { kind: 'net', net: v6Bits(inner), mask: ONES };
  }
  if (isIP(token) === 4) return { kind: 'net', net: v4Bits(token), mask: ONES };
  // tcpd's NOT_INADDR, widened by the wildcards: a name-looking pattern is tried on the host name
  // too, but an address-looking one never is, or a PTR record of "10.0.0.1" would pass as 10.0.0.1.
  const names = /[^0-9.*?]/.test(token);
  if (!names && !/^\.|\.$|[*?]/.test(token)) {
    warn(at, `'${token}' is not a dotted-quad address, '.suffix' or 'prefix.'; it never matches`);
    return NEVER;
  }
  return { kind: 'text', test: stringMatch(token, at), names };
}

function unsupported(at: Where, token: string, why: string): Host {
  warn(at, `'${token}': ${why}; read as never matching`);
  return NEVER;
}

/** tcpd's string_match: `.suffix`, ALL, `prefix.`, `*`/`?` wildcards, exact; case-insensitive. */
function stringMatch(token: string, at: Where): (lower: string) => boolean {
  const t = token.toLowerCase();
  const wild = /[*?]/.test(t);
  if (wild && (t.startsWith('.') || t.endsWith('.')))
    warn(at, `'${token}': wildcards are literal in a '.suffix' or 'prefix.' pattern`);
  if (t.startsWith('.')) return (s) => s.length > t.length && s.endsWith(t);
  if (t === 'all') return () => true;
  if (t.endsWith('.')) return (s) => s.startsWith(t);
  if (wild) {
    const source = t
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replaceAll('*', '.*')
      .replaceAll('?', '.');
    const re = new RegExp(`^${source}$`);
    return (s) => re.test(s);
  }
  return (s) => s === t;
}

// Every address is held as 128 bits, IPv4 as ::ffff:a.b.c.d, so an IPv4 pattern matches a client
// on a dual-stack listener and [::ffff:a.b.c.d] patterns match IPv4 clients.
const ONES = (1n << 128n) - 1n;
const V4_NET_MASK = ONES ^ 0xffffffffn;

function netPattern(left: string, right: string, token: string, at: Where): Host {
  const v6 = left.startsWith('[') && left.endsWith(']') && isIP(left.slice(1, -1)) === 6;
  if (!v6 && isIP(left) !== 4)
    throw syntaxError(at, `'${token}': expected n.n.n.n/m.m.m.m, n.n.n.n/len or [ipv6]/len`);
  const net = v6 ? v6Bits(left.slice(1, -1)) : v4Bits(left);
  let mask: bigint;
  if (/^\d{1,3}$/.test(right) && Number(right) <= (v6 ? 128 : 32)) {
    const len = BigInt(Number(right) + (v6 ? 0 : 96));
    mask = ((1n << len) - 1n) << (128n - len);
  } else if (!v6 && isIP(right) === 4) {
    // Any mask, contiguous or not: tcpd only ever computes (addr & mask) == net.
    mask = V4_NET_MASK | (v4Bits(right) & 0xffffffffn);
  } else {
    throw syntaxError(at, `'${token}': bad mask '${right}'`);
  }
  if ((net & ~mask) !== 0n) {
    warn(at, `'${token}': host bits are set outside the mask, so (as in tcpd) it never matches`);
    return NEVER;
  }
  return { kind: 'net', net, mask };
}

function v4Bits(address: string): bigint {
  return address.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(octet), 0xffffn);
}

/** Only for text isIP() accepted as IPv6. */
function v6Bits(address: string): bigint {
  let s = address.toLowerCase().replace(/%.*$/, '');
  let tail: bigint[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.', lastColon)) {
    const v4 = v4Bits(s.slice(lastColon + 1));
    tail = [(v4 >> 16n) & 0xffffn, v4 & 0xffffn];
    s = s.endsWith('::', lastColon + 1) ? s.slice(0, lastColon + 1) : s.slice(0, lastColon);
  }
  const [head = '', rest] = s.split('::');
  const groups = (part: string): bigint[] =>
    part === '' ? [] : part.split(':').map((g) => BigInt(`0x${g}`));
  const front = groups(head);
  const back = [...groups(rest ?? ''), ...tail];
  const zeros = rest === undefined ? [] : Array<bigint>(8 - front.length - back.length).fill(0n);
  return [...front, ...zeros, ...back].reduce((acc, g) => (acc << 16n) | g, 0n);
}

function toSubject(client: TcpWrappersClient): Subject {
  const parsed = parseClientAddress(client.address);
  // Not an address (never from a socket): matches no address pattern, only ALL / UNKNOWN and the like.
  const address = parsed instanceof InvalidAddressError ? client.address.toLowerCase() : parsed;
  const family = parsed instanceof InvalidAddressError ? 0 : isIP(address);
  const name = client.hostname?.toLowerCase().replace(/\.$/, '') ?? '';
  return {
    bits: family === 4 ? v4Bits(address) : family === 6 ? v6Bits(address) : null,
    address,
    hostname: name === '' ? null : name,
  };
}

function hostMatch(h: Host, c: Subject): boolean {
  switch (h.kind) {
    case 'all':
      return true;
    case 'never':
      return false;
    case 'known':
      return c.hostname !== null;
    case 'unknown':
      return c.hostname === null;
    case 'local':
      return c.hostname !== null && !c.hostname.includes('.');
    case 'net':
      return c.bits !== null && (c.bits & h.mask) === h.net;
    case 'text':
      return h.test(c.address) || (h.names && c.hostname !== null && h.test(c.hostname));
  }
}

/** hosts_options(5): the first allow or deny decides, as tcpd stops there; null leaves it to the file. */
function ruleVerdict(options: string[], at: Where): TcpWrappersVerdict | null {
  let verdict: TcpWrappersVerdict | null = null;
  for (const raw of options) {
    const option = raw.replaceAll('\\:', ':').trim();
    if (option === '') continue;
    const [, keyword = option, value = ''] = /^([a-z_]+)\s*=?\s*(.*)$/is.exec(option) ?? [];
    const name = keyword.toLowerCase();
    if (name === 'allow' || name === 'deny') {
      if (value !== '') throw syntaxError(at, `option '${name}' takes no value`);
      if (verdict !== null) warn(at, `'${name}' after '${verdict}' is never reached`);
      verdict ??= name;
    } else if (name === 'twist') {
      // Under tcpd a twisted client talks to the command, never to the service: moat refuses it.
      warn(at, `option 'twist' is not run; the connection is refused`);
      verdict ??= 'deny';
    } else {
      warn(at, `option '${name}' is ignored`);
    }
  }
  return verdict;
}

function warn(at: Where, message: string): void {
  at.warnings.push({ file: at.file, line: at.line, message });
}

function syntaxError(at: Where, message: string): TcpWrappersSyntaxError {
  return new TcpWrappersSyntaxError(at.file, at.line, message);
}
