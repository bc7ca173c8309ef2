// The HTTP side of the admin interface: a JSON API (hosts, blocked, sessions, failed logins,
// status, outcomes; block / unblock / flush-hosts), Prometheus /metrics, and the dashboard page.
// Every request carries `Authorization: Bearer <token>`; only the token's SHA-256 is configured,
// compared in constant time. Loopback by default; off until a token hash is configured. Tokens
// have a scope (admin, or readonly: GET only, 403 for every POST). Requests that need a token pass
// the admin guard (guard.ts) as an admin-port login does, under the user name `http`: a blocked
// address gets 403 with MySQL's 1129 text, repeated rejected tokens a delay before the token is
// looked at, and every rejected token is a Connect record with status 1045 (fail2ban reads it).
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import {
  type ClientAddress,
  InvalidAddressError,
  normalizeAddress,
  parseClientAddress,
} from '../model/address.ts';
import { bindServer } from '../net/bind.ts';
import { type Endpoint, formatEndpoint } from '../net/endpoint.ts';
import { POSTURE_OFF } from '../posture/runner.ts';
import { FleetUnavailableError } from '../state/redis/fleet.ts';
import type { AdminRuntime } from './engine.ts';
import type { AdminGuard } from './guard.ts';
import type { GatewayMetrics } from './metrics.ts';
import { reportRows } from './sqlfw-tables.ts';
import {
  blockedView,
  failedLoginsView,
  fleetView,
  hostsView,
  outcomesView,
  postureView,
  sessionsView,
  statusView,
} from './views.ts';

const STATIC: Record<string, [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
};
const DASHBOARD = new URL('./dashboard/', import.meta.url);
const MAX_BODY = 16 * 1024;
/** The name HTTP requests go by in the admin guard's ledger and the audit log (tokens have none). */
const HTTP_USER = 'http';

type Scope = 'admin' | 'readonly';

