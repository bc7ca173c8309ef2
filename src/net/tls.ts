// TLS material for the client leg: configured PEM files, or (like MySQL 8's auto-generated
// certificates) a self-signed ECDSA P-256 pair created in the state directory at first start.
// ECDSA because a TLS handshake with it costs a fraction of RSA-2048's, which bounds connection rate.

import { webcrypto, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { createSecureContext, type SecureContext, TLSSocket } from 'node:tls';
import { ProtocolError } from '../protocol/errors.ts';
import { errnoText } from '../state/state-dir.ts';
import type { PacketChannel } from './channel.ts';

/**
 * The suites moat offers (client leg) and asks for (backend leg) unless `tls.ciphers` says
 * otherwise. TLS 1.2: only ECDHE key exchange (forward secrecy) with AEAD ciphers (AES-GCM,
 * ChaCha20-Poly1305) — Node's default list also admits CBC suites with SHA-1/SHA-256 MACs
 * (ECDHE-RSA-AES128-SHA …): MAC-then-encrypt, the construction Lucky13-style padding oracles
 * attack, which Mozilla's "intermediate" server profile leaves out for the same reason.
 * TLS 1.3: Node's default suites, all of them AEAD with forward secrecy by design.
 */
export const TLS_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export interface ServerTlsOptions {
  cert?: string | undefined;
  key?: string | undefined;
  ca?: string | undefined;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  ciphers?: string | undefined;
  stateDir: string;
}

export interface ServerTls {
  context: SecureContext;
  /** Clients are asked for a certificate (a CA is configured). */
  requestCert: boolean;
  certPath: string;
  generated: boolean;
  /** The configured client CA(s), to verify client certificates with (see clientCertVerified). */
  caCerts: X509Certificate[];
}

/**
 * Whether the client's certificate was issued by a configured CA and is within its validity
 * period. A TLSSocket wrapped by hand (moat upgrades after the SSLRequest, not in a tls.Server)
 * never sets `authorized`, so moat checks the certificate itself: the signature against each CA's
 * public key, the issuer name, and the dates. Chains through intermediates are not followed.
 */
export function clientCertVerified(secure: TLSSocket, tls: ServerTls, now = Date.now()): boolean {
  if (secure.authorized) return true;
  const raw = secure.getPeerCertificate().raw;
  if (raw === undefined || tls.caCerts.length === 0) return false;
  const cert = new X509Certificate(raw);
  if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) return false;
  return tls.caCerts.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
}

export async function loadServerTls(o: ServerTlsOptions): Promise<ServerTls> {
  let certPath = o.cert;
  let keyPath = o.key;
  let generated = false;
  if (certPath === undefined || keyPath === undefined) {
    const dir = join(o.stateDir, 'tls');
    certPath = join(dir, 'server-cert.pem');
    keyPath = join(dir, 'server-key.pem');
    if (!existsSync(certPath) || !existsSync(keyPath)) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const pair = await generateSelfSigned('moat_Auto_Generated_Server_Certificate');
      // 0600 both, whatever the umask: nothing in the state directory is for other users.
      for (const [path, pem] of [
        [keyPath, pair.key],
        [certPath, pair.cert],
      ] as const) {
        writeFileSync(path, pem, { mode: 0o600 });
        chmodSync(path, 0o600);
      }
      generated = true;
    }
  }
  const cert = readTlsFile('tls.cert', certPath);
  const key = readTlsFile('tls.key', keyPath);
  const ca = o.ca === undefined ? undefined : readTlsFile('tls.ca', o.ca);
  let context: SecureContext;
  try {
    context = createSecureContext({
      cert,
      key,
      ca,
      minVersion: o.minVersion,
      ciphers: o.ciphers ?? TLS_CIPHERS,
      // The server's order, not the client's: an old client listing a weaker suite first still gets
      // the strongest one both sides have.
      honorCipherOrder: true,
      // One session cache per process: resumed handshakes skip the expensive key exchange.
      sessionIdContext: 'moat',
    });
  } catch (e) {
    // OpenSSL's words ("PEM routines::no start line", "key values mismatch"), with the files named.
    const used = [`certificate ${certPath}`, `key ${keyPath}`];
    if (o.ca !== undefined) used.push(`CA ${o.ca}`);
    if (o.ciphers !== undefined) used.push(`tls.ciphers '${o.ciphers}'`);
    const why = (e as Error).message.replace(/^error:[0-9A-F]+:/, '');
    throw new TlsFilesError(`client TLS: cannot use ${used.join(' with ')}: ${why}`);
  }
  const caCerts =
    ca === undefined
      ? []
      : (
          ca.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []
        ).map((pem) => new X509Certificate(pem));
  return { context, requestCert: o.ca !== undefined, certPath, generated, caCerts };
}

function readTlsFile(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new TlsFilesError(`${key}: cannot read ${path}: ${errnoText(e)}`);
  }
}

/** A configured certificate, key or CA file that cannot be read or used. */
export class TlsFilesError extends Error {
  readonly code = 'MOAT_TLS_FILES';
}

/** A self-signed ECDSA P-256 certificate, valid ten years (MySQL's auto-generated ones are too). */
export async function generateSelfSigned(commonName: string): Promise<{ cert: string; key: string }> {
  // @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: webcrypto
      .getRandomValues(new Uint8Array(8))
      .reduce((s, b) => s + b.toString(16).padStart(2, '0'), '01'),
    name: `CN=${commonName}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 10 * 365 * 86_400_000),
    keys,
    signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd()}\n-----END PRIVATE KEY-----\n`;
  return { cert: cert.toString('pem'), key };
}

/**
 * The server side of an SSLRequest: the raw socket becomes a TLSSocket and the channel reads
 * from it. Bytes that came with the SSLRequest (the ClientHello, often) are put back first. Rejects
 * with the handshake's error, or when the client leaves during it.
 */
export async function acceptTls(channel: PacketChannel, raw: Socket, tls: ServerTls): Promise<TLSSocket> {
  const { leftover, partial } = channel.detach();
  if (partial) throw new ProtocolError('MOAT_PACKET_OUT_OF_ORDER', 'data after SSLRequest before TLS');
  if (leftover !== null) raw.unshift(leftover);
  const secure = new TLSSocket(raw, {
    isServer: true,
    secureContext: tls.context,
    requestCert: tls.requestCert,
    rejectUnauthorized: false,
  });
  await new Promise<void>((resolve, reject) => {
    secure.once('secure', resolve);
    secure.once('error', (e) => reject(new TlsHandshakeError(`TLS handshake failed: ${e.message}`)));
    secure.once('close', () => reject(new TlsHandshakeError('client closed during the TLS handshake')));
  });
  secure.removeAllListeners('error');
  secure.removeAllListeners('close');
  channel.reattach(secure);
  return secure;
}

export class TlsHandshakeError extends Error {
  readonly code = 'MOAT_TLS_HANDSHAKE';
}
