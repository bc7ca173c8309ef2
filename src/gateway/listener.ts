// Accepting connections: TCP (IPv4, IPv6) and unix-socket listeners, and the PROXY protocol
// header from trusted balancers, read before moat's greeting (the server speaks first in MySQL,
// so the balancer's header is the first thing on the wire).
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { type BlockList, createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { blockListOf, type ListenerConfig } from '../config/schema.ts';
import { normalizeAddress } from '../model/address.ts';
import { bindServer, boundEndpoint } from '../net/bind.ts';
import { type Endpoint, formatEndpoint } from '../net/endpoint.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { parseProxyHeader } from '../protocol/proxy-header.ts';
import type { SessionOrigin } from './session.ts';

/** A PROXY v2 header with TLVs is at most 16 + 65535 bytes; real ones are far smaller. */
const MAX_PROXY_HEADER = 4096;

export interface Accepted {
  socket: Socket;
  origin: SessionOrigin;
}

export interface ListenerHandlers {
  onAccept(a: Accepted): void;
  /** A connection that failed before a session existed (bad PROXY header, timeout). */
  onRejected(address: string, reason: string): void;
  /** accept() failed (EMFILE, ENFILE …): MySQL's Connection_errors_accept. */
  onAcceptError?(error: Error): void;
}

export class Listener {
  readonly endpoint: Endpoint;
  readonly name: string;
  private readonly server: Server;
  private readonly trusted: BlockList | null;
  private readonly handlers: ListenerHandlers;
  private readonly headerTimeoutMs: number;

  constructor(config: ListenerConfig, handlers: ListenerHandlers, headerTimeoutMs: number) {
    this.endpoint = config.address;
    this.name = formatEndpoint(config.address);
    this.handlers = handlers;
    this.headerTimeoutMs = headerTimeoutMs;
    this.trusted = config.proxyProtocolFrom.length > 0 ? blockListOf(config.proxyProtocolFrom) : null;
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  async listen(): Promise<void> {
    const e = this.endpoint;
    if (e.kind === 'unix') await removeStaleSocket(e.path);
    // Errors after start (EMFILE on accept) must not crash the process; they are counted.
    await bindServer(this.server, e, (err) => this.handlers.onAcceptError?.(err));
  }

  /** The bound address (port 0 in tests resolves to the real port here). */
  address(): Endpoint {
    return boundEndpoint(this.server, this.endpoint);
  }

  /** Stops accepting. Accepted connections stay open: ending them is the sessions' business. */
  close(): Promise<void> {
    // server.close()'s callback waits for every accepted connection to end, which would make a
    // graceful stop wait on the very sessions it is about to drain.
    return new Promise((resolve) => {
      this.server.close();
      setImmediate(resolve);
    });
  }

  private accept(socket: Socket): void {
    socket.on('error', () => {}); // per-socket errors are handled by whoever owns it next
    if (this.endpoint.kind === 'unix') {
      this.handlers.onAccept({
        socket,
        origin: { address: 'localhost', port: 0, local: true, listener: this.name },
      });
      return;
    }
    const peer = normalizeAddress(socket.remoteAddress);
    const port = socket.remotePort ?? 0;
    if (this.trusted === null || !this.trusted.check(peer, peer.includes(':') ? 'ipv6' : 'ipv4')) {
      this.handlers.onAccept({ socket, origin: { address: peer, port, local: false, listener: this.name } });
      return;
    }
    this.readProxyHeader(socket, peer, port);
  }

  private readProxyHeader(socket: Socket, peer: string, peerPort: number): void {
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => fail('no PROXY protocol header in time'), this.headerTimeoutMs);
    const fail = (reason: string) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.destroy();
      this.handlers.onRejected(peer, reason);
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let h: ReturnType<typeof parseProxyHeader>;
      try {
        h = parseProxyHeader(buf);
      } catch (e) {
        fail(e instanceof ProtocolError ? e.message : String(e));
        return;
      }
      if (h.state === 'incomplete') {
        if (buf.length > MAX_PROXY_HEADER) fail('PROXY protocol header too long');
        return;
      }
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      if (h.consumed < buf.length) socket.unshift(buf.subarray(h.consumed));
      const src = h.source ?? { address: peer, port: peerPort };
      this.handlers.onAccept({
        socket,
        origin: { address: normalizeAddress(src.address), port: src.port, local: false, listener: this.name },
      });
    };
    socket.on('data', onData);
  }
}

/** A unix socket file left by a crashed moat is removed; a live one (someone answers) is not. */
async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) throw new Error(`${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const s = netConnect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`${path} is in use by another process`);
  unlinkSync(path);
}
