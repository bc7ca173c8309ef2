// The command phase: the hot path. Chunks are forwarded as they arrive, untouched, while two
// PacketScanners follow packet headers for the Follower. Plain callbacks, no streams or promises,
// no per-packet allocation; backpressure honoured both ways (a slow reader pauses the other leg).
//
// One packet is ever held back from the client stream: COM_CHANGE_USER, which moat must rewrite
// (see session/change-user.ts). To be able to, the few bytes of a packet header whose command byte has not
// arrived yet are kept until it does — the backend could not act on half a header anyway.
import type { Socket } from 'node:net';
import type { Follower } from '../protocol/follow/follower.ts';
import { PacketScanner } from '../protocol/scanner.ts';

export interface RelayHooks {
  /** The client sent COM_CHANGE_USER; the relay is suspended; `bytes` start with that packet. */
  onChangeUser(bytes: Buffer): void;
  /**
   * A statement the SQL firewall judges first (PROTECTING): only the client side is held (the
   * backend's answers to earlier commands keep flowing); `bytes` start with that packet.
   * The session calls resumeClient() with what is to be relayed next.
   */
  onStatement?(bytes: Buffer): void;
  /** One leg closed or failed; the relay has already torn the other one down. */
  onClose(side: 'client' | 'backend', error: Error | null): void;
}

export class Relay {
  private readonly client: Socket;
  private readonly backend: Socket;
  private readonly clientScanner: PacketScanner;
  private readonly serverScanner: PacketScanner;
  private readonly hooks: RelayHooks;
  private held: Buffer | null = null;
  private active = false;
  private closed = false;
  /** What the client scanner was paused for. */
  private pausedFor: 'change-user' | 'statement' = 'change-user';
  /** The client side is held while a statement is judged (holdClient / resumeClient). */
  private clientHeld = false;
  bytesFromClient = 0;
  bytesFromBackend = 0;

  constructor(client: Socket, backend: Socket, follower: Follower, hooks: RelayHooks) {
    this.client = client;
    this.backend = backend;
    this.hooks = hooks;
    this.clientScanner = new PacketScanner(follower.client);
    this.serverScanner = new PacketScanner(follower.server);
    // COM_CHANGE_USER: the sink asks the scanner to stop right at that packet.
    const onChangeUser = follower.options.onChangeUser;
    follower.options.onChangeUser = () => {
      this.clientScanner.pause();
      this.pausedFor = 'change-user';
      onChangeUser();
    };
    follower.options.onHoldStatement = () => {
      this.clientScanner.pause();
      this.pausedFor = 'statement';
    };
    client.setNoDelay(true);
    backend.setNoDelay(true);
    client.on('drain', this.onClientDrain);
    backend.on('drain', this.onBackendDrain);
    client.on('close', this.onClientClose);
    backend.on('close', this.onBackendClose);
    client.on('error', this.onClientError);
    backend.on('error', this.onBackendError);
    client.on('end', this.onClientEnd);
    backend.on('end', this.onBackendEnd);
  }

  /** Starts (or resumes) relaying; `clientBytes` / `backendBytes` were read but not yet relayed. */
  start(clientBytes: Buffer | null, backendBytes: Buffer | null): void {
    this.active = true;
    this.clientHeld = false;
    this.clientScanner.reset();
    this.serverScanner.reset();
    this.held = null;
    this.client.on('data', this.onClientData);
    this.backend.on('data', this.onBackendData);
    if (backendBytes !== null && backendBytes.length > 0) this.onBackendData(backendBytes);
    if (clientBytes !== null && clientBytes.length > 0) this.onClientData(clientBytes);
    if (this.active) {
      this.client.resume();
      this.backend.resume();
    }
  }

  /** Between commands: nothing half-sent by the client, nothing half-answered by the server. */
  isIdle(follower: Follower): boolean {
    return (
      this.held === null &&
      this.clientScanner.atBoundary &&
      this.serverScanner.atBoundary &&
      follower.queue.length === 0
    );
  }

  /** Stops relaying without closing (COM_CHANGE_USER takes the stream over). */
  suspend(): void {
    this.active = false;
    this.client.off('data', this.onClientData);
    this.backend.off('data', this.onBackendData);
    this.client.pause();
    this.backend.pause();
  }

