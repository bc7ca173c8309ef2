// Certificate expiry on both legs: the PEM files moat's configuration names (or the pair moat
// generated in its state directory), and the certificate the server presented to the check's
// own TLS connection. A file holding a chain is judged by its first certificate to expire.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckContext } from './context.ts';
import { type Finding, passed } from './finding.ts';

const DAY = 86_400_000;
const PEM = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

interface CertSource {
  /** Where it is named: a config key, or the server. */
  key: string;
  path: string | null;
  cert?: X509Certificate;
  /** The fix for an expiring certificate. */
  fix: string;
  fixKind: Finding['fixKind'];
}

function sources(ctx: CheckContext, peer: X509Certificate | null): CertSource[] {
  const c = ctx.config;
  const out: CertSource[] = [];
  const file = (key: string, path: string | undefined, also = '') => {
    if (path !== undefined)
      out.push({ key, path, fix: `${key}: <renewed certificate file>${also}`, fixKind: 'config' });
  };
  if (c.tls.enabled) {
    if (c.tls.cert !== undefined) file('tls.cert', c.tls.cert, '\ntls.key: <its key file>');
    else {
      // moat's generated pair: deleting it makes moat generate a new one at the next start.
      const dir = join(c.stateDir, 'tls');
      const path = join(dir, 'server-cert.pem');
      if (existsSync(path)) {
        out.push({
          key: 'generated certificate',
          path,
          fix: `delete ${path} and ${join(dir, 'server-key.pem')}; moat generates a new pair at start`,
          fixKind: 'config',
        });
      }
    }
    file('tls.ca', c.tls.ca);
  }
  if (c.backend.tls.mode !== 'off') {
    file('backend.tls.ca', c.backend.tls.ca);
    file('backend.tls.cert', c.backend.tls.cert, '\nbackend.tls.key: <its key file>');
  }
  if (peer !== null) {
    out.push({
      key: "the server's certificate",
      path: null,
      cert: peer,
      fix: 'ssl-cert=<renewed certificate file>\nssl-key=<its key file>',
      fixKind: 'option',
    });
  }
  return out;
}

export function certificateFindings(ctx: CheckContext, peer: X509Certificate | null): Finding[] {
  const out: Finding[] = [];
  for (const s of sources(ctx, peer)) {
    const subject = s.path === null ? s.key : `${s.key} ${s.path}`;
    let certs: X509Certificate[];
    try {
      certs =
        s.cert !== undefined
          ? [s.cert]
          : (readFileSync(s.path!, 'utf8').match(PEM) ?? []).map((p) => new X509Certificate(p));
    } catch (e) {
      out.push({
        id: 'moat.certificate',
        area: 'moat',
        severity: 'fail',
        subject,
        seen: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        why: 'moat cannot start, or cannot reach the backend, with a certificate it cannot read.',
        fix: s.fix,
        fixKind: s.fixKind,
      });
      continue;
    }
    if (certs.length === 0) {
      out.push({
        id: 'moat.certificate',
        area: 'moat',
        severity: 'fail',
        subject,
        seen: 'no PEM certificate in the file',
        why: 'moat cannot use a certificate file without a certificate.',
        fix: s.fix,
        fixKind: s.fixKind,
      });
      continue;
    }
    const first = certs.reduce((a, b) => (Date.parse(b.validTo) < Date.parse(a.validTo) ? b : a));
    const end = Date.parse(first.validTo);
    const days = Math.floor((end - ctx.now) / DAY);
    const notYet = Date.parse(first.validFrom) > ctx.now;
    const when = new Date(end).toISOString().slice(0, 10);
    const seen =
      end < ctx.now
        ? `expired ${when}`
        : notYet
          ? `not valid before ${first.validFrom}`
          : `expires ${when} (in ${days} days)`;
    if (end >= ctx.now && !notYet && days >= ctx.certWarnDays) {
      out.push(passed({ id: 'moat.certificate', area: 'moat', subject, seen }));
      continue;
    }
    out.push({
      id: 'moat.certificate',
      area: 'moat',
      severity: end < ctx.now || notYet ? 'fail' : 'warn',
      subject,
      seen,
      why:
        end < ctx.now || notYet
          ? 'Clients and servers that verify certificates refuse this one: TLS logins fail.'
          : `It expires within ${ctx.certWarnDays} days; after that, TLS logins that verify it fail.`,
      fix: s.fix,
      fixKind: s.fixKind,
    });
  }
  return out;
}
