// Host blocks: automatic (max_connect_errors reached) and manual, each with an optional expiry,
// and an exempt list of networks that are never blocked. MySQL blocks until FLUSH HOSTS and can
// only unblock everyone at once; here every block names its reason, who made it and until when,
// and one host can be unblocked alone.
import type { BlockList } from 'node:net';
import { isIP } from 'node:net';
import type { Block, BlockReason } from '../model/guard.ts';

export type { Block, BlockReason };

export class ExemptHostError extends Error {
  readonly code = 'MOAT_HOST_EXEMPT';
  constructor(ip: string) {
    super(`${ip} is in guard.blocking.exempt and is never blocked`);
    this.name = 'ExemptHostError';
  }
}

export class Blocker {
  private readonly blocks = new Map<string, Block>();
  private exempt: BlockList;
  onBlock: (b: Block) => void = () => {};
  onUnblock: (b: Block, why: 'manual' | 'expired' | 'flush') => void = () => {};

  constructor(exempt: BlockList) {
    this.exempt = exempt;
  }

  /** A configuration reload replaces the exempt networks. */
  setExempt(exempt: BlockList): void {
    this.exempt = exempt;
  }

  isExempt(ip: string): boolean {
    return this.exempt.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');
  }

  /** The block in force for `ip`, if any; an expired one is lifted here (and reported). */
  blocked(ip: string, now: number): Block | null {
    const b = this.blocks.get(ip);
    if (b === undefined) return null;
    if (b.until !== null && b.until <= now) {
      this.blocks.delete(ip);
      this.onUnblock(b, 'expired');
      return null;
    }
    return b;
  }

  block(ip: string, reason: BlockReason, by: string, durationMs: number | null, now: number): Block {
    if (this.isExempt(ip)) throw new ExemptHostError(ip);
    const b: Block = { ip, reason, by, since: now, until: durationMs === null ? null : now + durationMs };
    this.blocks.set(ip, b);
    this.onBlock(b);
    return b;
  }

  unblock(ip: string, why: 'manual' | 'flush' = 'manual'): Block | null {
    const b = this.blocks.get(ip);
    if (b === undefined) return null;
    this.blocks.delete(ip);
    this.onUnblock(b, why);
    return b;
  }

  /** Current blocks; expired ones are lifted on the way. */
  list(now: number): Block[] {
    const out: Block[] = [];
    for (const ip of [...this.blocks.keys()]) {
      const b = this.blocked(ip, now);
      if (b !== null) out.push(b);
    }
    return out;
  }

  /** FLUSH HOSTS lifts the automatic blocks (as MySQL's does); manual blocks stay. */
  flushAutomatic(): void {
    for (const b of [...this.blocks.values()])
      if (b.reason === 'max_connect_errors') this.unblock(b.ip, 'flush');
  }

  /**
   * A block made by another instance of the fleet: in force here too, without the callbacks (it
   * was logged, audited and stored where it was made). False when nothing changed.
   */
  adopt(b: Block): boolean {
    const cur = this.blocks.get(b.ip);
    if (cur !== undefined && cur.since === b.since && cur.until === b.until && cur.reason === b.reason)
      return false;
    this.blocks.set(b.ip, b);
    return true;
  }

  /** Lifted by another instance of the fleet (no callbacks, as adopt). */
  drop(ip: string): Block | null {
    const b = this.blocks.get(ip);
    if (b === undefined) return null;
    this.blocks.delete(ip);
    return b;
  }

  /** Restores a persisted block at start (no log line: it was logged when made). */
  restore(b: Block): void {
    this.blocks.set(b.ip, b);
  }
}