  private readonly onClientData = (chunk: Buffer): void => {
    this.bytesFromClient += chunk.length;
    const stop = this.clientScanner.feed(chunk);
    let data = chunk;
    let heldLen = 0;
    if (this.held !== null) {
      heldLen = this.held.length;
      data = Buffer.concat([this.held, chunk]);
      this.held = null;
    }
    if (stop !== chunk.length) {
      // Paused at COM_CHANGE_USER or a statement to judge. A header that began in an earlier chunk
      // was held back whole.
      const at = stop < 0 ? 0 : heldLen + stop;
      if (at > 0) this.backend.write(data.subarray(0, at));
      // Only the client side stops: the answers to commands sent before it still flow to the
      // client. The session takes the packet (and suspends the rest, for a change of user).
      this.holdClient();
      if (this.pausedFor === 'statement' && this.hooks.onStatement !== undefined)
        this.hooks.onStatement(data.subarray(at));
      else this.hooks.onChangeUser(data.subarray(at));
      return;
    }
    const keep = this.clientScanner.pendingHeaderBytes;
    if (keep > 0) {
      this.held = Buffer.from(data.subarray(data.length - keep));
      data = data.subarray(0, data.length - keep);
      if (data.length === 0) return;
    }
    if (!this.backend.write(data)) this.client.pause();
  };

  // Reply first, then follow: the scan of this chunk may end a command, and what its event sets off
  // (metrics, detection, the audit record) must never stand between the server's answer and the
  // client. Nothing on this side rewrites or holds bytes, so the order is free to choose; the
  // client → backend side stays scan-then-write because it intercepts (COM_CHANGE_USER, KILL).
  private readonly onBackendData = (chunk: Buffer): void => {
    this.bytesFromBackend += chunk.length;
    const more = this.client.write(chunk);
    this.serverScanner.feed(chunk);
    if (!more) this.backend.pause();
  };

  private readonly onClientDrain = (): void => {
    if (this.active) this.backend.resume();
  };

  private readonly onBackendDrain = (): void => {
    // A held client stays paused: its bytes belong to the session until resumeClient().
    if (this.active && !this.clientHeld) this.client.resume();
  };

  /** Stops reading the client only (a statement is being judged); the backend side relays on. */
  private holdClient(): void {
    this.clientHeld = true;
    this.client.off('data', this.onClientData);
    this.client.pause();
  }

  /** After a judged statement: `bytes` (the statement if let through, then what followed it) first. */
  resumeClient(bytes: Buffer | null): void {
    if (this.closed || !this.clientHeld) return;
    this.clientHeld = false;
    this.clientScanner.reset();
    this.held = null;
    this.client.on('data', this.onClientData);
    if (bytes !== null && bytes.length > 0) this.onClientData(bytes);
    if (this.active && !this.clientHeld) this.client.resume();
  }

  private readonly onClientEnd = (): void => {
    this.backend.end();
  };

  private readonly onBackendEnd = (): void => {
    this.client.end();
  };

  private readonly onClientError = (e: Error): void => this.close('client', e);
  private readonly onBackendError = (e: Error): void => this.close('backend', e);
  private readonly onClientClose = (): void => this.close('client', null);
  private readonly onBackendClose = (): void => this.close('backend', null);

  private close(side: 'client' | 'backend', error: Error | null): void {
    if (this.closed) return;
    this.closed = true;
    this.active = false;
    if (side === 'client') this.backend.destroy();
    else {
      // Let what the backend already said (an ERR before it hung up) reach the client.
      this.client.end();
      this.client.setTimeout(5000, () => this.client.destroy());
    }
    this.hooks.onClose(side, error);
  }

  /** Removes the relay's listeners (the session is over). */
  dispose(): void {
    this.suspend();
    for (const [s, ev, fn] of [
      [this.client, 'drain', this.onClientDrain],
      [this.backend, 'drain', this.onBackendDrain],
      [this.client, 'end', this.onClientEnd],
      [this.backend, 'end', this.onBackendEnd],
    ] as const) {
      s.off(ev, fn);
    }
  }
}
