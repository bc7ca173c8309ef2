// What the admin port and the HTTP API may see and do in this process (admin/engine.ts's
// AdminRuntime), assembled from the running subsystems. SET GLOBAL persists and reaches the fleet.

import type { Logger } from 'pino';
import { AdminError, type AdminRuntime } from '../admin/engine.ts';
import type { Config } from '../config/schema.ts';
import type { FirewallMirror } from '../firewall/mirror.ts';
import type { Gateway } from '../gateway/gateway.ts';
import type { Guard } from '../guard/guard.ts';
import type { ReloadReport } from '../model/reload.ts';
import { POSTURE_OFF, type PostureRunner } from '../posture/runner.ts';
import { formatServerError } from '../protocol/error-codes.ts';
import type { DigestSummary } from '../sql/digest-table.ts';
import type { SqlFirewall } from '../sqlfw/engine.ts';
import type { RedisFleet } from '../state/redis/fleet.ts';
import type { SqlErrorRing } from './sql-errors.ts';
import { statusRows } from './status.ts';
import { SavedVariables, variableRows } from './variables.ts';

export interface RuntimeParts {
  config: Config;
  log: Logger;
  guard: Guard;
  gateway: Gateway;
  startedAt: number;
  digests: DigestSummary;
  sqlErrors: SqlErrorRing;
  sqlFirewall: SqlFirewall | null;
  fleet: RedisFleet | null;
  /** Started after the runtime exists (it needs the listeners' ports), hence a getter. */
  firewall: () => FirewallMirror | null;
  posture: () => PostureRunner | null;
  /** The version moat greets with: the backend's, once learned. */
  serverVersion: () => string;
  reload: () => ReloadReport;
}

export function adminRuntime(p: RuntimeParts): AdminRuntime {
  const { config: c, guard, gateway, fleet } = p;
  const variables = (): Array<[string, string | number]> => {
    const first = gateway.addresses()[0];
    return variableRows(c, guard, first?.kind === 'tcp' ? first.port : 0, p.serverVersion());
  };
  return {
    guard,
    sessions: () => [...gateway.sessions.values()].map((s) => s.describe()),
    kill: (id) => gateway.kill(id, 'killed from the admin port'),
    variables,
    sqlErrors: () => p.sqlErrors.rows,
    reload: () => {
      try {
        return p.reload();
      } catch (e) {
        throw new AdminError(formatServerError('ER_UNKNOWN_ERROR', `reload failed: ${(e as Error).message}`));
      }
    },
    status: () => [
      ...statusRows(guard, p.startedAt, fleet, p.firewall()),
      ['Performance_schema_digest_lost', p.digests.lost],
      ...(p.sqlFirewall?.statusRows() ?? []),
    ],
    digests: p.digests,
    fleetView: fleet === null ? undefined : () => fleet.view(),
    posture: () => p.posture()?.last ?? null,
    sqlFirewall: p.sqlFirewall,
    checkPosture: () => {
      const posture = p.posture();
      if (posture === null) throw new AdminError(formatServerError('ER_UNKNOWN_ERROR', POSTURE_OFF));
      return posture.run();
    },
    setVariable: (name, value) => {
      let known: boolean;
      try {
        known = guard.setVariable(name, value);
      } catch (e) {
        throw new AdminError(formatServerError('ER_WRONG_VALUE_FOR_VAR', (e as Error).message));
      }
      if (!known) {
        if (variables().some(([n]) => n === name)) {
          throw new AdminError(formatServerError('ER_INCORRECT_GLOBAL_LOCAL_VAR', name));
        }
        throw new AdminError(formatServerError('ER_UNKNOWN_SYSTEM_VARIABLE', name));
      }
      new SavedVariables(c.stateDir).save(name, value);
      p.log.warn({ name, value }, 'SET GLOBAL');
      fleet?.announceVariable(name, value);
    },
  };
}
