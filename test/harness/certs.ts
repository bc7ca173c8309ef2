// Test certificates made at test time with the openssl CLI: a CA, a server certificate and a client
// certificate signed by it. ECDSA P-256 keys, because TLS handshakes with them are several times
// cheaper than with RSA-2048 (the proxy's own listener uses the same helper).
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Certs {
  dir: string;
  /** CA certificate (PEM path): what clients and servers trust. */
  ca: string;
  caKey: string;
  /** CN=localhost, SAN IP:127.0.0.1 and DNS:localhost. */
  serverCert: string;
  serverKey: string;
  /** A client certificate signed by the same CA, for REQUIRE X509 / SUBJECT / ISSUER. */
  clientCert: string;
  clientKey: string;
  /** Subjects in MySQL's `REQUIRE SUBJECT '...'` / `ISSUER '...'` form. */
  caSubject: string;
  serverSubject: string;
  clientSubject: string;
}

export interface GenerateCertsOptions {
  /** Common name of the server certificate (default localhost). */
  serverName?: string;
  /** subjectAltName entries of the server certificate. */
  serverAltNames?: string[];
  /** Common name of the client certificate. */
  clientName?: string;
  days?: number;
}

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc'];

/**
 * Writes ca.pem/ca.key, server.pem/server.key and client.pem/client.key into dir.
 * Three openssl runs: OpenSSL 3's `req -x509 -CA` makes and signs a leaf in one step.
 */
export async function generateCerts(dir: string, opts: GenerateCertsOptions = {}): Promise<Certs> {
  await mkdir(dir, { recursive: true });
  const days = String(opts.days ?? 30);
  const serverName = opts.serverName ?? 'localhost';
  const altNames = opts.serverAltNames ?? ['IP:127.0.0.1', 'DNS:localhost'];
  const clientName = opts.clientName ?? 'moat test client';
  const caSubject = '/O=moat test/CN=moat test CA';
  const serverSubject = `/O=moat test/CN=${serverName}`;
  const clientSubject = `/O=moat test/CN=${clientName}`;
  const p = (name: string): string => join(dir, name);

  await openssl([
    ...['req', '-x509', ...KEY_ARGS, '-keyout', p('ca.key'), '-out', p('ca.pem')],
    ...['-subj', caSubject, '-days', days],
    ...['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
  ]);
  const leaf = (name: string, subject: string, ext: string[]): Promise<void> =>
    openssl([
      ...['req', '-x509', ...KEY_ARGS, '-keyout', p(`${name}.key`), '-out', p(`${name}.pem`)],
      ...['-subj', subject, '-days', days, '-CA', p('ca.pem'), '-CAkey', p('ca.key')],
      ...['-addext', 'basicConstraints=critical,CA:FALSE'],
      ...ext.flatMap((e) => ['-addext', e]),
    ]);
  await Promise.all([
    leaf('server', serverSubject, [
      `subjectAltName=${altNames.join(',')}`,
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
    ]),
    leaf('client', clientSubject, ['keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth']),
  ]);
  return {
    dir,
    ca: p('ca.pem'),
    caKey: p('ca.key'),
    serverCert: p('server.pem'),
    serverKey: p('server.key'),
    clientCert: p('client.pem'),
    clientKey: p('client.key'),
    caSubject,
    serverSubject,
    clientSubject,
  };
}

/** Reads the PEM files of a Certs for Node's tls options. */
export async function readCerts(
  certs: Certs,
): Promise<{ ca: Buffer; serverCert: Buffer; serverKey: Buffer; clientCert: Buffer; clientKey: Buffer }> {
  const [ca, serverCert, serverKey, clientCert, clientKey] = await Promise.all(
    [certs.ca, certs.serverCert, certs.serverKey, certs.clientCert, certs.clientKey].map((f) => readFile(f)),
  );
  return {
    ca: ca!,
    serverCert: serverCert!,
    serverKey: serverKey!,
    clientCert: clientCert!,
    clientKey: clientKey!,
  };
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args.slice(0, 2).join(' ')} failed: ${stderr.trim() || String(err)}`);
  }
}
