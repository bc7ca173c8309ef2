// One moat instance's membership in a fleet that shares its guard state on Redis.
//
// Two roles, one connection pair:
//   - a GuardStore (persist.ts batches into it): this instance's ledger rows, and blocks made or
//     lifted here, written to Redis and published on the fleet's channel;
//   - the guard's SharedGuardState: connect errors and failed logins counted atomically by scripts
//     (scripts.ts), whose new values every instance, this one included, applies from the channel.
// The guard never waits for Redis: admission reads local state, which the channel keeps current.
//
// States:  connecting ──ready──▶ reconciling ──▶ up ──error/close/timeout──▶ down
//              │                     ▲  │                                     │
//              └──────error──────────┼──┴──────────────▶ down ──ready/probe───┘
// While not up, changes are kept as bounded deltas (pending) and replayed by the reconciliation,
// which also pulls the fleet's blocks and counts. If Redis lost its data meanwhile (the epoch key
// changed), every instance pushes what it knows, merged by maximum, before pulling.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Block, FleetGuard, SharedGuardState } from '../../model/guard.ts';
import type { StateConfig } from '../config.ts';
import type { GuardChanges, GuardSnapshot } from '../store.ts';
import { createRedisPair, describeRedis, type RedisPair } from './connect.ts';
import { type FleetKeys, fleetKeys } from './keys.ts';
import { parseBlock, parseFleetMessage } from './messages.ts';
import { type Delta, PendingDeltas } from './pending.ts';
import { scanKeys, scanValues } from './scan.ts';
import { type FleetScripts, fleetScripts } from './scripts.ts';
import { pull, pushAll, type SyncContext } from './sync.ts';
import {
  counts,
  type FleetInstance,
  type FleetState,
  FleetUnavailableError,
  type FleetView,
  parseRow,
  readFleetView,
} from './view.ts';

export { type FleetInstance, type FleetState, FleetUnavailableError, type FleetView };

/** What the gateway does with the fleet's news. */
export interface FleetHooks {
  /** Writes the guard's pending changes and waits (so a reconciliation reads what this instance made). */
  settle(): Promise<void>;
  /** A block now in force here: made by a script for this instance (`own`), or by another instance. */
  blocked(b: Block, from: string, own: boolean): void;
  unblocked(b: Block, from: string): void;
  /** Another instance ran RELOAD CONFIG. */
  reload(from: string): void;
  /** Another instance ran SET GLOBAL (or the fleet's value differs from this instance's). */
  setVariable(name: string, value: number, from: string): void;
  /** This instance's SET GLOBAL values, pushed to a Redis that lost its data. */
  savedVariables(): Record<string, number>;
}

const HEARTBEAT_MS = 1000;

type FleetAnnouncement =
  | { t: 'reload'; from: string }
  | { t: 'set'; name: string; value: number; from: string };

export class RedisFleet implements SharedGuardState {
  state: FleetState = 'connecting';
  readonly instance: string;
  readonly unknownHostsWhenDown: 'allow' | 'deny';
  readonly stats = { outages: 0, commandErrors: 0, dropped: 0, badMessages: 0, replayed: 0 };
  private readonly cfg: StateConfig['redis'];
  private readonly log: Logger;
  private readonly keys: FleetKeys;
  private readonly redis: RedisPair;
  private readonly scripts: FleetScripts;
  private readonly ttlMs: number;
  private readonly startedAt = Date.now();
  private guard: FleetGuard | null = null;
  private hooks: FleetHooks | null = null;
  private epoch: string | null = null;
  private readonly pendingCe: PendingDeltas;
  private readonly pendingCc: PendingDeltas;
  private pendingFlush = false;
  private timer: NodeJS.Timeout | null = null;
  private reconciling: Promise<void> | null = null;
  private lastError: Error | null = null;
  private readonly pendingAnnouncements = new Map<string, FleetAnnouncement>();
  /** The fleet's reload count this instance has acted on (null: not read yet). */
  private reloadsSeen: number | null = null;

