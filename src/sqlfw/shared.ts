// A fleet's SQL firewall (state.store: redis): profiles, members and allowlists shared through the
// same Redis as the guard's state, under keys of the firewall's own in the fleet's namespace
//   moat:{ns}:sqlfw:profiles   hash  "user:app@%" → {"mode","trainer","networks"}
//   moat:{ns}:sqlfw:rules:<kind>:<name>  hash  digest → digest text (a union: two moats learning
//                                         at once both keep what they learned)
//   moat:{ns}:sqlfw:members    hash  ["group","user@host"] → 1
// and a channel of its own (moat:{ns}:sqlfw:events). Every change made on one moat (a CALL, a
// digest learned in RECORDING, an import) is written there and announced; the others read the
// lists again (debounced) and adopt them whole, into their own sqlfw.sqlite as well, so a moat
// that loses Redis keeps judging with the lists it last had. Its own connection pair: the guard's
// fleet code stays as it is, and judging never waits for Redis.
import type { Logger } from 'pino';
import type { StateConfig } from '../state/config.ts';
import { createRedisPair, type RedisPair } from '../state/redis/connect.ts';
import type { ShareChange, SqlFirewall } from './engine.ts';
import type { Mode, ProfileKind } from './model.ts';
import type { StoredProfile, StoredState } from './store.ts';

const PULL_DELAY_MS = 100;

export class SharedFirewall {
  private readonly redis: RedisPair;
  private readonly fw: SqlFirewall;
  private readonly log: Logger;
  private readonly instance: string;
  private readonly base: string;
  private readonly channel: string;
  /** Redis work in order: a pull never overtakes a change made here before it. */
  private queue: Promise<void> = Promise.resolve();
  private pullTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(cfg: StateConfig, fw: SqlFirewall, log: Logger) {
    this.fw = fw;
    this.log = log;
    this.instance = cfg.instance;
    this.base = `moat:{${cfg.redis.namespace}}:sqlfw:`;
    this.channel = `${this.base}events`;
    this.redis = createRedisPair(cfg.redis);
  }

  private get profilesKey(): string {
    return `${this.base}profiles`;
  }
  private get membersKey(): string {
    return `${this.base}members`;
  }
  private rulesKey(kind: ProfileKind, name: string): string {
    return `${this.base}rules:${kind}:${name}`;
  }

  async start(): Promise<void> {
    const { cmd, sub } = this.redis;
    sub.on('message', (_channel: string, text: string) => {
      let from: unknown;
      try {
        from = (JSON.parse(text) as { from?: unknown }).from;
      } catch {
        return;
      }
      if (from !== this.instance) this.schedulePull();
    });
    // After an outage: what changed meanwhile elsewhere.
    cmd.on('ready', () => this.schedulePull());
    this.fw.onShare = (c) => {
      this.enqueue(() => this.push(c), 'write');
      // A pull that read Redis before this write may adopt lists without it: read again after.
      this.schedulePull();
    };
    try {
      await Promise.all([cmd.connect(), sub.connect()]);
      await sub.subscribe(this.channel);
      // The first moat of a fleet brings its lists; the others adopt the fleet's.
      if ((await cmd.hlen(this.profilesKey)) === 0) await this.push({ op: 'all', state: this.fw.snapshot() });
      else await this.pull();
    } catch (e) {
      void sub.subscribe(this.channel).catch(() => {});
      this.log.warn(
        { err: (e as Error).message },
        'sql firewall: shared lists unavailable; using the local ones',
      );
    }
  }

  private enqueue(job: () => Promise<void>, what: string): void {
    this.queue = this.queue.then(job).catch((e: unknown) => {
      this.log.warn({ err: (e as Error).message, what }, 'sql firewall: shared lists not updated');
    });
  }

  private schedulePull(): void {
    if (this.pullTimer !== null || this.closed) return;
    this.pullTimer = setTimeout(() => {
      this.pullTimer = null;
      this.enqueue(() => this.pull(), 'read');
    }, PULL_DELAY_MS);
    this.pullTimer.unref();
  }

  private async push(c: ShareChange): Promise<void> {
    const cmd = this.redis.cmd;
    const m = cmd.multi();
    switch (c.op) {
      case 'profile':
        m.hset(this.profilesKey, `${c.profile.kind}:${c.profile.name}`, profileJson(c.profile));
        break;
      case 'rule':
        m.hset(this.rulesKey(c.kind, c.name), c.hash, c.text);
        break;
      case 'clear':
        m.del(this.rulesKey(c.kind, c.name));
        break;
      case 'member':
        if (c.on) m.hset(this.membersKey, JSON.stringify([c.group, c.member]), '1');
        else m.hdel(this.membersKey, JSON.stringify([c.group, c.member]));
        break;
      case 'all': {
        // An import (or the first moat): the fleet's lists become this state.
        for (const field of await cmd.hkeys(this.profilesKey)) {
          const at = field.indexOf(':');
          m.del(this.rulesKey(field.slice(0, at) as ProfileKind, field.slice(at + 1)));
        }
        m.del(this.profilesKey, this.membersKey);
        for (const p of c.state.profiles) {
          m.hset(this.profilesKey, `${p.kind}:${p.name}`, profileJson(p));
          if (p.rules.length > 0)
            m.hset(this.rulesKey(p.kind, p.name), Object.fromEntries(p.rules.map((r) => [r.hash, r.text])));
        }
        for (const x of c.state.members) m.hset(this.membersKey, JSON.stringify([x.group, x.member]), '1');
        break;
      }
    }
    m.publish(this.channel, JSON.stringify({ from: this.instance }));
    await m.exec();
  }

  /** Reads the fleet's lists and adopts them. */
  private async pull(): Promise<void> {
    const cmd = this.redis.cmd;
    const [profiles, members] = await Promise.all([
      cmd.hgetall(this.profilesKey),
      cmd.hgetall(this.membersKey),
    ]);
    const state: StoredState = { profiles: [], members: [] };
    for (const [field, json] of Object.entries(profiles)) {
      const at = field.indexOf(':');
      const kind = field.slice(0, at) as ProfileKind;
      const name = field.slice(at + 1);
      const p = JSON.parse(json) as { mode: Mode; trainer: string | null; networks: string[] };
      const rules = await cmd.hgetall(this.rulesKey(kind, name));
      state.profiles.push({
        kind,
        name,
        mode: p.mode,
        trainer: p.trainer,
        networks: p.networks,
        rules: Object.entries(rules).map(([hash, text]) => ({ hash, text })),
      });
    }
    for (const field of Object.keys(members)) {
      const [group, member] = JSON.parse(field) as [string, string];
      state.members.push({ group, member });
    }
    this.fw.adoptShared(state);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pullTimer !== null) clearTimeout(this.pullTimer);
    this.fw.onShare = null;
    await this.queue;
    this.redis.cmd.disconnect();
    this.redis.sub.disconnect();
  }
}

function profileJson(p: Omit<StoredProfile, 'rules'>): string {
  return JSON.stringify({ mode: p.mode, trainer: p.trainer, networks: p.networks });
}
