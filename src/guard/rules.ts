// Address rules (who may connect at all, decided on the address alone, before the greeting and
// without DNS) and per-user rules (which networks a user may come from, and MySQL's REQUIRE
// options: TLS, a verified client certificate, its SUBJECT / ISSUER, a cipher).
import { type BlockList, isIP } from 'node:net';
import { blockListOf } from '../net/network.ts';
import { likeRegExp } from '../sql/like.ts';

export type Verdict = 'allow' | 'deny';

export interface AccessRuleConfig {
  action: Verdict;
  from: readonly string[];
}

export interface AccessDecision {
  verdict: Verdict;
  /** Index of the rule that decided; null when the default policy did. */
  rule: number | null;
}

function contains(list: BlockList, ip: string): boolean {
  const family = isIP(ip);
  if (family === 0) return false;
  return list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

/** First matching rule wins; none matching → the default. */
export class AccessPolicy {
  readonly defaultVerdict: Verdict;
  /** The rules as configured (for the admin port's moat.address_rules). */
  readonly source: readonly AccessRuleConfig[];
  private readonly rules: Array<{ action: Verdict; list: BlockList }>;

  constructor(defaultVerdict: Verdict, rules: readonly AccessRuleConfig[]) {
    this.defaultVerdict = defaultVerdict;
    this.source = rules;
    this.rules = rules.map((r) => ({ action: r.action, list: blockListOf(r.from) }));
  }

  decide(ip: string): AccessDecision {
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i]!;
      if (contains(r.list, ip)) return { verdict: r.action, rule: i };
    }
    return { verdict: this.defaultVerdict, rule: null };
  }
}

export interface RequireConfig {
  tls?: boolean;
  /** A client certificate that verified against tls.ca (REQUIRE X509). */
  x509?: boolean;
  subject?: string;
  issuer?: string;
  cipher?: string;
}

export interface UserRuleConfig {
  /** Exact name, or a pattern with MySQL's wildcards `%` and `_`. */
  user: string;
  from?: readonly string[];
  require?: RequireConfig;
}

/** What moat knows about the client's TLS when the user is known. */
export interface ClientTls {
  secure: boolean;
  cipher: string | null;
  /** The client certificate verified against tls.ca. */
  verified: boolean;
  /** In MySQL's form, e.g. `/C=SE/O=Example/CN=app`. */
  subject: string | null;
  issuer: string | null;
}

export type UserRefusal = { outcome: 'user-acl-denied' | 'user-tls-required'; why: string };

export class UserRules {
  private readonly rules: Array<{ match: RegExp; from: BlockList | null; require: RequireConfig }>;

  constructor(rules: readonly UserRuleConfig[]) {
    this.rules = rules.map((r) => ({
      match: likeRegExp(r.user),
      from: r.from === undefined ? null : blockListOf(r.from),
      require: r.require ?? {},
    }));
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** The first rule naming the user decides; a user no rule names is not restricted here. */
  check(user: string, ip: string, local: boolean, tls: ClientTls): UserRefusal | null {
    const rule = this.rules.find((r) => r.match.test(user));
    if (rule === undefined) return null;
    if (rule.from !== null && !local && !contains(rule.from, ip)) {
      return { outcome: 'user-acl-denied', why: `user ${user} may not connect from ${ip}` };
    }
    const req = rule.require;
    const needTls =
      req.tls ||
      req.x509 ||
      req.subject !== undefined ||
      req.issuer !== undefined ||
      req.cipher !== undefined;
    if (needTls && !tls.secure) return { outcome: 'user-tls-required', why: `user ${user} requires TLS` };
    if ((req.x509 || req.subject !== undefined || req.issuer !== undefined) && !tls.verified) {
      return { outcome: 'user-tls-required', why: `user ${user} requires a verified client certificate` };
    }
    if (req.subject !== undefined && tls.subject !== req.subject) {
      return {
        outcome: 'user-tls-required',
        why: `user ${user}: certificate subject ${tls.subject} is not ${req.subject}`,
      };
    }
    if (req.issuer !== undefined && tls.issuer !== req.issuer) {
      return {
        outcome: 'user-tls-required',
        why: `user ${user}: certificate issuer ${tls.issuer} is not ${req.issuer}`,
      };
    }
    if (req.cipher !== undefined && tls.cipher !== req.cipher) {
      return { outcome: 'user-tls-required', why: `user ${user} requires cipher ${req.cipher}` };
    }
    return null;
  }
}

/** A certificate name in MySQL's `/K=V/K=V` form, from Node's parsed certificate object. */
export function mysqlDn(name: Record<string, string | string[]> | undefined): string | null {
  if (name === undefined) return null;
  let out = '';
  for (const [k, v] of Object.entries(name)) {
    for (const one of Array.isArray(v) ? v : [v]) out += `/${k}=${one}`;
  }
  return out === '' ? null : out;
}