  constructor(cfg: StateConfig, log: Logger) {
    this.cfg = cfg.redis;
    this.instance = cfg.instance;
    this.unknownHostsWhenDown = cfg.redis.unknownHostsWhenDown;
    this.log = log.child({ redis: describeRedis(cfg.redis), instance: cfg.instance });
    this.keys = fleetKeys(cfg.redis.namespace);
    this.ttlMs = cfg.redis.counterTtlSeconds * 1000;
    this.redis = createRedisPair(cfg.redis);
    this.scripts = fleetScripts(this.redis.cmd);
    const dropped = () => {
      if (this.stats.dropped++ === 0)
        this.log.error(
          { maxPending: this.cfg.maxPending },
          'shared state: too many changes waiting for Redis; the oldest are dropped (counted in Moat_redis_dropped)',
        );
    };
    this.pendingCe = new PendingDeltas(cfg.redis.maxPending, dropped);
    this.pendingCc = new PendingDeltas(cfg.redis.maxPending, dropped);
    const { cmd, sub } = this.redis;
    for (const c of [cmd, sub]) {
      // The reason a connection closed arrives first as an 'error' (ECONNREFUSED, WRONGPASS, a
      // TLS failure …): kept, so that the one log line of the outage says why.
      c.on('error', (e: Error) => {
        this.lastError = e;
      });
      c.on('close', () => this.markDown(this.lastError ?? new Error('connection closed')));
      c.on('ready', () => this.maybeReconcile());
    }
    sub.on('message', (_channel: string, text: string) => this.onMessage(text));
  }

  get up(): boolean {
    return this.state === 'up';
  }

  /** Changes waiting for Redis (a gauge for status and metrics). */
  get pending(): number {
    return this.pendingCe.size + this.pendingCc.size + (this.pendingFlush ? 1 : 0);
  }

  // --- GuardStore --------------------------------------------------------------------------

  /**
   * Connects and reads this instance's rows, the fleet's blocks and failed-login counts. Redis
   * unreachable at start is no reason not to serve: an empty snapshot, state down, and the
   * reconciliation fills the guard in when Redis answers.
   */
  async load(): Promise<GuardSnapshot> {
    const { cmd, sub } = this.redis;
    try {
      await Promise.all([cmd.connect(), sub.connect()]);
      await sub.subscribe(this.keys.channel);
      await this.ensureEpoch();
      const [ledger, blocks, failed] = await Promise.all([
        cmd.hgetall(this.keys.ledger(this.instance)),
        scanValues(cmd, this.keys.pattern('block')),
        scanValues(cmd, this.keys.pattern('cc')),
      ]);
      const hosts = Object.values(ledger)
        .map(parseRow)
        .filter((r) => r !== null)
        .sort((a, b) => a.lastSeen - b.lastSeen);
      return {
        hosts,
        blocks: [...blocks.values()].map(parseBlock).filter((b) => b !== null),
        failedLogins: [...counts(failed, this.keys.prefix('cc'))]
          .filter(([, n]) => n > 0)
          .map(([userHost, failures]) => ({ userHost, failures })),
      };
    } catch (e) {
      // Subscribing is queued on the subscriber connection and happens once it connects.
      void sub.subscribe(this.keys.channel).catch(() => {});
      this.markDown(e as Error);
      return { hosts: [], blocks: [], failedLogins: [] };
    }
  }

  async apply(c: GuardChanges): Promise<void> {
    if (this.redis.cmd.status !== 'ready')
      throw new Error(`Redis is not connected (${this.redis.cmd.status})`);
    const k = this.keys;
    const ops: Array<Promise<unknown>> = [];
    const now = Date.now();
    for (const b of c.blocks) {
      const ms = b.until === null ? 0 : b.until - now;
      if (b.until !== null && ms <= 0) continue;
      ops.push(this.scripts.block(k.block(b.ip), [JSON.stringify(b), ms, 0, this.instance, k.channel]));
    }
    for (const ip of c.removedBlocks) {
      ops.push(this.scripts.unblock([k.block(ip), k.connectErrors(ip)], [ip, this.instance, k.channel]));
    }
    if (c.hosts.length > 0) {
      const fields: string[] = [];
      for (const h of c.hosts) fields.push(h.ip, JSON.stringify(h));
      ops.push(this.redis.cmd.hset(k.ledger(this.instance), ...fields));
    }
    if (c.removedHosts.length > 0) ops.push(this.redis.cmd.hdel(k.ledger(this.instance), ...c.removedHosts));
    // Failed logins are not batched here: they are live shared counters (loginFailed / loginOk).
    try {
      await Promise.all(ops);
    } catch (e) {
      this.commandFailed(e as Error);
      throw e;
    }
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const wasUp = this.state === 'up';
    this.state = 'closed';
    const { cmd, sub } = this.redis;
    if (wasUp) await cmd.del(this.keys.instance(this.instance)).catch(() => {});
    // quit() waits for Redis; disconnect() is for a Redis that is not answering.
    await Promise.all(
      [cmd, sub].map((c) =>
        c.status === 'ready' ? c.quit().catch(() => c.disconnect()) : Promise.resolve(c.disconnect()),
      ),
    );
  }

