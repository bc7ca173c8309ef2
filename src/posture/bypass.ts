// Bypass: does the server answer on addresses other than moat's path? Read from @@skip_networking,
// @@bind_address and @@port, and tried for real: a login attempt from this host to each of its
// non-loopback addresses on the server's port. A connection to a local address travels over the
// loopback interface, so a firewall rule on eth0 does not stop these probes; bind-address and
// skip-networking do, which is why they are the fixes offered for a server on this host.
import { isIP } from 'node:net';
import { BackendError } from '../client/backend.ts';
import { formatEndpoint } from '../net/endpoint.ts';
import { type Credentials, connectSql, SqlError } from './client.ts';
import type { BackendPath, CheckContext } from './context.ts';
import type { ServerFacts } from './facts.ts';
import { type Finding, type FixKind, passed } from './finding.ts';
import { isLoopbackPattern } from './hosts.ts';

export interface ProbeResult {
  address: string;
  port: number;
  /** answered: something spoke the MySQL protocol (a greeting or an ERR in its place). */
  outcome: 'answered' | 'refused' | 'silent';
  detail: string;
}

const where = (address: string, port: number): string => formatEndpoint({ kind: 'tcp', host: address, port });

/**
 * One login attempt on address:port, finished either way (a greeting left unanswered would count
 * against this host on the server). The credentials are only ever sent as a scramble.
 */
export async function probe(
  address: string,
  port: number,
  account: Credentials,
  timeoutMs: number,
): Promise<ProbeResult> {
  const target = {
    endpoint: { kind: 'tcp' as const, host: address, port },
    connectTimeoutMs: timeoutMs,
    tls: { mode: 'off' as const },
    maxPacketSize: 1 << 20,
  };
  try {
    const c = await connectSql(target, {}, account);
    c.close();
    return {
      address,
      port,
      outcome: 'answered',
      detail: `${c.greeting.serverVersion}; the check account logged in`,
    };
  } catch (e) {
    return { address, port, ...classify(e, timeoutMs) };
  }
}

function classify(e: unknown, timeoutMs: number): Pick<ProbeResult, 'outcome' | 'detail'> {
  if (e instanceof SqlError) return { outcome: 'answered', detail: `answered; login refused: ${e.message}` };
  if (e instanceof BackendError) {
    // An ERR in place of the greeting (1130 host not allowed, 1129 blocked) is still the server.
    const err = e.serverError;
    if (err !== null) return { outcome: 'answered', detail: `answered with ${err.code} ${err.message}` };
    // For an unreachable backend the reason is the socket error code (ECONNREFUSED).
    const code = e.reason;
    if (code === 'ECONNREFUSED') return { outcome: 'refused', detail: 'connection refused' };
    if (e.code === 'MOAT_BACKEND_TIMEOUT' && e.reason.startsWith('connect timed out'))
      return { outcome: 'silent', detail: `no answer within ${timeoutMs} ms` };
    if (/^E(HOST|NET)UNREACH$|^EADDRNOTAVAIL$|^EINVAL$/.test(code))
      return { outcome: 'silent', detail: code };
  }
  // Connected, then something other than a clean MySQL exchange: still a door.
  return { outcome: 'answered', detail: `connected: ${(e as Error).message}` };
}

export function probeAll(
  addresses: readonly string[],
  port: number,
  account: Credentials,
  timeoutMs: number,
): Promise<ProbeResult[]> {
  return Promise.all(addresses.map((a) => probe(a, port, account, timeoutMs)));
}

const WIDE_BINDS = new Set(['', '*', '0.0.0.0', '::']);

/** The bind addresses MariaDB 10.11+ (a comma-separated list) and MySQL 8 report. */
export function bindAddresses(facts: ServerFacts): string[] {
  const v = facts.variables.get('bind_address') ?? '';
  return v.split(',').map((s) => s.trim());
}

export function networking(facts: ServerFacts): boolean {
  return (facts.variables.get('skip_networking') ?? 'OFF') !== 'ON';
}

/** The fix that closes the door while keeping moat's own path open. */
function primaryFix(path: BackendPath): { fix: string; fixKind: FixKind; how: string } {
  switch (path.kind) {
    case 'unix':
      return {
        fix: 'skip-networking',
        fixKind: 'option',
        how: 'moat reaches the server over its unix socket, so the server needs no TCP port at all.',
      };
    case 'loopback': {
      const lo = isIP(path.host) === 6 ? '::1' : '127.0.0.1';
      return {
        fix: `bind-address=${lo}`,
        fixKind: 'option',
        how: `moat reaches the server over loopback; skip-networking with backend.address: unix:<socket> closes TCP altogether.`,
      };
    }
    case 'local':
      return {
        fix: 'bind-address=127.0.0.1',
        fixKind: 'option',
        how: `moat connects to ${path.host}, an address other hosts reach too: bind to loopback and set backend.address: 127.0.0.1:${path.port} in moat.`,
      };
    case 'remote':
      return {
        fix: `bind-address=${path.host}`,
        fixKind: 'option',
        how: 'the server is on another host: listen only on the address moat uses, and admit only moat there (bypass.firewall).',
      };
  }
}

