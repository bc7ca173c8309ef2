// The SQL firewall: MySQL Enterprise Firewall's model over the statements moat relays.
//
// A session is matched once per login (and per COM_CHANGE_USER, and again when a profile changes)
// to the profiles that apply to it: the most specific account profile (user@host with MySQL's
// wildcards) and every group profile one of whose members matches, each only if the client's
// address is in the profile's networks (when it has any). Profiles in OFF are dropped there, so a
// session under none costs one map lookup per statement event.
//
// RECORDING learns the digests of the statements it sees; DETECTING writes an Alert audit record
// and a log line for a statement whose digest is not on the list; PROTECTING refuses it with
// EE's error before it reaches the server (gateway/session/command.ts holds that one packet back).
// Judging a statement is one digest (memoized) and one set lookup per profile.
import type { Logger } from 'pino';
import type { AuditEvent } from '../audit/event.ts';
import { emptyEvent } from '../audit/event.ts';
import type { CommandEvent } from '../model/events.ts';
import { digestOf, type StatementDigest, uncutDigest } from '../sql/digest.ts';
import { redactStatement } from '../sql/redact.ts';
import { type AccountPattern, accountMatches, parseAccount } from './account.ts';
import type { SqlFirewallConfig } from './config.ts';
import {
  inNetworks,
  type Mode,
  type ModeArgument,
  networkList,
  type Profile,
  type ProfileKind,
  SqlfwError,
} from './model.ts';
import type { SqlfwStore, StoredProfile, StoredState } from './store.ts';

export interface Login {
  session: number;
  user: string;
  ip: string;
  /** Arrived over the unix socket: matches 'localhost' accounts. */
  local: boolean;
}

/** The profiles one session is under, resolved at login; replaced when a profile changes. */
export interface SessionView {
  readonly login: Login;
  readonly profiles: Profile[];
  /** One of them is in PROTECTING: statements are held back and judged before they are relayed. */
  readonly protecting: boolean;
  readonly generation: number;
}

export type Action = 'allow' | 'detect' | 'block';

/** One change made here, for a fleet sharing its lists (shared.ts writes it to Redis). */
export type ShareChange =
  | { op: 'profile'; profile: Omit<StoredProfile, 'rules'> }
  | { op: 'rule'; kind: ProfileKind; name: string; hash: string; text: string }
  | { op: 'clear'; kind: ProfileKind; name: string }
  | { op: 'member'; group: string; member: string; on: boolean }
  | { op: 'all'; state: StoredState };

export interface Verdict {
  action: Action;
  digest: StatementDigest;
  /** Why, for the audit record and the log line (null when allowed). */
  reason: string | null;
  /** The profile that refused or flagged it. */
  profile: string | null;
}

const NAME = /^[^\u0000-\u001f]{1,64}$/;

export class SqlFirewall {
  private readonly cfg: SqlFirewallConfig;
  private readonly store: SqlfwStore;
  private readonly log: Logger;
  private readonly users = new Map<string, Profile>();
  private readonly groups = new Map<string, Profile>();
  /** group name → member account names (canonical user@host) and their parsed patterns. */
  private readonly members = new Map<string, Map<string, AccountPattern>>();
  private readonly views = new Map<number, SessionView>();
  private generation = 0;
  /** An Alert for a flagged or refused statement (the gateway records it). */
  onAlert: (e: AuditEvent) => void = () => {};
  /** A profile changed: live sessions are matched again (the gateway calls each session). */
  onChange: () => void = () => {};
  /** A change made on this instance (not one adopted from the fleet), for shared.ts. */
  onShare: ((c: ShareChange) => void) | null = null;
  instance = '';
  /** MySQL EE's status counters: Firewall_access_denied / _granted / _suspicious, Firewall_cached_entries. */
  readonly counters = { denied: 0, granted: 0, suspicious: 0 };

  constructor(cfg: SqlFirewallConfig, store: SqlfwStore, log: Logger) {
    this.cfg = cfg;
    this.store = store;
    this.log = log;
    this.loadState(store.load());
  }

  get maxReport(): number {
    return this.cfg.reportDigests;
  }

  private loadState(s: StoredState): void {
    this.users.clear();
    this.groups.clear();
    this.members.clear();
    for (const p of s.profiles) {
      try {
        const profile = this.newProfile(p.kind, p.name, p.mode, p.trainer, p.networks);
        for (const r of p.rules) profile.rules.set(r.hash, r.text);
        (p.kind === 'user' ? this.users : this.groups).set(profile.name, profile);
      } catch (e) {
        this.log.warn(
          { profile: p.name, err: (e as Error).message },
          'sql firewall: ignoring a stored profile',
        );
      }
    }
    for (const m of s.members) this.memberMap(m.group).set(m.member, parseAccount(m.member));
    this.changed();
  }

