// How this instance answers its fleet (state.store: redis): blocks made by the shared counters or
// by another instance, unblocks, SET GLOBAL and RELOAD CONFIG announced by another instance.
import type { Logger } from 'pino';
import type { FirewallMirror } from '../firewall/mirror.ts';
import type { Guard } from '../guard/guard.ts';
import type { FleetHooks } from '../state/redis/fleet.ts';
import { SavedVariables } from './variables.ts';

export interface FleetHost {
  readonly guard: Guard;
  readonly log: Logger;
  readonly stateDir: string;
  /** The nftables mirror, when it is on (it starts after the fleet joins). */
  firewall(): FirewallMirror | null;
  /** Writes the guard's pending changes and waits. */
  settle(): Promise<void>;
  /** RELOAD CONFIG here, without announcing it again. */
  reload(): void;
}

export function fleetHooks(h: FleetHost): FleetHooks {
  const { guard, log, stateDir } = h;
  return {
    settle: () => h.settle(),
    blocked: (b, from, own) => {
      if (own) {
        // Made by the shared counter for an error seen here: this instance reports it (its
        // guard actions reach audit and the firewall mirror).
        const until = b.until === null ? null : new Date(b.until).toISOString();
        log.warn({ ip: b.ip, reason: b.reason, by: b.by, until }, 'host blocked');
        guard.onAction({ kind: 'blocked', block: b });
      } else {
        log.info({ ip: b.ip, reason: b.reason, from }, 'host blocked by another instance');
        // Another instance's block holds here too, so the kernel drops it here too.
        void h.firewall()?.block(b);
      }
    },
    unblocked: (b, from) => {
      log.info({ ip: b.ip, reason: b.reason, from }, 'host unblocked by another instance');
      void h.firewall()?.unblock(b.ip);
    },
    savedVariables: () => new SavedVariables(stateDir).load(),
    setVariable: (name, value, from) => {
      const current = (guard.settings as unknown as Record<string, unknown>)[name];
      if (current === value) return;
      try {
        if (!guard.setVariable(name, value)) throw new Error(`unknown variable ${name}`);
        new SavedVariables(stateDir).save(name, value);
        log.warn({ name, value, from }, 'SET GLOBAL by another instance');
      } catch (e) {
        log.error(
          { name, value, from, err: (e as Error).message },
          'SET GLOBAL from another instance refused',
        );
      }
    },
    reload: (from) => {
      try {
        h.reload();
        log.info({ from }, 'configuration reloaded at the request of another instance');
      } catch (e) {
        log.error({ from, err: (e as Error).message }, 'reload requested by another instance failed');
      }
    },
  };
}