  // --- joining the guard ------------------------------------------------------------------

  /** After the snapshot is in the guard: start sharing, reconcile when Redis answers. */
  attach(guard: FleetGuard, hooks: FleetHooks): void {
    this.guard = guard;
    this.hooks = hooks;
    guard.shared = this;
    this.timer = setInterval(() => this.tick(), HEARTBEAT_MS);
    this.timer.unref();
    this.maybeReconcile();
  }

  /** RELOAD CONFIG ran here: every other instance reloads too (once Redis is back, if it is away). */
  announceReload(): void {
    this.announce({ t: 'reload', from: this.instance });
  }

  /**
   * SET GLOBAL ran here: every instance takes the value, so that the fleet counts against one
   * max_connect_errors and one connection-control threshold (the scripts are given the caller's).
   */
  announceVariable(name: string, value: number): void {
    this.announce({ t: 'set', name, value, from: this.instance });
  }

  private announce(m: FleetAnnouncement): void {
    const key = m.t === 'set' ? `set:${m.name}` : m.t;
    if (this.state !== 'up') {
      // Kept (the latest per kind and name) and made when the reconciliation runs.
      this.pendingAnnouncements.set(key, m);
      return;
    }
    this.made(m).catch((e: Error) => {
      this.commandFailed(e);
      this.pendingAnnouncements.set(key, m);
    });
  }

  /**
   * Stores an announcement in Redis and publishes it, in one script: an instance that misses the
   * message (its subscriber still reconnecting) finds it at its own reconciliation.
   */
  private async made(m: FleetAnnouncement): Promise<void> {
    const k = this.keys;
    if (m.t === 'set') {
      await this.scripts.setVariable(k.variables, [m.name, m.value, 0, this.instance, k.channel]);
    } else {
      this.reloadsSeen = await this.scripts.reload(k.reloads, [this.instance, k.channel]);
    }
  }

  // --- SharedGuardState --------------------------------------------------------------------

  connectError(ip: string, max: number, blockMs: number | null): void {
    if (this.state !== 'up') {
      this.pendingCe.add(ip, false, 1);
      return;
    }
    this.countConnectErrors(ip, { reset: false, inc: 1 }, max, blockMs ?? 0).catch((e: Error) => {
      // Whether the script ran is unknown (a timeout): counted again at the replay, the safer error.
      this.commandFailed(e);
      this.pendingCe.add(ip, false, 1);
      this.guard?.enforceConnectErrors(ip);
    });
  }

  connectOk(ip: string): void {
    if (this.state !== 'up') {
      this.pendingCe.add(ip, true, 0);
      return;
    }
    this.countConnectErrors(ip, { reset: true, inc: 0 }, 0, 0).catch((e: Error) => {
      this.commandFailed(e);
      this.pendingCe.add(ip, true, 0);
    });
  }

  private countConnectErrors(ip: string, d: Delta, max: number, blockMs: number): Promise<[number, number]> {
    const k = this.keys;
    return this.scripts.connectErrors(
      [k.connectErrors(ip), k.block(ip)],
      [d.reset ? '1' : '0', d.inc, this.ttlMs, max, blockMs, Date.now(), ip, this.instance, k.channel],
    );
  }

  loginFailed(userHost: string): void {
    this.failedLogins(userHost, false, 1);
  }

  loginOk(userHost: string): void {
    this.failedLogins(userHost, true, 0);
  }

  loginForgiven(hostKey: string, n: number): void {
    this.failedLogins(hostKey, false, -n);
  }

  hostsFlushed(): void {
    this.pendingCe.clear();
    this.pendingFlush = true;
    if (this.state === 'up') void this.flushHosts().catch((e: Error) => this.commandFailed(e));
  }

