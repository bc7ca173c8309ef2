// A plain TCP forwarder the test controls, to put between moat and its backend: `kill()` drops
// every connection through it and stops listening (the backend "dies"), `revive()` listens on the
// same port again (the backend is back).
import { connect, createServer, type Server, type Socket } from 'node:net';

export class Forwarder {
  readonly target: { host: string; port: number };
  port = 0;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(target: { host: string; port: number }) {
    this.target = target;
  }

  /** Listens on 127.0.0.1 (a free port the first time, the same one after `kill()`). */
  async revive(): Promise<void> {
    const server = createServer({ noDelay: true }, (client) => {
      const upstream = connect({ ...this.target, noDelay: true });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: this.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    if (addr !== null && typeof addr === 'object') this.port = addr.port;
    this.server = server;
  }

  /** Connections currently open through the forwarder (both sides counted once each). */
  get connections(): number {
    return this.sockets.size / 2;
  }

  /** Resets every connection and stops listening: connects to the port are refused from now on. */
  async kill(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.resetAndDestroy();
    this.sockets.clear();
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