/** On when a token is configured (admin.http.tokenSha256 or admin.http.tokens). */
export function httpEnabled(config: Config['admin']['http']): boolean {
  return config.tokenSha256 !== undefined || config.tokens.length > 0;
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export class AdminHttp {
  private readonly config: Config['admin']['http'];
  private readonly rt: AdminRuntime;
  private readonly metrics: GatewayMetrics;
  private readonly log: Logger;
  private readonly tokens: ReadonlyArray<{ hash: Buffer; scope: Scope }>;
  private readonly guard: AdminGuard;
  private server: Server | null = null;

  constructor(
    config: Config['admin']['http'],
    runtime: AdminRuntime,
    metrics: GatewayMetrics,
    log: Logger,
    guard: AdminGuard,
  ) {
    if (!httpEnabled(config)) throw new Error('admin.http.tokenSha256 or admin.http.tokens is required');
    this.config = config;
    this.rt = runtime;
    this.metrics = metrics;
    this.log = log;
    this.guard = guard;
    this.tokens = [
      ...(config.tokenSha256 === undefined ? [] : [{ sha256: config.tokenSha256, scope: 'admin' as const }]),
      ...config.tokens,
    ].map((t) => ({ hash: Buffer.from(t.sha256, 'hex'), scope: t.scope }));
  }

  async listen(): Promise<Endpoint> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    this.server = server;
    const bound = await bindServer(server, this.config.listen, (e) =>
      this.log.error({ err: e.message }, 'admin HTTP server error'),
    );
    this.log.info({ http: formatEndpoint(bound) }, 'admin HTTP listening');
    return bound;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (s === null) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** The scope of the request's token; null without a valid one. Every hash is compared. */
  private scopeOf(req: IncomingMessage): Scope | null {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (m === null) return null;
    const got = createHash('sha256').update(m[1]!).digest();
    let scope: Scope | null = null;
    for (const t of this.tokens) {
      if (timingSafeEqual(got, t.hash) && scope !== 'admin') scope = t.scope;
    }
    return scope;
  }

  /**
   * The admin guard's say on a request that needs a token: refused (blocked), delayed (a timer,
   * before the token is compared), then the token's scope; a rejected token is a failed login.
   * `then` runs only with a valid token.
   */
  private async guarded(
    req: IncomingMessage,
    path: string,
    then: (scope: Scope) => Promise<void>,
  ): Promise<void> {
    const ip = normalizeAddress(req.socket.remoteAddress ?? 'localhost');
    const { attempt, refusal } = this.guard.admit('http', ip, req.socket.remotePort ?? 0, 0);
    attempt.request = `${req.method ?? '?'} ${path}`;
    if (refusal !== null) throw new HttpError(403, refusal.error.message);
    try {
      const delayMs = this.guard.delayFor(attempt, HTTP_USER);
      if (delayMs > 0) {
        await sleep(delayMs);
        this.guard.resume(attempt);
      }
      const scope = this.scopeOf(req);
      if (scope === null) {
        const used = req.headers.authorization === undefined ? 'NO' : 'YES';
        this.log.warn({ ip, path }, 'admin HTTP request without a valid token');
        this.guard.finished(
          attempt,
          'auth-denied',
          1045,
          `HTTP 401: no valid bearer token for ${attempt.request} (using password: ${used})`,
        );
        throw new HttpError(401, 'bearer token required');
      }
      this.guard.finished(attempt, 'ok', 0, null);
      try {
        await then(scope);
      } finally {
        this.guard.ended(attempt);
      }
    } finally {
      // A request whose client left during the delay: counted once, as a broken-off login.
      this.guard.finished(attempt, 'client-gone', 0, 'HTTP request ended before its token was checked');
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://moat');
    const path = url.pathname;
    try {
      if (path === '/favicon.ico') {
        res.writeHead(204).end();
        return;
      }
      const page = STATIC[path];
      if (page !== undefined && req.method === 'GET') {
        // The page itself holds no data; it asks for the token and then calls the API.
        const body = await readFile(new URL(page[0], DASHBOARD));
        send(res, 200, page[1], body);
        return;
      }
      if (path === '/metrics' && req.method === 'GET') {
        const scrape = async () =>
          send(res, 200, this.metrics.registry.contentType, await this.metrics.registry.metrics());
        if (this.config.metricsWithoutToken) await scrape();
        else await this.guarded(req, path, scrape);
        return;
      }
      if (!path.startsWith('/api/')) throw new HttpError(404, `no such page: ${path}`);
      await this.guarded(req, path, async (scope) => {
        if (req.method !== 'GET' && scope === 'readonly') {
          this.log.warn({ ip: req.socket.remoteAddress, path }, 'admin HTTP action refused: read-only token');
          throw new HttpError(403, `a read-only token may not ${req.method} ${path}`);
        }
        json(res, 200, await this.api(req, path));
      });
    } catch (e) {
      if (e instanceof HttpError) json(res, e.status, { error: e.message });
      else {
        this.log.error({ err: e, path }, 'admin HTTP request failed');
        json(res, 500, { error: 'internal error' });
      }
    }
  }

  private async api(req: IncomingMessage, path: string): Promise<unknown> {
    const rt = this.rt;
    if (req.method === 'GET') {
      switch (path) {
        case '/api/status':
          return statusView(rt);
        case '/api/hosts':
          return hostsView(rt);
        case '/api/blocked':
          return blockedView(rt);
        case '/api/failed-logins':
          return failedLoginsView(rt);
        case '/api/sessions':
          return sessionsView(rt);
        case '/api/outcomes':
          return outcomesView(rt);
        case '/api/fleet': {
          try {
            const v = await fleetView(rt);
            if (v === null) throw new HttpError(404, 'no fleet: state.store is not redis');
            return v;
          } catch (e) {
            if (e instanceof FleetUnavailableError) throw new HttpError(503, e.message);
            throw e;
          }
        }
        case '/api/posture':
          return postureView(rt.posture());
        case '/api/sqlfw/report':
          // The SQL firewall's learning report: digests its DETECTING / PROTECTING profiles met
          // that their lists lack (moat.firewall_report on the admin port). 200 either way, so
          // the dashboard asks without an error when the firewall is off.
          return rt.sqlFirewall == null
            ? { enabled: false, report: [] }
            : { enabled: true, report: reportRows(rt.sqlFirewall) };
      }
      throw new HttpError(404, `no such endpoint: GET ${path}`);
    }
    if (req.method !== 'POST') throw new HttpError(405, `${req.method} not allowed`);
    const body = await readJson(req);
    const who = `http@${req.socket.remoteAddress ?? '?'}`;
    this.log.info({ admin: who, path, body }, 'admin HTTP action');
    switch (path) {
      case '/api/block': {
        const ip = ipOf(body);
        const seconds = body.seconds;
        if (seconds !== undefined && (typeof seconds !== 'number' || !(seconds > 0))) {
          throw new HttpError(400, 'seconds must be a positive number');
        }
        try {
          const b = rt.guard.block(ip, who, seconds === undefined ? null : seconds * 1000);
          return {
            blocked: {
              ...b,
              since: new Date(b.since).toISOString(),
              until: b.until === null ? null : new Date(b.until).toISOString(),
            },
          };
        } catch (e) {
          throw new HttpError(409, (e as Error).message);
        }
      }
      case '/api/unblock':
        return { unblocked: rt.guard.unblock(ipOf(body)) !== null };
      case '/api/flush-hosts':
        rt.guard.flushHosts();
        return {};
      case '/api/posture':
        if (rt.posture() === null) throw new HttpError(409, POSTURE_OFF);
        return postureView(await rt.checkPosture());
    }
    throw new HttpError(404, `no such endpoint: POST ${path}`);
  }
}

/** The body's `ip` in canonical form (net/address.ts): '2001:DB8::1' is the client 2001:db8::1. */
function ipOf(body: Record<string, unknown>): ClientAddress {
  const ip = body.ip;
  if (typeof ip !== 'string') throw new HttpError(400, 'ip must be an IPv4 or IPv6 address');
  const a = parseClientAddress(ip);
  if (a instanceof InvalidAddressError) throw new HttpError(400, `ip: ${a.message}`);
  return a;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'request body too large');
    chunks.push(c as Buffer);
  }
  if (size === 0) return {};
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new HttpError(400, 'the body must be a JSON object');
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'self'; frame-ancestors 'none'",
    'referrer-policy': 'no-referrer',
  });
  res.end(body);
}
