// The firewall mirror: moat's host blocks (automatic and manual, with their expiry) copied into an
// nftables table of moat's own, so that a blocked host's SYNs are dropped by the kernel before they
// cost moat a socket. moat stays the authority: the kernel copy is an optimisation, and whatever
// it misses (an outage, a lost write) moat still refuses at accept with 1129.
//
// Writes never block the relay: block()/unblock() record the wanted state and return; one nft
// process at a time applies everything recorded since the last one (a flood of blocks costs a few
// nft runs, not one each). A failed write is logged once per outage, counted, and retried with
// backoff by rebuilding the whole table from the wanted state — that also repairs a table someone
// removed (`systemctl restart nftables` flushes the ruleset).
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Block } from '../guard/blocker.ts';
import type { GuardAction } from '../model/guard.ts';
import type { FirewallConfig } from './config.ts';
import {
  addMembers,
  deleteTable,
  type Family,
  flushSets,
  installCommands,
  type Member,
  MIRROR_MARK,
  setMember,
} from './mirror-table.ts';
import { Nft, NftError, ownTableExists } from './nft.ts';

export interface MirrorOptions {
  nft?: Nft;
  now?: () => number;
  /** First retry after a failed write, doubled up to retryMaxMs. */
  retryMs?: number;
  retryMaxMs?: number;
}

export interface MirrorStats {
  table: string;
  ports: number[];
  /** Addresses moat wants dropped now. */
  members: number;
  /** nft transactions applied. */
  writes: number;
  /** Failed nft transactions. */
  errors: number;
  outage: boolean;
  lastError: string | null;
}

/** nft's JSON carries timeouts in whole seconds; 10 years is what every kernel here accepts. */
const MAX_TIMEOUT_S = 3650 * 86_400;

type Pending = 'none' | 'resync' | 'rebuild';

export class FirewallMirror {
  /**
   * Creates (or re-creates) the table and returns the mirror; null when the feature is off, or
   * cannot work here (no nft, no CAP_NET_ADMIN, a table of that name that is not moat's): then
   * one warning says why and moat runs without it.
   */
  static async open(
    cfg: FirewallConfig,
    log: Logger,
    opts: MirrorOptions = {},
  ): Promise<FirewallMirror | null> {
    if (!cfg.enabled) return null;
    const ports = [...new Set(cfg.ports ?? [])].sort((a, b) => a - b);
    const where = `inet ${cfg.table}`;
    if (ports.length === 0) {
      log.warn({ table: where }, 'firewall: no TCP listener port to protect; firewall mirror off');
      return null;
    }
    const m = new FirewallMirror(cfg.table, ports, log, opts);
    try {
      await m.install([]);
    } catch (e) {
      const code = e instanceof NftError ? e.code : 'MOAT_NFT_FAILED';
      log.warn(
        { code, table: where },
        `firewall: mirror off, blocks stay enforced by moat alone: ${message(e)}`,
      );
      return null;
    }
    log.info({ table: where, ports }, 'firewall: mirroring blocks into nftables');
    return m;
  }

  private readonly table: string;
  private readonly ports: number[];
  private readonly log: Logger;
  private readonly nft: Nft;
  private readonly now: () => number;
  private readonly retryMs: number;
  private readonly retryMaxMs: number;
  /** ip → until (epoch ms, null: until unblocked): what the kernel should hold. */
  private want = new Map<string, number | null>();
  private readonly dirty = new Set<string>();
  private pending: Pending = 'none';
  private tail: Promise<boolean> = Promise.resolve(true);
  private queued: Promise<boolean> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelay: number;
  private closing = false;
  private closed = false;
  private writes = 0;
  private errorCount = 0;
  private outage = false;
  private lastError: string | null = null;

  private constructor(table: string, ports: number[], log: Logger, opts: MirrorOptions) {
    this.table = table;
    this.ports = ports;
    this.log = log;
    this.nft = opts.nft ?? new Nft();
    this.now = opts.now ?? Date.now;
    this.retryMs = opts.retryMs ?? 1000;
    this.retryMaxMs = opts.retryMaxMs ?? 60_000;
    this.retryDelay = this.retryMs;
  }

  /** Failed nft transactions so far. */
  get errors(): number {
    return this.errorCount;
  }

  stats(): MirrorStats {
    return {
      table: `inet ${this.table}`,
      ports: [...this.ports],
      members: this.want.size,
      writes: this.writes,
      errors: this.errorCount,
      outage: this.outage,
      lastError: this.lastError,
    };
  }

  /**
   * Drops new connections from `b.ip` until `b.until`. The time left is taken when the element is
   * written and rounded down to whole seconds, so the kernel never holds a block longer than moat.
   * Resolves true once written (false: not written; logged, counted and retried). Never rejects.
   */
  block(b: Block): Promise<boolean> {
    const a = address(b.ip);
    if (a === null) return this.skip(b.ip);
    this.want.set(a.ip, b.until);
    this.dirty.add(a.ip);
    return this.kick();
  }

  unblock(ip: string): Promise<boolean> {
    const a = address(ip);
    if (a === null) return this.skip(ip);
    this.want.delete(a.ip);
    this.dirty.add(a.ip);
    return this.kick();
  }