export function bypassFindings(
  facts: ServerFacts,
  ctx: CheckContext,
  probes: readonly ProbeResult[] | null,
): Finding[] {
  const port = facts.variables.get('port') ?? '?';
  const out: Finding[] = [];
  const net = networking(facts);
  const binds = bindAddresses(facts);
  const seen = `skip_networking=${net ? 'OFF' : 'ON'}, bind_address=${binds.join(',') || "''"}, port=${port}`;
  const area = 'bypass' as const;
  const fix = primaryFix(ctx.path);
  if (!net) {
    out.push(passed({ id: 'bypass.bind-address', area, subject: 'server', seen: `${seen}: no TCP port` }));
  } else {
    const wide = binds.some((b) => WIDE_BINDS.has(b));
    const open = binds.filter(
      (b) => !isLoopbackPattern(b) && !(ctx.path.kind === 'remote' && b === ctx.path.host),
    );
    if (!wide && open.length === 0) {
      out.push(
        passed({ id: 'bypass.bind-address', area, subject: 'server', seen: `${seen}: only moat's path` }),
      );
    } else {
      out.push({
        id: 'bypass.bind-address',
        area,
        severity: ctx.path.kind === 'remote' ? 'warn' : 'fail',
        subject: 'server',
        seen: `${seen}: ${wide ? 'every address of the host' : open.join(', ')}`,
        why: `Clients that reach the server directly skip every check moat makes (address rules, blocking, audit); ${fix.how}${ctx.path.kind === 'remote' ? '' : loopbackFirewall(port)}`,
        fix: fix.fix,
        fixKind: fix.fixKind,
      });
    }
  }
  if (ctx.path.kind === 'remote') {
    out.push(firewallFinding(ctx, port));
  } else if (probes === null || !net) {
    out.push(
      passed({ id: 'bypass.reachable', area, subject: 'this host', seen: `${seen}: nothing to probe` }),
    );
  } else if (probes.length === 0) {
    out.push(
      passed({
        id: 'bypass.reachable',
        area,
        subject: 'this host',
        seen: 'this host has no non-loopback address',
      }),
    );
  } else {
    for (const p of probes) {
      const subject = where(p.address, p.port);
      if (p.outcome !== 'answered') {
        out.push(passed({ id: 'bypass.reachable', area, subject, seen: p.detail }));
        continue;
      }
      out.push({
        id: 'bypass.reachable',
        area,
        severity: 'fail',
        subject,
        seen: p.detail,
        why: `Anyone who can reach ${p.address} talks to the server without moat; ${fix.how}`,
        fix: fix.fix,
        fixKind: fix.fixKind,
      });
    }
  }
  return out;
}

/** The firewall alternative for a server on this host, and why this check cannot confirm it. */
function loopbackFirewall(port: string): string {
  return ` A firewall rule admitting only this host (nft add rule inet filter input iif != "lo" tcp dport ${port} drop) also closes the door, but this check's own probes travel over loopback and keep reporting it open.`;
}

/**
 * A server on another host cannot be probed from here the way other hosts see it: only a firewall
 * on that host admitting moat alone closes the door, and it is offered as a reminder.
 */
function firewallFinding(ctx: CheckContext, port: string): Finding {
  const moat = ctx.moatHost;
  const family = isIP(moat) === 6 ? 'ip6' : 'ip';
  const other = family === 'ip' ? 'ipv6' : 'ipv4';
  return {
    id: 'bypass.firewall',
    area: 'bypass',
    severity: 'warn',
    subject: where(ctx.path.kind === 'remote' ? ctx.path.host : '?', Number(port)),
    seen: `the server is on another host; whether hosts other than moat (${moat}) reach port ${port} cannot be seen from here`,
    why: 'Clients that reach the server directly skip every check moat makes. Run these on the database host (they assume the usual inet filter table with an input chain).',
    fix:
      `nft add rule inet filter input tcp dport ${port} ${family} saddr != ${moat} drop\n` +
      `nft add rule inet filter input meta nfproto ${other} tcp dport ${port} drop`,
    fixKind: 'firewall',
  };
}
