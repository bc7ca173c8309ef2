// The fleet channel's messages, checked on arrival: anything else on the channel (another program,
// an older moat) is counted and ignored, never trusted into the guard.
import { z } from 'zod';
import type { Block } from '../../model/guard.ts';

const count = z.number().int().min(0);
const from = z.string().max(64);

const block = z
  .object({
    ip: z.string().min(1).max(64),
    reason: z.enum(['max_connect_errors', 'manual', 'detection']),
    by: z.string().max(200),
    since: z.number(),
    until: z.number().nullish(),
  })
  .transform((b): Block => ({ ...b, until: b.until ?? null }));

export const fleetMessage = z.discriminatedUnion('t', [
  z.object({ t: z.literal('ce'), ip: z.string().min(1).max(64), n: count, from }),
  z.object({ t: z.literal('cc'), k: z.string().min(1).max(600), n: count, from }),
  z.object({ t: z.literal('block'), block, from }),
  z.object({ t: z.literal('unblock'), ip: z.string().min(1).max(64), from }),
  z.object({ t: z.literal('flush'), from }),
  z.object({ t: z.literal('reload'), n: count.optional(), from }),
  z.object({ t: z.literal('set'), name: z.string().regex(/^[a-z_]{1,64}$/), value: z.number().int(), from }),
]);

export type FleetMessage = z.infer<typeof fleetMessage>;

export function parseFleetMessage(text: string): FleetMessage | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  const r = fleetMessage.safeParse(raw);
  return r.success ? r.data : null;
}

/** A stored block (the value of a block key), or null for something else. */
export function parseBlock(text: string | null): Block | null {
  if (text === null) return null;
  try {
    const r = block.safeParse(JSON.parse(text));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}
