// moat as a child process started from a YAML config (`node src/cli/main.ts start --config F`),
// for the flood and memory benchmarks; its memory from /proc, and optionally, through the V8
// inspector, a forced garbage collection and a look at its heap.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, waitForGreeting } from './targets.ts';

export type MoatChild = {
  pid: number;
  port: number;
  log: string;
  config: string;
  inspector: Inspector | undefined;
  exited(): string | undefined;
  stop(): Promise<void>;
};

export type MoatStart = {
  repoRoot: string;
  /** A private directory for the config, the log and moat's state directory. */
  dir: string;
  name: string;
  backend: { host: string; port: number };
  /** Merged over listeners, backend and stateDir (guard, limits, log ...). */
  config: Record<string, unknown>;
  /** Start node with --inspect on a free loopback port and connect to it. */
  inspect?: boolean;
  /** More node options (e.g. --cpu-prof for bench/login-profile.ts). */
  nodeArgs?: string[];
};

export async function startMoat(s: MoatStart): Promise<MoatChild> {
  const port = await freePort();
  // Its own state directory: moat persists its ledger there, and a later moat must not inherit it.
  const stateDir = join(s.dir, `${s.name}-state`);
  mkdirSync(stateDir, { recursive: true });
  const config = {
    listeners: [{ address: `127.0.0.1:${port}` }],
    backend: { address: `${s.backend.host}:${s.backend.port}` },
    stateDir,
    ...s.config,
  };
  const file = join(s.dir, `${s.name}.yaml`);
  writeFileSync(file, stringify(config));
  const log = join(s.dir, `${s.name}.log`);
  const fd = openSync(log, 'w');
  const args = [
    ...(s.inspect ? ['--inspect=127.0.0.1:0'] : []),
    ...(s.nodeArgs ?? []),
    join(s.repoRoot, 'src/cli/main.ts'),
    'start',
    '--config',
    file,
  ];
  const child: ChildProcess = spawn(process.execPath, args, { cwd: s.dir, stdio: ['ignore', fd, fd] });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  }).finally(() => closeSync(fd));
  try {
    await waitForGreeting(port, child, log);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  let inspector: Inspector | undefined;
  if (s.inspect) {
    const url = readFileSync(log, 'utf8').match(/Debugger listening on (ws:\/\/\S+)/)?.[1];
    if (url === undefined) throw new Error(`no inspector URL in ${log}`);
    inspector = await Inspector.connect(url);
  }
  const exited = () =>
    child.exitCode !== null
      ? `exit code ${child.exitCode}`
      : child.signalCode !== null
        ? `signal ${child.signalCode}`
        : undefined;
  return {
    pid: child.pid!,
    port,
    log,
    config: file,
    inspector,
    exited,
    async stop() {
      inspector?.close();
      if (exited() !== undefined) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** The commit moat runs from, with "+dirty" when src/ has uncommitted changes. */
export function moatRevision(repoRoot: string): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: repoRoot,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    return head + (dirty.trim() === '' ? '' : '+dirty');
  } catch {
    return 'unknown';
  }
}

/** VmRSS and VmHWM (peak) of a process, in KiB, from /proc/<pid>/status. */
export function memoryKb(pid: number): { rssKb: number; hwmKb: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(text.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN);
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
}

/** Open file descriptors of a process (sockets, mostly). */
export function fdCount(pid: number): number {
  return existsSync(`/proc/${pid}/fd`) ? readdirSync(`/proc/${pid}/fd`).length : 0;
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

/** A minimal Chrome DevTools Protocol client over the global WebSocket. */
export class Inspector {
  private readonly ws: WebSocket;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener('message', (ev) => {
      const msg = JSON.parse(String(ev.data)) as {
        id?: number;
        result?: unknown;
        error?: { message: string };
      };
      if (msg.id === undefined) return;
      const p = this.pending.get(msg.id);
      if (p === undefined) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(msg.error.message));
      else p.resolve(msg.result);
    });
    ws.addEventListener('close', () => {
      for (const p of this.pending.values()) p.reject(new Error('inspector closed'));
      this.pending.clear();
    });
  }

  static connect(url: string): Promise<Inspector> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.addEventListener('open', () => resolve(new Inspector(ws)), { once: true });
      ws.addEventListener('error', () => reject(new Error(`cannot reach the inspector at ${url}`)), {
        once: true,
      });
    });
  }

  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** A full, compacting garbage collection in the inspected process. */
  async gc(): Promise<void> {
    await this.send('HeapProfiler.collectGarbage');
  }

  /** process.memoryUsage() of the inspected process. */
  async memoryUsage(): Promise<NodeJS.MemoryUsage> {
    const r = await this.send<{ result: { value: string } }>('Runtime.evaluate', {
      expression: 'JSON.stringify(process.memoryUsage())',
      returnByValue: true,
    });
    return JSON.parse(r.result.value) as NodeJS.MemoryUsage;
  }

  /**
   * Sizes of the live Maps whose values look like host-ledger rows (`ip` and `sumConnectErrors`
   * fields): moat's HostLedger keeps its rows in one such Map. Found with Runtime.queryObjects,
   * so nothing in moat has to expose it.
   */
  async ledgerRows(): Promise<number[]> {
    const proto = await this.send<{ result: { objectId: string } }>('Runtime.evaluate', {
      expression: 'Map.prototype',
      objectGroup: 'bench',
    });
    const maps = await this.send<{ objects: { objectId: string } }>('Runtime.queryObjects', {
      prototypeObjectId: proto.result.objectId,
      objectGroup: 'bench',
    });
    const r = await this.send<{
      result: { value: number[] };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    }>('Runtime.callFunctionOn', {
      objectId: maps.objects.objectId,
      functionDeclaration: `function () {
        const out = [];
        for (const m of this) {
          try {
            if (!(m instanceof Map) || m.size === 0) continue;
            const v = m.values().next().value;
            if (v !== null && typeof v === 'object' && 'sumConnectErrors' in v && 'ip' in v) out.push(m.size);
          } catch {
            // an exotic Map (a subclass with its own iterator, a proxy): not the ledger's
          }
        }
        return out;
      }`,
      returnByValue: true,
    });
    await this.send('Runtime.releaseObjectGroup', { objectGroup: 'bench' });
    if (r.exceptionDetails !== undefined)
      throw new Error(
        `counting ledger rows failed: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`,
      );
    return r.result.value;
  }

  close(): void {
    this.ws.close();
  }
}
