// Starts moat in the test process (a Moat on port 0) in front of the harness's MariaDB, and
// records what it reports: the command events and login outcomes the tests assert on.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Moat } from '../../src/app/moat.ts';
import { mergeConfig, validateConfig } from '../../src/config/load.ts';
import type { CommandEvent, LoginRecord } from '../../src/model/events.ts';
import type { MariaDBInfo } from './mariadb.ts';

export interface RunningMoat {
  gateway: Moat;
  host: string;
  port: number;
  events: CommandEvent[];
  logins: LoginRecord[];
  stateDir: string;
  /** Resolves once an event matching `pred` arrives (events are emitted after responses end). */
  waitForEvent(pred: (e: CommandEvent) => boolean, timeoutMs?: number): Promise<CommandEvent>;
  waitForLogin(pred: (r: LoginRecord) => boolean, timeoutMs?: number): Promise<LoginRecord>;
  stop(): Promise<void>;
}

/**
 * `overrides` is merged onto: listener 127.0.0.1:0, backend = the harness server over TCP,
 * client TLS with the harness's CA-signed server certificate (SAN 127.0.0.1, localhost).
 */
export async function startMoat(
  backend: MariaDBInfo,
  overrides: Record<string, unknown> = {},
): Promise<RunningMoat> {
  const stateDir = mkdtempSync(join(tmpdir(), 'moat-state-'));
  const base = {
    listeners: [{ address: '127.0.0.1:0' }],
    backend: { address: `${backend.host}:${backend.port}` },
    tls: { cert: backend.certs.serverCert, key: backend.certs.serverKey },
    stateDir,
    log: { level: process.env.MOAT_TEST_LOG ?? 'silent' },
    shutdownTimeoutMs: 2000,
  };
  const config = validateConfig(mergeConfig(base, overrides), 'test');
  const events: CommandEvent[] = [];
  const logins: LoginRecord[] = [];
  const waiters: Array<() => void> = [];
  const notify = () => {
    for (const w of waiters.splice(0)) w();
  };
  const log = pino({ level: config.log.level });
  const gateway = new Moat(config, log, {
    onCommand: (e) => {
      events.push(e);
      notify();
    },
    onLogin: (r) => {
      logins.push(r);
      notify();
    },
  });
  await gateway.start();
  const addr = gateway.addresses()[0];
  if (addr === undefined || addr.kind !== 'tcp') throw new Error('first listener must be TCP');
  const waitFor = <T>(list: T[], pred: (x: T) => boolean, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      const check = () => {
        const hit = list.find(pred);
        if (hit !== undefined) {
          clearTimeout(timer);
          resolve(hit);
        } else waiters.push(check);
      };
      check();
    });
  return {
    gateway,
    host: addr.host,
    port: addr.port,
    events,
    logins,
    stateDir,
    waitForEvent: (pred, timeoutMs = 5000) => waitFor(events, pred, timeoutMs, 'a command event'),
    waitForLogin: (pred, timeoutMs = 5000) => waitFor(logins, pred, timeoutMs, 'a login record'),
    stop: async () => {
      await gateway.stop(500);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