  private newProfile(
    kind: ProfileKind,
    name: string,
    mode: Mode,
    trainer: string | null,
    networks: string[],
  ): Profile {
    const account = kind === 'user' ? parseAccount(name) : null;
    if (kind === 'group' && !NAME.test(name))
      throw new SqlfwError(
        'MOAT_SQLFW_ARGUMENT',
        `'${name}' is not a group profile name (1 to 64 characters)`,
      );
    return {
      kind,
      name: account?.text ?? name,
      mode,
      account,
      trainer: trainer === null ? null : parseAccount(trainer),
      networks,
      networkList: networkList(networks),
      rules: new Map(),
      report: new Map(),
    };
  }

  private memberMap(group: string): Map<string, AccountPattern> {
    let m = this.members.get(group);
    if (m === undefined) {
      m = new Map();
      this.members.set(group, m);
    }
    return m;
  }

  // ---- sessions ----------------------------------------------------------------------------

  /** Matches a login to its profiles (at login, after COM_CHANGE_USER, after a change). */
  attach(login: Login): SessionView {
    const view = this.cfg.enabled ? this.resolve(login) : this.emptyView(login);
    if (view.profiles.length === 0) this.views.delete(login.session);
    else this.views.set(login.session, view);
    return view;
  }

  sessionEnded(session: number): void {
    this.views.delete(session);
  }

  private emptyView(login: Login): SessionView {
    return { login, profiles: [], protecting: false, generation: this.generation };
  }

  private resolve(login: Login): SessionView {
    const { user, ip, local } = login;
    let best: Profile | null = null;
    for (const p of this.users.values()) {
      if (!accountMatches(p.account!, user, ip, local) || !inNetworks(p, ip)) continue;
      if (best === null || p.account!.specificity > best.account!.specificity) best = p;
    }
    const profiles: Profile[] = [];
    if (best !== null && best.mode !== 'OFF') profiles.push(best);
    for (const g of this.groups.values()) {
      if (g.mode === 'OFF' || !inNetworks(g, ip)) continue;
      const members = this.members.get(g.name);
      if (members === undefined) continue;
      for (const m of members.values()) {
        if (accountMatches(m, user, ip, local)) {
          profiles.push(g);
          break;
        }
      }
    }
    return {
      login,
      profiles,
      protecting: profiles.some((p) => p.mode === 'PROTECTING'),
      generation: this.generation,
    };
  }

  /**
   * A finished command of a session not held back (RECORDING, DETECTING): its statement judged
   * after the fact, off the relay's path. Statements of a PROTECTING session were judged already.
   */
  observe(e: CommandEvent): void {
    const view = this.views.get(e.session);
    if (view === undefined || view.protecting || e.statement === null) return;
    if (e.command !== 'Query' && e.command !== 'Stmt_prepare') return;
    // The follower digested it already (CommandEvent.digest); the same text gives the same digest.
    // null: no digest stands for it in both readings of "…" (see judge).
    this.judge(
      view,
      e.statement,
      e.statementTruncated,
      e.command,
      e.digest === undefined ? undefined : e.digest,
    );
  }

  /**
   * Judges one statement for a session: learns, flags or refuses. `known`: its digest as the
   * session's server reads it (absent: computed here, `"…"` read as a string); null: none stands
   * for it, because moat does not know whether the session has ANSI_QUOTES and the statement
   * reads differently with and without (a backslash inside `"…"`). Such a statement is never
   * learned and never listed.
   */
  judge(
    view: SessionView,
    statement: string,
    truncated: boolean,
    command: string,
    known?: StatementDigest | null,
  ): Verdict {
    let unreadable = known === null;
    let digest = known ?? digestOf(statement, truncated);
    // Cut by max_digest_length alone (the statement was captured whole): keyed by the digest of
    // all of it, so nothing can ride behind a listed prefix. Recorded and judged alike.
    if (!unreadable && digest.truncated && !truncated) {
      const whole = uncutDigest(statement);
      if (whole === null) unreadable = true;
      else digest = whole;
    }
    let action: Action = 'allow';
    let reason: string | null = null;
    let profile: string | null = null;
    const now = Date.now();
    for (const p of view.profiles) {
      if (p.mode === 'RECORDING') {
        if (p.kind === 'group' && p.trainer !== null) {
          const { user, ip, local } = view.login;
          if (!accountMatches(p.trainer, user, ip, local)) continue;
        }
        if (!unreadable) this.learn(p, digest);
        continue;
      }
      const listed = !unreadable && p.rules.has(digest.hash);
      // Cut at capture (longer than limits.maxStatementLength): the rest was never seen, so a
      // listed prefix is not enough unless allowed.
      const prefixRefused = truncated && !this.cfg.allowTruncated;
      if (listed && !prefixRefused) continue;
      this.noteUnlisted(p, digest, now);
      const what = p.kind === 'user' ? 'account' : 'group';
      let why = listed
        ? `statement longer than limits.maxStatementLength: judged by the digest of its prefix, which ${what} profile '${p.name}' lists, but the rest is unseen (sqlFirewall.allowTruncated is false)`
        : `digest not on the allowlist of ${what} profile '${p.name}'`;
      if (unreadable)
        why = `statement reads differently with and without ANSI_QUOTES (a backslash inside "…") and the session's sql_mode is not known: no digest of ${what} profile '${p.name}' can stand for it`;
      const a: Action = p.mode === 'PROTECTING' ? 'block' : 'detect';
      if (action === 'allow' || (a === 'block' && action === 'detect')) {
        action = a;
        profile = p.name;
        reason = why;
      }
    }
    if (action === 'allow') this.counters.granted++;
    else {
      if (action === 'block') this.counters.denied++;
      else this.counters.suspicious++;
      this.alert(view, statement, truncated, command, { action, digest, reason, profile });
    }
    return { action, digest, reason, profile };
  }

