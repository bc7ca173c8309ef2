// Prometheus metrics (prom-client), one registry per gateway. Counters that change per command
// are plain numbers in Maps, turned into metrics when scraped: the relay path pays one Map
// update, never a label lookup in prom-client.
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { LoginRecord } from '../gateway/context.ts';
import type { CommandEvent } from '../gateway/events.ts';
import { classify } from '../guard/failure.ts';
import type { AdminRuntime } from './engine.ts';

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly logins = new Map<string, number>();
  private readonly commands = new Map<string, number>();
  private readonly errors = new Map<number, number>();
  private readonly findings = new Map<string, number>();
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
    new Counter({
      name: 'moat_logins_total',
      help: 'Login attempts by outcome and failure class (host_cache column family)',
      labelNames: ['outcome', 'class'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [k, v] of self.logins) {
          const [outcome, cls] = k.split('|') as [string, string];
          this.inc({ outcome, class: cls }, v);
        }
      },
    });
    new Counter({
      name: 'moat_commands_total',
      help: 'Commands relayed, by command and status',
      labelNames: ['command', 'status'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [k, v] of self.commands) {
          const [command, status] = k.split('|') as [string, string];
          this.inc({ command, status }, v);
        }
      },
    });
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
    new Counter({
      name: 'moat_detections_total',
      help: 'Detection findings by rule and severity',
      labelNames: ['rule', 'severity'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [k, v] of self.findings) {
          const [rule, severity] = k.split('|') as [string, string];
          this.inc({ rule, severity }, v);
        }
      },
    });
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
    const cls = classify(r.outcome, r.errorCode) ?? 'none';
    const k = `${r.outcome}|${cls}`;
    this.logins.set(k, (this.logins.get(k) ?? 0) + 1);
  }

  finding(rule: string, severity: string): void {
    const k = `${rule}|${severity}`;
    this.findings.set(k, (this.findings.get(k) ?? 0) + 1);
  }

  command(e: CommandEvent): void {
    const k = `${e.command}|${e.status}`;
    this.commands.set(k, (this.commands.get(k) ?? 0) + 1);
    if (e.errorCode !== 0) this.errors.set(e.errorCode, (this.errors.get(e.errorCode) ?? 0) + 1);
  }
}
