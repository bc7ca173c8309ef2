// Prometheus metrics (prom-client), one registry per gateway. Counters that change per command
// are plain numbers in Maps, turned into metrics when scraped: the relay path pays one Map
// update, never a label lookup in prom-client.
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { CommandEvent, LoginRecord } from '../model/events.ts';
import { classify } from '../model/failure.ts';
import type { AdminRuntime } from './engine.ts';

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly logins = new PairCounts();
  private readonly commands = new PairCounts();
  private readonly errors = new Map<number, number>();
  private readonly findings = new PairCounts();
  private runtime: AdminRuntime | null = null;
  /** Bytes relayed by sessions already closed (live ones are added at scrape time). */
  readonly relayed = { fromClient: 0, fromBackend: 0 };
  liveBytes: () => { fromClient: number; fromBackend: number } = () => ({ fromClient: 0, fromBackend: 0 });

  constructor() {
    collectDefaultMetrics({
      register: this.registry,
      prefix: 'moat_process_',
      eventLoopMonitoringPrecision: 20,
    });
    const self = this;
    pairCounter(
      this.registry,
      'moat_logins_total',
      'Login attempts by outcome and failure class (host_cache column family)',
      ['outcome', 'class'],
      this.logins,
    );
    pairCounter(
      this.registry,
      'moat_commands_total',
      'Commands relayed, by command and status',
      ['command', 'status'],
      this.commands,
    );
    new Counter({
      name: 'moat_command_errors_total',
      help: 'Commands answered with an ERR, by MySQL error code',
      labelNames: ['code'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [code, v] of self.errors) this.inc({ code: String(code) }, v);
      },
    });
    new Counter({
      name: 'moat_relay_bytes_total',
      help: 'Bytes relayed in the command phase',
      labelNames: ['direction'],
      registers: [this.registry],
      collect() {
        this.reset();
        const live = self.liveBytes();
        this.inc({ direction: 'client_to_backend' }, self.relayed.fromClient + live.fromClient);
        this.inc({ direction: 'backend_to_client' }, self.relayed.fromBackend + live.fromBackend);
      },
    });
    pairCounter(
      this.registry,
      'moat_detections_total',
      'Detection findings by rule and severity',
      ['rule', 'severity'],
      this.findings,
    );
    new Gauge({
      name: 'moat_status',
      help: "moat's MySQL-named status counters (SHOW GLOBAL STATUS)",
      labelNames: ['name'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [name, v] of self.runtime?.status() ?? []) this.set({ name }, v);
      },
    });
    const gauge = (name: string, help: string, read: (rt: AdminRuntime) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          if (self.runtime !== null) this.set(read(self.runtime));
        },
      });
    gauge('moat_blocked_hosts', 'Hosts blocked now', (rt) => rt.guard.blocker.list(Date.now()).length);
    gauge('moat_ledger_hosts', 'Rows in the host ledger', (rt) => rt.guard.ledger.size);
    gauge('moat_sessions', 'Logged-in sessions', (rt) => rt.guard.status.Threads_connected);
    gauge(
      'moat_delayed_logins_total',
      'Logins delayed by connection control',
      (rt) => rt.guard.status.Connection_control_delay_generated,
    );
    gauge(
      'moat_failed_login_entries',
      "Connection control's user@host entries",
      (rt) => rt.guard.connectionControl.entries().length,
    );
  }

  attach(runtime: AdminRuntime): void {
    this.runtime = runtime;
  }

  login(r: LoginRecord): void {
    this.logins.inc(r.outcome, classify(r.outcome, r.errorCode) ?? 'none');
  }

  finding(rule: string, severity: string): void {
    this.findings.inc(rule, severity);
  }

  /** Per command (the relay's callback): two Map lookups, no string built. */
  command(e: CommandEvent): void {
    this.commands.inc(e.command, e.status);
    if (e.errorCode !== 0) this.errors.set(e.errorCode, (this.errors.get(e.errorCode) ?? 0) + 1);
  }
}

/** Counts by a pair of labels, kept as nested Maps so that counting builds no key string. */
class PairCounts {
  private readonly byFirst = new Map<string, Map<string, number>>();

  inc(a: string, b: string): void {
    let inner = this.byFirst.get(a);
    if (inner === undefined) {
      inner = new Map();
      this.byFirst.set(a, inner);
    }
    inner.set(b, (inner.get(b) ?? 0) + 1);
  }

  *entries(): Generator<[string, string, number]> {
    for (const [a, inner] of this.byFirst) for (const [b, n] of inner) yield [a, b, n];
  }
}

/** A Counter read from PairCounts at scrape time. */
function pairCounter(
  registry: Registry,
  name: string,
  help: string,
  labels: [string, string],
  counts: PairCounts,
): void {
  new Counter({
    name,
    help,
    labelNames: labels,
    registers: [registry],
    collect() {
      this.reset();
      for (const [a, b, n] of counts.entries()) this.inc({ [labels[0]]: a, [labels[1]]: b }, n);
    },
  });
}