  /** Replaces the sets' contents with `blocks` (moat's state at start) in one transaction. */
  sync(blocks: readonly Block[]): Promise<boolean> {
    this.want = new Map();
    for (const b of blocks) {
      const a = address(b.ip);
      if (a !== null) this.want.set(a.ip, b.until);
    }
    this.dirty.clear();
    if (this.pending === 'none') this.pending = 'resync';
    return this.kick();
  }

  /** Feeds the guard's block and unblock events in; its other actions are not the firewall's. */
  onGuardAction(a: GuardAction): void {
    if (a.kind === 'blocked') void this.block(a.block);
    else if (a.kind === 'unblocked') void this.unblock(a.block.ip);
  }

  /** Resolves when every change made so far has been applied (or has failed). */
  async idle(): Promise<void> {
    await this.tail;
  }

  /**
   * Stops mirroring and deletes the table, unless `keep`. Deleting is the default: moat's persisted
   * state keeps the blocks and the next start re-syncs them, while drops left behind a stopped
   * moat are invisible to its admin views, outlive unblocks made by editing that state, and would
   * keep hitting whatever listens on those ports next.
   */
  async close(opts: { keep?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    await this.tail;
    this.closed = true;
    if (opts.keep) return;
    try {
      await this.nft.apply(deleteTable(this.table));
      this.log.info({ table: `inet ${this.table}` }, 'firewall: table removed');
    } catch (e) {
      if (e instanceof NftError && e.code === 'MOAT_NFT_NOT_FOUND') return;
      this.log.warn({ table: `inet ${this.table}` }, `firewall: could not remove the table: ${message(e)}`);
    }
  }

  private skip(ip: string): Promise<boolean> {
    // Unix-socket clients and other non-addresses have nothing to drop.
    this.log.debug({ ip }, 'firewall: not an IP address; not mirrored');
    return Promise.resolve(false);
  }

  /** Queues one write for everything changed by the time it starts. */
  private kick(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.queued !== null) return this.queued;
    const run = this.tail.then(() => {
      this.queued = null;
      return this.flush();
    });
    this.queued = run;
    this.tail = run;
    return run;
  }

  private async install(members: Member[]): Promise<void> {
    await ownTableExists(this.nft, this.table, MIRROR_MARK);
    await this.nft.apply(installCommands(this.table, this.ports, members));
  }

  private async flush(): Promise<boolean> {
    if (this.closed) return false;
    const now = this.now();
    const level = this.pending;
    const dirty = [...this.dirty];
    this.pending = 'none';
    this.dirty.clear();
    try {
      if (level === 'rebuild') await this.install(this.members(now));
      else if (level === 'resync')
        await this.nft.apply([...flushSets(this.table), ...addMembers(this.table, this.members(now))]);
      else if (dirty.length > 0)
        await this.nft.apply(
          dirty.flatMap((ip) => {
            const family = isIP(ip) as Family;
            return setMember(this.table, ip, family, this.member(ip, family, now));
          }),
        );
      else return true;
      this.writes++;
      if (this.outage) {
        this.log.info(
          { table: `inet ${this.table}`, errors: this.errorCount },
          'firewall: nftables writable again',
        );
        this.outage = false;
      }
      this.retryDelay = this.retryMs;
      return true;
    } catch (e) {
      this.failed(e);
      return false;
    }
  }

  private failed(e: unknown): void {
    this.errorCount++;
    this.lastError = message(e);
    // Whatever this write carried is lost; a rebuild from `want` restores all of it.
    this.pending = 'rebuild';
    const foreign = e instanceof NftError && e.code === 'MOAT_NFT_FOREIGN_TABLE';
    if (!this.outage || foreign) {
      const code = e instanceof NftError ? e.code : 'MOAT_NFT_FAILED';
      const then = foreign ? 'mirror off' : 'retrying; blocks stay enforced by moat';
      this.log.warn(
        { code, table: `inet ${this.table}` },
        `firewall: cannot update nftables (${then}): ${this.lastError}`,
      );
    }
    this.outage = true;
    if (foreign) {
      this.closed = true;
      return;
    }
    if (this.closing || this.retryTimer !== null) return;
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, this.retryMaxMs);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.kick();
    }, delay);
    this.retryTimer.unref();
  }

  /** What the kernel should hold for `ip` now; null when nothing (unblocked, or under a second left). */
  private member(ip: string, family: Family, now: number): Member | null {
    const until = this.want.get(ip);
    if (until === undefined) return null;
    if (until === null) return { ip, family, timeoutS: null };
    const left = Math.floor((until - now) / 1000);
    if (left < 1) {
      if (until <= now) this.want.delete(ip);
      return null;
    }
    return { ip, family, timeoutS: Math.min(left, MAX_TIMEOUT_S) };
  }

  private members(now: number): Member[] {
    const out: Member[] = [];
    for (const ip of [...this.want.keys()]) {
      const m = this.member(ip, isIP(ip) as Family, now);
      if (m !== null) out.push(m);
    }
    return out;
  }
}

/** The address as the kernel sees it: IPv4-mapped IPv6 is IPv4 on the wire, zones are local. */
function address(ip: string): { ip: string; family: Family } | null {
  let s = ip.trim();
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s);
  if (mapped?.[1] !== undefined) s = mapped[1];
  const family = isIP(s);
  if (family === 0) return null;
  return { ip: family === 6 ? s.toLowerCase() : s, family: family as Family };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
