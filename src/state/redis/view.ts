// The fleet views' data: every instance's heartbeat, every instance's ledger rows (tagged), and
// the shared connect-error counts, read from Redis for one admin statement or API call.
import type { Redis } from 'ioredis';
import type { HostRow } from '../../model/guard.ts';
import type { FleetKeys } from './keys.ts';
import { scanKeys, scanValues } from './scan.ts';

export type FleetState = 'connecting' | 'reconciling' | 'up' | 'down' | 'closed';

export class FleetUnavailableError extends Error {
  readonly code = 'MOAT_FLEET_UNAVAILABLE';
  constructor() {
    super(
      'the fleet state on Redis is unavailable: fleet views need it (this instance’s own views still work)',
    );
    this.name = 'FleetUnavailableError';
  }
}

export interface FleetInstance {
  instance: string;
  pid: number;
  startedAt: number;
  lastSeen: number;
  state: FleetState;
}

export interface FleetView {
  instances: FleetInstance[];
  /** Every instance's ledger rows, tagged. */
  rows: Array<{ instance: string; row: HostRow }>;
  /** The shared SUM_CONNECT_ERRORS per address. */
  connectErrors: Map<string, number>;
}

/** Reads the fleet's view; rejects with Redis's error. `bad` counts values that do not parse. */
export async function readFleetView(cmd: Redis, k: FleetKeys, bad: () => void): Promise<FleetView> {
  const [beats, ledgers, ce] = await Promise.all([
    scanValues(cmd, k.pattern('instance')),
    scanKeys(cmd, k.pattern('ledger')),
    scanValues(cmd, k.pattern('ce')),
  ]);
  const instances: FleetInstance[] = [];
  for (const v of beats.values()) {
    try {
      instances.push(JSON.parse(v) as FleetInstance);
    } catch {
      bad();
    }
  }
  const rows: FleetView['rows'] = [];
  const lp = k.prefix('ledger');
  for (const key of ledgers) {
    const instance = key.slice(lp.length);
    for (const v of Object.values(await cmd.hgetall(key))) {
      const row = parseRow(v);
      if (row !== null) rows.push({ instance, row });
      else bad();
    }
  }
  return {
    instances: instances.sort((a, b) => a.instance.localeCompare(b.instance)),
    rows,
    connectErrors: counts(ce, k.prefix('ce')),
  };
}

/** Counter keys and values → their subject (address, 'user'@'host') and count. */
export function counts(values: Map<string, string>, prefix: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, v] of values) {
    const n = Number(v);
    if (Number.isInteger(n)) out.set(key.slice(prefix.length), n);
  }
  return out;
}

export function parseRow(text: string): HostRow | null {
  try {
    const r = JSON.parse(text) as HostRow;
    return typeof r.ip === 'string' && Array.isArray(r.counts) ? r : null;
  } catch {
    return null;
  }
}
