// Where syslog records go: a UDP receiver (host:port), or a unix datagram socket such as
// /dev/log. Node has no unix datagram sockets (libuv offers none), so records for a socket path
// go through util-linux's `logger`, which is in every Linux base system: one long-lived relay
// process reading one record per line (`--prio-prefix` keeps each record's facility and
// severity), writing its own RFC 5424 header (app-name moat, PROCID moat's pid).
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { connect, isIP, type Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { AuditError } from '../errors.ts';
import type { Output } from './format.ts';

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class UdpSyslogOutput implements Output {
  readonly target: string;
  private readonly host: string;
  private readonly port: number;
  private socket: UdpSocket | null = null;
  /** An ICMP error (port unreachable …) about an earlier datagram, reported on the socket. */
  private refused: Error | null = null;

  constructor(host: string, port: number) {
    this.host = host;
    this.port = port;
    this.target = `udp:${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  }

  async open(): Promise<void> {
    try {
      // Resolved once: a DNS lookup per datagram would cost more than the datagram.
      const { address, family } = isIP(this.host)
        ? { address: this.host, family: isIP(this.host) }
        : await lookup(this.host);
      const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
      // A connected UDP socket hears ICMP port-unreachable as an 'error' (ECONNREFUSED) after the
      // datagram that drew it; the next batch fails with it, not sent to a receiver known gone.
      socket.on('error', (err) => {
        this.refused = err;
      });
      await new Promise<void>((resolve) => socket.connect(this.port, address, resolve));
      socket.unref();
      this.socket = socket;
    } catch (err) {
      throw new AuditError(
        'MOAT_AUDIT_OPEN_FAILED',
        `cannot reach syslog at ${this.target}: ${message(err)}`,
        err,
      );
    }
  }

  async prepare(): Promise<void> {
    if (this.socket === null) await this.open();
  }

  async write(records: readonly string[]): Promise<void> {
    if (this.socket === null) await this.open();
    const socket = this.socket!;
    const refused = this.refused;
    if (refused !== null) {
      this.refused = null;
      throw new AuditError(
        'MOAT_AUDIT_SYSLOG_FAILED',
        `syslog at ${this.target}: ${refused.message}`,
        refused,
      );
    }
    let sent = 0;
    for (const r of records) {
      try {
        await new Promise<void>((resolve, reject) =>
          socket.send(r, (err) => (err ? reject(err) : resolve())),
        );
      } catch (err) {
        const text = `cannot send to syslog at ${this.target}: ${message(err)}`;
        throw new AuditError('MOAT_AUDIT_SYSLOG_FAILED', text, err, sent);
      }
      sent++;
    }
  }

  async rotate(): Promise<void> {}

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

/**
 * Whether a datagram receiver is bound to `path`. A stream connect to a bound datagram socket
 * fails with EPROTOTYPE; to a socket file nobody is bound to, with ECONNREFUSED; to a stream
 * listener (syslog-ng's unix-stream), it succeeds, and logger speaks that too.
 */
function probe(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve();
    });
    s.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EPROTOTYPE' ? resolve() : reject(err)));
  });
}

type Relay = ChildProcessByStdio<Writable, null, Readable>;

export class UnixSyslogOutput implements Output {
  readonly target: string;
  private readonly path: string;
  private readonly maxMessageBytes: number;
  private readonly report: (err: AuditError) => void;
  private relay: Relay | null = null;
  private closing = false;

  constructor(path: string, maxMessageBytes: number, report: (err: AuditError) => void) {
    this.path = path;
    this.maxMessageBytes = maxMessageBytes;
    this.report = report;
    this.target = `unix:${path}`;
  }

  async open(): Promise<void> {
    await this.start('MOAT_AUDIT_OPEN_FAILED');
  }

  async prepare(): Promise<void> {
    if (this.relay === null) await this.start('MOAT_AUDIT_SYSLOG_FAILED');
  }

  private async start(code: 'MOAT_AUDIT_OPEN_FAILED' | 'MOAT_AUDIT_SYSLOG_FAILED'): Promise<void> {
    try {
      await probe(this.path);
    } catch (err) {
      throw new AuditError(code, `no syslog receiver at ${this.path}: ${message(err)}`, err);
    }
    const args = ['--socket', this.path, '--socket-errors=on', '--prio-prefix', '--rfc5424=notq'];
    args.push('--tag', 'moat', `--id=${process.pid}`, '--size', String(this.maxMessageBytes));
    const relay = spawn('logger', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let said = '';
    relay.stderr.setEncoding('utf8').on('data', (d: string) => {
      said = (said + d).slice(-500);
    });
    relay.stdin.on('error', () => {}); // EPIPE: the exit below says why
    const gone = (why: string) => {
      if (this.relay === relay) this.relay = null;
      if (!this.closing) {
        const text = `the syslog relay for ${this.path} stopped: ${said.trim() || why}`;
        this.report(new AuditError('MOAT_AUDIT_SYSLOG_FAILED', text));
      }
    };
    relay.once('error', (err) => gone(`cannot run logger: ${err.message}`));
    relay.once('exit', (status, signal) => gone(`logger exited (${signal ?? status})`));
    // Never the reason the process stays up: close() ends the relay when moat stops in order.
    relay.unref();
    (relay.stdin as Socket).unref();
    (relay.stderr as Socket).unref();
    this.relay = relay;
  }

  async write(records: readonly string[]): Promise<void> {
    if (this.relay === null) await this.prepare();
    const relay = this.relay!;
    const lines = records.map((r) => `${r}\n`).join('');
    await new Promise<void>((resolve, reject) =>
      relay.stdin.write(lines, (err) =>
        err
          ? reject(
              new AuditError(
                'MOAT_AUDIT_SYSLOG_FAILED',
                `cannot pass records to logger: ${err.message}`,
                err,
              ),
            )
          : resolve(),
      ),
    );
  }

  async rotate(): Promise<void> {}

  async close(): Promise<void> {
    this.closing = true;
    const relay = this.relay;
    this.relay = null;
    if (relay === null || relay.exitCode !== null || relay.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => relay.once('exit', () => resolve()));
    relay.stdin.end();
    const timer = setTimeout(() => relay.kill(), 2000);
    await exited;
    clearTimeout(timer);
  }
}
