// moat itself, from its configuration: admin listeners reachable from a network, TLS on the client
// and backend legs (versions, and certificate expiry in certs.ts), and address rules that allow
// everything on a listener other hosts can reach. Fixes are lines of moat's YAML configuration.

import { isLoopback } from '../model/address.ts';
import { type Endpoint, formatEndpoint } from '../net/endpoint.ts';
import { certificateFindings } from './certs.ts';
import type { CheckContext } from './context.ts';
import type { ServerFacts } from './facts.ts';
import { type Finding, passed } from './finding.ts';
import { ALL_IPV4, ALL_IPV6, verdictOver } from './hosts.ts';

const on = (v: string | null | undefined): boolean => v === 'ON' || v === '1';
const exposed = (e: Endpoint): boolean => e.kind === 'tcp' && !isLoopback(e.host);

export function moatFindings(ctx: CheckContext, facts: ServerFacts): Finding[] {
  const c = ctx.config;
  const out: Finding[] = [];
  const area = 'moat' as const;

  const admin = formatEndpoint(c.admin.listen);
  if (c.admin.users.length === 0 || !exposed(c.admin.listen)) {
    const seen = c.admin.users.length === 0 ? 'off (no admin.users)' : `${admin} (this host only)`;
    out.push(passed({ id: 'moat.admin-listener', area, subject: 'admin.listen', seen }));
  } else {
    const allowFrom = {
      default: 'deny' as const,
      rules: [{ action: 'allow' as const, from: c.admin.allowFrom }],
    };
    const everyone = [ALL_IPV4, ALL_IPV6].some((r) => verdictOver(allowFrom, r) === 'allow');
    out.push({
      id: 'moat.admin-listener',
      area,
      severity: everyone ? 'fail' : 'warn',
      subject: 'admin.listen',
      seen: `${admin}, allowFrom ${c.admin.allowFrom.join(', ')}`,
      why: 'The admin port can unblock hosts, change the guard and read every session: it belongs on loopback (use an SSH tunnel), or at least behind allowFrom networks of operators only.',
      fix: 'admin.listen: 127.0.0.1:6033',
      fixKind: 'config',
    });
  }

  const http = formatEndpoint(c.admin.http.listen);
  const httpOn = c.admin.http.tokenSha256 !== undefined || c.admin.http.tokens.length > 0;
  if (!httpOn || !exposed(c.admin.http.listen)) {
    const seen = !httpOn ? 'off (no admin.http.tokenSha256)' : `${http} (this host only)`;
    out.push(passed({ id: 'moat.http-listener', area, subject: 'admin.http.listen', seen }));
  } else {
    out.push({
      id: 'moat.http-listener',
      area,
      severity: 'fail',
      subject: 'admin.http.listen',
      seen: `${http}, plain HTTP`,
      why: 'The HTTP API is plain HTTP with a bearer token and no address filter: the token crosses the network in clear and anyone who sees it can unblock hosts. Keep it on loopback behind a TLS reverse proxy or an SSH tunnel.',
      fix: 'admin.http.listen: 127.0.0.1:6034',
      fixKind: 'config',
    });
  }

  const open = c.listeners.filter((l) => exposed(l.address)).map((l) => formatEndpoint(l.address));
  const versions = `TLS ${c.tls.minVersion}+ to clients, TLSv1.2+ to the backend`;
  if (open.length === 0) {
    out.push(
      passed({
        id: 'moat.client-tls',
        area,
        subject: 'tls',
        seen: `listeners on this host only; ${versions}`,
      }),
    );
  } else if (!c.tls.enabled || !c.tls.require) {
    out.push({
      id: 'moat.client-tls',
      area,
      severity: c.tls.enabled ? 'warn' : 'fail',
      subject: 'tls',
      seen: `${open.join(', ')} reachable from the network; TLS ${c.tls.enabled ? 'offered, not required' : 'off'}`,
      why: 'Logins and sessions from other hosts may cross the network in clear; a sniffed mysql_native_password login is enough to crack the password offline.',
      fix: c.tls.enabled ? 'tls.require: true' : 'tls.enabled: true\ntls.require: true',
      fixKind: 'config',
    });
  } else {
    out.push(
      passed({
        id: 'moat.client-tls',
        area,
        subject: 'tls',
        seen: `required on ${open.join(', ')}; ${versions}`,
      }),
    );
  }

  const b = c.backend;
  const remote = ctx.path.kind === 'remote';
  // MariaDB and MySQL count a unix socket as secure transport, plain TCP (even loopback) not.
  const refused =
    on(facts.variables.get('require_secure_transport')) && b.address.kind === 'tcp' && b.tls.mode === 'off';
  if (refused) {
    out.push({
      id: 'moat.backend-tls',
      area,
      severity: 'fail',
      subject: 'backend.tls',
      seen: `backend ${formatEndpoint(b.address)} over plain TCP, the server has require_secure_transport=ON`,
      why: 'The server refuses every login moat relays over plain TCP.',
      fix: 'backend.tls.mode: require',
      fixKind: 'config',
    });
  } else if (!remote || b.tls.mode === 'verify') {
    const seen = remote
      ? `TLS verified against ${b.tls.ca}`
      : `the backend leg stays on this host (${formatEndpoint(b.address)})`;
    out.push(passed({ id: 'moat.backend-tls', area, subject: 'backend.tls', seen }));
  } else {
    out.push({
      id: 'moat.backend-tls',
      area,
      severity: b.tls.mode === 'off' ? 'fail' : 'warn',
      subject: 'backend.tls',
      seen: `backend ${formatEndpoint(b.address)} on another host, backend.tls.mode: ${b.tls.mode}`,
      why:
        b.tls.mode === 'off'
          ? 'Every session crosses the network between moat and the server in clear.'
          : "TLS without verifying the server's certificate: whoever sits between moat and the server can pose as it.",
      fix: `backend.tls.mode: verify\nbackend.tls.ca: <the CA that signed the server's certificate>`,
      fixKind: 'config',
    });
  }

  c.listeners.forEach((l, i) => {
    if (!exposed(l.address)) return;
    const subject = `listener ${formatEndpoint(l.address)}`;
    const policy = l.access ?? c.guard.access;
    const key = l.access !== undefined ? `listeners.${i}.access` : 'guard.access';
    // A wildcard listener on :: takes IPv4 clients too.
    const host = l.address.kind === 'tcp' ? l.address.host : '';
    const ranges = host === '::' ? [ALL_IPV4, ALL_IPV6] : host.includes(':') ? [ALL_IPV6] : [ALL_IPV4];
    if (ranges.every((r) => verdictOver(policy, r) === 'allow')) {
      out.push({
        id: 'moat.access',
        area,
        severity: 'warn',
        subject,
        seen: `${key} allows every address (default ${policy.default}, ${policy.rules.length} rules)`,
        why: 'Every host that reaches this listener may try to log in; address rules that admit only your client networks stop scanners and guessers before they cost anything.',
        fix: `${key}: { default: deny, rules: [ { allow: [<your client networks>] } ] }`,
        fixKind: 'config',
      });
    } else {
      out.push(
        passed({
          id: 'moat.access',
          area,
          subject,
          seen: `${key}: default ${policy.default}, ${policy.rules.length} rules`,
        }),
      );
    }
  });
  if (!out.some((f) => f.id === 'moat.access')) {
    out.push(
      passed({
        id: 'moat.access',
        area,
        subject: 'listeners',
        seen: 'no listener reachable from the network',
      }),
    );
  }

  out.push(...certificateFindings(ctx, facts.peerCertificate));
  return out;
}