  private failedLogins(userHost: string, reset: boolean, inc: number): void {
    if (this.state !== 'up') {
      this.pendingCc.add(userHost, reset, inc);
      return;
    }
    const k = this.keys;
    this.scripts
      .failedLogins(k.failedLogins(userHost), [
        reset ? '1' : '0',
        inc,
        this.ttlMs,
        userHost,
        this.instance,
        k.channel,
      ])
      .catch((e: Error) => {
        this.commandFailed(e);
        this.pendingCc.add(userHost, reset, inc);
      });
  }

  private async flushHosts(): Promise<void> {
    this.pendingFlush = false;
    const keys = await scanKeys(this.redis.cmd, this.keys.pattern('ce'));
    for (let i = 0; i < keys.length; i += 500) await this.redis.cmd.del(...keys.slice(i, i + 500));
    await this.publish({ t: 'flush', from: this.instance });
  }

  // --- the channel ---------------------------------------------------------------------------

  private onMessage(text: string): void {
    const m = parseFleetMessage(text);
    const g = this.guard;
    if (m === null) {
      this.stats.badMessages++;
      return;
    }
    if (g === null) return;
    switch (m.t) {
      case 'ce':
        g.ledger.setConnectErrors(m.ip, m.n);
        return;
      case 'cc':
        g.connectionControl.setShared(m.k, m.n);
        return;
      case 'block':
        if (g.blocker.adopt(m.block)) this.hooks?.blocked(m.block, m.from, m.from === this.instance);
        return;
      case 'unblock': {
        if (m.from === this.instance) return;
        const b = g.blocker.drop(m.ip);
        if (b !== null) this.hooks?.unblocked(b, m.from);
        return;
      }
      case 'flush':
        if (m.from === this.instance) return;
        for (const r of [...g.ledger.rows()]) g.ledger.setConnectErrors(r.ip, 0);
        return;
      case 'reload':
        if (m.n !== undefined) this.reloadsSeen = Math.max(this.reloadsSeen ?? 0, m.n);
        if (m.from !== this.instance) this.hooks?.reload(m.from);
        return;
      case 'set':
        if (m.from !== this.instance) this.hooks?.setVariable(m.name, m.value, m.from);
        return;
    }
  }

  private publish(m: { t: 'flush'; from: string }): Promise<number> {
    return this.redis.cmd.publish(this.keys.channel, JSON.stringify(m));
  }

  // --- health and reconciliation ---------------------------------------------------------------

  private commandFailed(e: Error): void {
    this.stats.commandErrors++;
    this.markDown(e);
  }

  private markDown(e: Error): void {
    if (this.state === 'reconciling') {
      // The reconciliation's own commands fail too, and its ending decides (one outage, one line).
      this.lastError = e;
      return;
    }
    if (this.state === 'down' || this.state === 'closed') return;
    const was = this.state;
    this.state = 'down';
    this.stats.outages++;
    this.log.error(
      { err: e.message, was, unknownHostsWhenDown: this.unknownHostsWhenDown },
      'shared state on Redis unavailable: serving with local state; changes are kept and replayed when it returns',
    );
  }

  /** Every second: the heartbeat while up; while down, a PING decides whether to reconcile. */
  private tick(): void {
    if (this.state === 'up') this.heartbeat();
    else if (this.state === 'down') this.maybeReconcile();
  }

  private heartbeat(): void {
    const { cmd } = this.redis;
    {
      const beat: FleetInstance = {
        instance: this.instance,
        pid: process.pid,
        startedAt: this.startedAt,
        lastSeen: Date.now(),
        state: this.state,
      };
      cmd
        .set(this.keys.instance(this.instance), JSON.stringify(beat), 'PX', HEARTBEAT_MS * 5)
        .catch((e: Error) => this.commandFailed(e));
    }
  }

  private maybeReconcile(): void {
    if (this.guard === null || this.reconciling !== null) return;
    if (this.state !== 'down' && this.state !== 'connecting') return;
    const { cmd, sub } = this.redis;
    if (cmd.status !== 'ready' || sub.status !== 'ready') return;
    this.reconciling = this.reconcile().finally(() => {
      this.reconciling = null;
    });
  }

