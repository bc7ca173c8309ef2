// The attack half of `bench/flood.ts`, run as its own process (forked, IPC) so that its CPU is
// measured apart from the legitimate clients' and never steals their event loop. Opens connections
// to moat at a fixed rate (open loop: a slow answer does not slow the attack), each from an address
// of its own kind's pool in 127/8, of three kinds:
//   handshake  connect, read the greeting, then close at once, send an HTTP request, or send a
//              well-framed packet of junk in place of the HandshakeResponse (scanners, probes)
//   guess      log in as a real user with a wrong password, giving up after `guessTimeoutMs`
//   idle       connect, read the greeting, never send anything: wait for moat to cut the socket
// The parent sends {type:'start', config}, {type:'snapshot'} (answered with the counters so far)
// and {type:'stop'} (answered with the final counters, after every socket is closed).
import { randomBytes } from 'node:crypto';
import { errCode, login, loopbackAddress, packet, Wire } from './wire.ts';

export const ATTACK_KINDS = ['handshake', 'guess', 'idle'] as const;
export type AttackKind = (typeof ATTACK_KINDS)[number];

export type AttackConfig = {
  host: string;
  port: number;
  /** Connections per second, all kinds together. */
  rate: number;
  /** Relative weights of the kinds. */
  mix: Record<AttackKind, number>;
  /** Distinct source addresses per kind: 127.<10|20|30>.x.y. */
  addresses: Record<AttackKind, number>;
  user: string;
  database: string;
  /** How long a password guesser waits for an answer before giving up (it is being delayed). */
  guessTimeoutMs: number;
  /** How long an idle socket waits for moat to close it before the attacker does. */
  idleMaxMs: number;
  /** Connections of all kinds open at once at most; beyond it attempts are skipped and counted. */
  maxOpen: number;
};

/** Counters per kind: `attempts`, and one per outcome ("greeted", "err1129", "timeout", ...). */
export type AttackStats = {
  elapsedS: number;
  /** Attempts in flight (sockets open or opening). */
  open: number;
  cpu: NodeJS.CpuUsage;
  kinds: Record<AttackKind, Record<string, number>>;
};

export type ToAttacker = { type: 'start'; config: AttackConfig } | { type: 'snapshot' } | { type: 'stop' };
export type FromAttacker = { type: 'stats'; stats: AttackStats } | { type: 'stopped'; stats: AttackStats };

const SECOND_OCTET: Record<AttackKind, number> = { handshake: 10, guess: 20, idle: 30 };
const HTTP_PROBE = Buffer.from('GET / HTTP/1.1\r\nHost: db\r\nUser-Agent: scanner\r\n\r\n');

let config: AttackConfig | undefined;
let startedAt = 0;
let cpu0 = process.cpuUsage();
let timer: NodeJS.Timeout | undefined;
let stopping = false;
const kinds: Record<AttackKind, Record<string, number>> = {
  handshake: { attempts: 0 },
  guess: { attempts: 0 },
  idle: { attempts: 0 },
};
const launched: Record<AttackKind, number> = { handshake: 0, guess: 0, idle: 0 };
const nextAddress: Record<AttackKind, number> = { handshake: 0, guess: 0, idle: 0 };
const open = new Set<Wire>();
const running = new Set<Promise<void>>();
let variant = 0;

function count(kind: AttackKind, what: string): void {
  const c = kinds[kind];
  c[what] = (c[what] ?? 0) + 1;
}

function stats(): AttackStats {
  return {
    elapsedS: startedAt === 0 ? 0 : (performance.now() - startedAt) / 1000,
    open: running.size,
    cpu: process.cpuUsage(cpu0),
    kinds: structuredClone(kinds),
  };
}

function addressFor(kind: AttackKind): string {
  const n = config!.addresses[kind];
  const i = nextAddress[kind]++ % n;
  return loopbackAddress(SECOND_OCTET[kind], i);
}

/** What the first packet was: 'greeted', or 'errNNNN' (refused in place of the greeting). */
function firstOutcome(p: Awaited<ReturnType<Wire['next']>>): string {
  if (p === 'closed' || p === 'timeout') return `first-${p}`;
  const code = errCode(p.payload);
  return code === undefined ? 'greeted' : `err${code}`;
}