  private learn(p: Profile, d: StatementDigest): void {
    if (p.rules.has(d.hash)) return;
    p.rules.set(d.hash, d.text);
    p.report.delete(d.hash);
    this.store.addRule(p.kind, p.name, d.hash, d.text);
    this.onShare?.({ op: 'rule', kind: p.kind, name: p.name, hash: d.hash, text: d.text });
  }

  private noteUnlisted(p: Profile, d: StatementDigest, now: number): void {
    const seen = p.report.get(d.hash);
    if (seen !== undefined) {
      seen.count++;
      seen.lastSeen = now;
      return;
    }
    if (p.report.size >= this.cfg.reportDigests) {
      const oldest = p.report.keys().next().value;
      if (oldest !== undefined) p.report.delete(oldest);
    }
    p.report.set(d.hash, {
      hash: d.hash,
      text: d.text,
      count: 1,
      firstSeen: now,
      lastSeen: now,
      truncated: d.truncated,
    });
  }

  private alert(view: SessionView, statement: string, truncated: boolean, command: string, v: Verdict): void {
    const { login } = view;
    this.log.warn(
      {
        session: login.session,
        user: login.user,
        ip: login.ip,
        profile: v.profile,
        digest: v.digest.hash,
        truncated: v.digest.truncated,
        action: v.action,
        reason: v.reason,
      },
      v.action === 'block'
        ? 'sql firewall: statement refused'
        : 'sql firewall: statement not on the allowlist',
    );
    const e = emptyEvent('Alert', this.instance);
    e.connectionId = login.session;
    e.user = login.user;
    e.ip = login.ip;
    e.host = login.ip;
    e.command = command;
    e.outcome = v.action === 'block' ? 'sqlfw-blocked' : 'sqlfw-detected';
    e.status = v.action === 'block' ? 1045 : 0;
    e.statement = redactStatement(statement);
    e.statementTruncated = truncated;
    e.message = `${v.reason} (digest ${v.digest.hash})`;
    this.onAlert(e);
  }

  // ---- changes (admin statements, file import) -----------------------------------------------

  /** sp_set_firewall_mode: creates the account profile if needed; RESET empties it and sets OFF. */
  setUserMode(userhost: string, mode: ModeArgument): Profile {
    const account = parseAccount(userhost);
    let p = this.users.get(account.text);
    if (p === undefined) {
      p = this.newProfile('user', account.text, 'OFF', null, []);
      this.users.set(p.name, p);
    }
    this.applyMode(p, mode);
    return p;
  }

  /** sp_set_firewall_group_mode[_and_user]: creates the group profile if needed. */
  setGroupMode(group: string, mode: ModeArgument, trainer?: string | null): Profile {
    let p = this.groups.get(group);
    if (p === undefined) {
      p = this.newProfile('group', group, 'OFF', null, []);
      this.groups.set(p.name, p);
    }
    if (trainer !== undefined) p.trainer = trainer === null || trainer === '' ? null : parseAccount(trainer);
    this.applyMode(p, mode);
    return p;
  }

  private applyMode(p: Profile, mode: ModeArgument): void {
    if (mode === 'RESET') {
      p.rules.clear();
      p.report.clear();
      this.store.clearRules(p.kind, p.name);
      this.onShare?.({ op: 'clear', kind: p.kind, name: p.name });
      p.mode = 'OFF';
    } else p.mode = mode;
    this.persist(p);
    this.log.warn({ profile: p.name, kind: p.kind, mode }, 'sql firewall: mode set');
    this.changed();
  }