  private async reconcile(): Promise<void> {
    const g = this.guard!;
    const { cmd } = this.redis;
    const from = this.state;
    this.state = 'reconciling';
    const started = Date.now();
    try {
      await cmd.ping();
      const lost = await this.ensureEpoch();
      const before = new Map(g.blocker.list(Date.now()).map((b) => [b.ip, b.since]));
      // Blocks and unblocks made here while Redis was away are written first.
      await this.hooks!.settle();
      const replayed = await this.replay();
      if (lost) {
        await pushAll(this.sync(), g, this.hooks!.savedVariables());
        this.reloadsSeen = 0; // the fleet's count starts again with Redis's data
      }
      // SET GLOBAL / RELOAD CONFIG made here while away, before the fleet's are read.
      for (const [key, m] of [...this.pendingAnnouncements]) {
        this.pendingAnnouncements.delete(key);
        await this.made(m);
      }
      await pull(this.sync(), g, before, {
        blocked: (b) => this.hooks!.blocked(b, 'fleet', false),
        unblocked: (b) => this.hooks!.unblocked(b, 'fleet'),
      });
      await this.pullAnnouncements();
      this.state = 'up';
      this.lastError = null;
      this.heartbeat();
      this.log.warn(
        { replayed, pushedAll: lost, ms: Date.now() - started, outages: this.stats.outages },
        'shared state on Redis reconciled',
      );
      // What changed during the reconciliation itself.
      if (this.pending > 0) await this.replay();
    } catch (e) {
      if (this.state !== 'reconciling') return; // closed meanwhile
      if (from === 'down') {
        // Still the same outage (a slow Redis answers PING but not the rest): no new log line,
        // no new outage; the next tick tries again.
        this.state = 'down';
        this.lastError = e as Error;
        return;
      }
      this.state = 'connecting';
      this.markDown(e as Error);
    }
  }

  /** The fleet's SET GLOBAL values, and a RELOAD CONFIG this instance has not acted on yet. */
  private async pullAnnouncements(): Promise<void> {
    const { cmd } = this.redis;
    const [vars, reloads] = await Promise.all([cmd.hgetall(this.keys.variables), cmd.get(this.keys.reloads)]);
    for (const [name, v] of Object.entries(vars)) {
      const value = Number(v);
      if (Number.isInteger(value)) this.hooks!.setVariable(name, value, 'fleet');
    }
    const n = Number(reloads ?? 0);
    if (this.reloadsSeen !== null && n > this.reloadsSeen) this.hooks!.reload('fleet');
    this.reloadsSeen = Math.max(this.reloadsSeen ?? 0, n);
  }

  /** Sets the epoch when Redis has none; true when it is not the one this instance knew. */
  private async ensureEpoch(): Promise<boolean> {
    const { cmd } = this.redis;
    await cmd.set(this.keys.epoch, randomUUID(), 'NX');
    const epoch = await cmd.get(this.keys.epoch);
    const lost = this.epoch !== null && epoch !== this.epoch;
    this.epoch = epoch;
    return lost;
  }

  private async replay(): Promise<number> {
    const g = this.guard!;
    const k = this.keys;
    let n = 0;
    if (this.pendingFlush) await this.flushHosts();
    const max = g.settings.max_connect_errors;
    const blockMs = g.settings.blocking.autoBlockDurationMs ?? 0;
    for (const [ip, d] of this.pendingCe.take()) {
      await this.countConnectErrors(ip, d, g.blocker.isExempt(ip) ? 0 : max, blockMs);
      n++;
    }
    for (const [key, d] of this.pendingCc.take()) {
      await this.scripts.failedLogins(k.failedLogins(key), [
        d.reset ? '1' : '0',
        d.inc,
        this.ttlMs,
        key,
        this.instance,
        k.channel,
      ]);
      n++;
    }
    this.stats.replayed += n;
    return n;
  }

  // --- fleet views ---------------------------------------------------------------------------

  /** Every instance's ledger, tagged, and the shared counts. Throws FleetUnavailableError when down. */
  async view(): Promise<FleetView> {
    if (this.state !== 'up') throw new FleetUnavailableError();
    try {
      await this.hooks?.settle();
      return await readFleetView(this.redis.cmd, this.keys, () => this.stats.badMessages++);
    } catch (e) {
      this.commandFailed(e as Error);
      throw new FleetUnavailableError();
    }
  }

  private sync(): SyncContext {
    const { scripts, keys, ttlMs, instance } = this;
    return { cmd: this.redis.cmd, scripts, keys, ttlMs, instance };
  }
}