async function handshakeAttack(localAddress: string): Promise<void> {
  const c = config!;
  const w = new Wire({ host: c.host, port: c.port, localAddress });
  open.add(w);
  try {
    const first = firstOutcome(await w.next(5000));
    count('handshake', first);
    if (first !== 'greeted') {
      if (w.errno) count('handshake', `errno-${w.errno}`);
      return;
    }
    switch (variant++ % 3) {
      case 0: // a port scanner: connect, look, leave
        w.destroy();
        count('handshake', 'sent-close');
        return;
      case 1: // an HTTP client on the wrong port: its first 3 bytes read as a 5 MB packet length
        w.write(HTTP_PROBE);
        count('handshake', 'sent-http');
        break;
      default: // a well-framed packet whose content is no HandshakeResponse
        w.write(packet(1, randomBytes(48)));
        count('handshake', 'sent-junk');
    }
    const answer = await w.next(5000);
    if (typeof answer === 'string') count('handshake', `then-${answer}`);
    else count('handshake', `then-err${errCode(answer.payload) ?? 'other'}`);
  } finally {
    w.destroy();
    open.delete(w);
  }
}

async function guessAttack(localAddress: string): Promise<void> {
  const c = config!;
  const password = randomBytes(6).toString('hex');
  const r = await login(
    { host: c.host, port: c.port, localAddress },
    { user: c.user, password, database: c.database },
    c.guessTimeoutMs,
    (w) => {
      open.add(w);
      void w.closed.then(() => open.delete(w));
    },
  );
  switch (r.kind) {
    case 'ok':
      r.wire.destroy();
      open.delete(r.wire);
      count('guess', 'ok?!');
      return;
    case 'err':
      count('guess', r.atGreeting ? `err${r.code}` : 'greeted');
      if (!r.atGreeting) {
        count('guess', `denied${r.code}`);
        // Connection control: the answer came after a delay (≥ 1 s) rather than at once.
        if (r.ms >= 900) count('guess', 'delayed-then-denied');
      }
      return;
    case 'timeout':
      count('guess', 'gave-up-waiting');
      return;
    default:
      count('guess', r.kind === 'socket-error' ? `errno-${r.errno}` : r.kind);
  }
}

async function idleAttack(localAddress: string): Promise<void> {
  const c = config!;
  const w = new Wire({ host: c.host, port: c.port, localAddress });
  open.add(w);
  try {
    const first = firstOutcome(await w.next(5000));
    count('idle', first);
    if (first !== 'greeted') {
      if (w.errno) count('idle', `errno-${w.errno}`);
      return;
    }
    // Never answer. moat's handshake timeout should send ERR 1159 and close.
    const last = await w.next(c.idleMaxMs);
    if (last === 'timeout') count('idle', stopping ? 'open-at-stop' : 'never-cut');
    else if (last === 'closed') count('idle', 'cut-without-err');
    else count('idle', `cut-err${errCode(last.payload) ?? 'other'}`);
  } finally {
    w.destroy();
    open.delete(w);
  }
}

function launch(kind: AttackKind): void {
  kinds[kind].attempts!++;
  const addr = addressFor(kind);
  const p = (kind === 'handshake' ? handshakeAttack : kind === 'guess' ? guessAttack : idleAttack)(addr)
    .catch((e: unknown) => count(kind, `exception-${(e as Error).message.slice(0, 40)}`))
    .finally(() => running.delete(p));
  running.add(p);
}

function tick(): void {
  const c = config!;
  const elapsed = (performance.now() - startedAt) / 1000;
  const total = ATTACK_KINDS.reduce((s, k) => s + c.mix[k], 0);
  for (const k of ATTACK_KINDS) {
    const due = Math.floor((elapsed * c.rate * c.mix[k]) / total);
    while (launched[k] < due) {
      launched[k]++;
      if (running.size >= c.maxOpen) count(k, 'skipped');
      else launch(k);
    }
  }
}

async function stop(): Promise<AttackStats> {
  stopping = true;
  if (timer !== undefined) clearInterval(timer);
  for (const w of open) w.destroy();
  await Promise.race([Promise.allSettled([...running]), new Promise((r) => setTimeout(r, 10_000))]);
  return stats();
}

process.on('message', (m: ToAttacker) => {
  if (m.type === 'start') {
    config = m.config;
    startedAt = performance.now();
    cpu0 = process.cpuUsage();
    timer = setInterval(tick, 5);
  } else if (m.type === 'snapshot') {
    process.send!({ type: 'stats', stats: stats() } satisfies FromAttacker);
  } else if (m.type === 'stop') {
    void stop().then((s) => {
      process.send!({ type: 'stopped', stats: s } satisfies FromAttacker, () => process.exit(0));
    });
  }
});
process.on('disconnect', () => process.exit(0));