  /** sp_firewall_group_enlist / _delist. Enlisting needs the group to exist, as in EE. */
  setMember(group: string, member: string, on: boolean): boolean {
    if (!this.groups.has(group))
      throw new SqlfwError('MOAT_SQLFW_NO_GROUP', `no firewall group profile named '${group}'`);
    const account = parseAccount(member);
    const members = this.memberMap(group);
    const had = members.has(account.text);
    if (on) members.set(account.text, account);
    else members.delete(account.text);
    this.store.setMember(group, account.text, on);
    this.onShare?.({ op: 'member', group, member: account.text, on });
    this.changed();
    return had !== on;
  }

  /** moat's network scope: the profile applies only to clients in these networks ([]: anywhere). */
  setNetworks(kind: ProfileKind, name: string, networks: string[]): Profile {
    const p = kind === 'user' ? this.users.get(parseAccount(name).text) : this.groups.get(name);
    if (p === undefined)
      throw new SqlfwError(
        'MOAT_SQLFW_NO_GROUP',
        `no firewall ${kind === 'user' ? 'account' : 'group'} profile named '${name}'`,
      );
    p.networkList = networkList(networks);
    p.networks = networks;
    this.persist(p);
    this.changed();
    return p;
  }

  /** Puts digests on a profile's list (a file import, or an accepted report entry). */
  allow(kind: ProfileKind, name: string, rules: Array<{ hash: string; text: string }>): void {
    const p = kind === 'user' ? this.users.get(parseAccount(name).text) : this.groups.get(name);
    if (p === undefined) throw new SqlfwError('MOAT_SQLFW_NO_GROUP', `no firewall profile named '${name}'`);
    for (const r of rules) {
      p.rules.set(r.hash, r.text);
      p.report.delete(r.hash);
      this.store.addRule(p.kind, p.name, r.hash, r.text);
      this.onShare?.({ op: 'rule', kind: p.kind, name: p.name, hash: r.hash, text: r.text });
    }
  }

  private persist(p: Profile): void {
    const profile = {
      kind: p.kind,
      name: p.name,
      mode: p.mode,
      trainer: p.trainer?.text ?? null,
      networks: p.networks,
    };
    this.store.putProfile(profile);
    this.onShare?.({ op: 'profile', profile });
  }

  /** Everything, for the admin tables and an export. */
  snapshot(): StoredState {
    const out = (p: Profile): StoredProfile => ({
      kind: p.kind,
      name: p.name,
      mode: p.mode,
      trainer: p.trainer?.text ?? null,
      networks: p.networks,
      rules: [...p.rules].map(([hash, text]) => ({ hash, text })),
    });
    const members: StoredState['members'] = [];
    for (const [group, m] of this.members) for (const member of m.keys()) members.push({ group, member });
    return { profiles: [...this.users.values(), ...this.groups.values()].map(out), members };
  }

  /** MySQL EE's status variables, for SHOW STATUS (Firewall_cached_entries: rules in memory). */
  statusRows(): Array<[string, number]> {
    let rules = 0;
    for (const p of this.profiles()) rules += p.rules.size;
    return [
      ['Firewall_access_denied', this.counters.denied],
      ['Firewall_access_granted', this.counters.granted],
      ['Firewall_access_suspicious', this.counters.suspicious],
      ['Firewall_cached_entries', rules],
    ];
  }

  /** The profiles themselves (report tables read their `report`). */
  profiles(): Profile[] {
    return [...this.users.values(), ...this.groups.values()];
  }

  /** An import: validated state, merged into what is there or replacing it. */
  importState(s: StoredState, replace: boolean): void {
    if (replace) this.store.replaceAll(s);
    else {
      for (const p of s.profiles) {
        this.store.putProfile(p);
        for (const r of p.rules) this.store.addRule(p.kind, p.name, r.hash, r.text);
      }
      for (const m of s.members) this.store.setMember(m.group, m.member, true);
    }
    this.reloadKeepingReports();
    this.onShare?.({ op: 'all', state: this.snapshot() });
    this.log.warn({ profiles: s.profiles.length, replace }, 'sql firewall: allowlists imported');
  }

  /** The fleet's lists (shared.ts), adopted whole: stored here too, nothing shared back. */
  adoptShared(s: StoredState): void {
    this.store.replaceAll(s);
    this.reloadKeepingReports();
    this.log.info({ profiles: s.profiles.length }, 'sql firewall: lists adopted from the fleet');
  }

  private reloadKeepingReports(): void {
    const reports = new Map(this.profiles().map((p) => [`${p.kind}:${p.name}`, p.report]));
    this.loadState(this.store.load());
    // The learning report survives an import, less what the import listed.
    for (const p of this.profiles()) {
      const r = reports.get(`${p.kind}:${p.name}`);
      if (r === undefined) continue;
      for (const [hash, entry] of r) if (!p.rules.has(hash)) p.report.set(hash, entry);
    }
  }

  private changed(): void {
    this.generation++;
    this.onChange();
  }

  close(): void {
    this.store.close();
  }
}
