// Reconciling one instance with the fleet after Redis was away: push what this instance knows
// (when Redis lost its data), then pull the fleet's blocks and counts over the local ones.
import type { Redis } from 'ioredis';
import type { Block, FleetGuard } from '../../model/guard.ts';
import type { FleetKeys } from './keys.ts';
import { parseBlock } from './messages.ts';
import { scanValues } from './scan.ts';
import type { FleetScripts } from './scripts.ts';
import { counts } from './view.ts';

export interface SyncContext {
  cmd: Redis;
  scripts: FleetScripts;
  keys: FleetKeys;
  ttlMs: number;
  instance: string;
}

/** Redis came back empty: what this instance knows goes in, merged with the others' by maximum. */
export async function pushAll(
  c: SyncContext,
  g: FleetGuard,
  variables: Record<string, number>,
): Promise<void> {
  const k = c.keys;
  // Only where no instance has put a value yet: a SET GLOBAL made during the outage wins.
  for (const [name, value] of Object.entries(variables)) {
    await c.scripts.setVariable(k.variables, [name, value, 1, c.instance, k.channel]);
  }
  const now = Date.now();
  const fields: string[] = [];
  for (const r of g.ledger.rows()) fields.push(r.ip, JSON.stringify(r));
  for (let i = 0; i < fields.length; i += 1000) {
    await c.cmd.hset(k.ledger(c.instance), ...fields.slice(i, i + 1000));
  }
  for (const r of g.ledger.rows()) {
    if (r.sumConnectErrors > 0) await c.scripts.raise(k.connectErrors(r.ip), r.sumConnectErrors, c.ttlMs);
  }
  // Both kinds: 'user'@'host' counts and the per-address counts across users.
  for (const e of g.connectionControl.sharedEntries()) {
    await c.scripts.raise(k.failedLogins(e.key), e.failures, c.ttlMs);
  }
  for (const b of g.blocker.list(now)) {
    const ms = b.until === null ? 0 : b.until - now;
    await c.scripts.block(k.block(b.ip), [JSON.stringify(b), ms, 1, c.instance, k.channel]);
  }
}

/**
 * The fleet's blocks and counts replace this instance's view of them. `before`: the blocks in
 * force here when the reconciliation began (address → since); only those may be lifted for being
 * absent from Redis, so a block made meanwhile is kept.
 */
export async function pull(
  c: SyncContext,
  g: FleetGuard,
  before: Map<string, number>,
  news: { blocked(b: Block): void; unblocked(b: Block): void },
): Promise<void> {
  const k = c.keys;
  const [blocks, ce, cc] = await Promise.all([
    scanValues(c.cmd, k.pattern('block')),
    scanValues(c.cmd, k.pattern('ce')),
    scanValues(c.cmd, k.pattern('cc')),
  ]);
  const inRedis = new Set<string>();
  for (const v of blocks.values()) {
    const b = parseBlock(v);
    if (b === null) continue;
    inRedis.add(b.ip);
    if (g.blocker.adopt(b)) news.blocked(b);
  }
  // Lifted elsewhere (or lapsed) while this instance was away.
  for (const [ip, since] of before) {
    if (inRedis.has(ip)) continue;
    if (g.blocker.blocked(ip, Date.now())?.since !== since) continue;
    const b = g.blocker.drop(ip);
    if (b !== null) news.unblocked(b);
  }
  const connectErrors = counts(ce, k.prefix('ce'));
  for (const r of [...g.ledger.rows()]) g.ledger.setConnectErrors(r.ip, connectErrors.get(r.ip) ?? 0);
  const failed = counts(cc, k.prefix('cc'));
  for (const key of g.connectionControl.keys()) if (!failed.has(key)) g.connectionControl.setShared(key, 0);
  for (const [key, n] of failed) g.connectionControl.setShared(key, n);
}
