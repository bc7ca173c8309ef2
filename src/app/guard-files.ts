// What the guard reads from files beside the configuration: TCP wrappers' hosts.allow /
// hosts.deny, and the SET GLOBAL values saved across restarts. Read at start and on reload.
import { existsSync, readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { GuardConfig } from '../guard/config.ts';
import type { Guard } from '../guard/guard.ts';
import { compileTcpWrappers } from '../guard/tcp-wrappers.ts';
import { SavedVariables } from './variables.ts';

/** Throws TcpWrappersSyntaxError (file:line in its message) for a rule moat cannot read. */
export function loadTcpWrappers(guard: Guard, tw: GuardConfig['tcpWrappers'], log: Logger): void {
  if (tw === undefined) return;
  const read = (path: string | undefined): string => {
    if (path === undefined) return '';
    // tcpd reads a missing file as empty; a configured one that is missing is worth a warning.
    if (!existsSync(path)) {
      log.warn({ path }, 'guard.tcpWrappers file does not exist; read as empty');
      return '';
    }
    return readFileSync(path, 'utf8');
  };
  const policy = compileTcpWrappers(read(tw.allow), read(tw.deny), tw.daemon);
  for (const w of policy.warnings) log.warn({ file: w.file, line: w.line }, `tcp wrappers: ${w.message}`);
  guard.setTcpWrappers(policy);
  log.info({ daemon: policy.daemon, needsHostname: policy.needsHostname }, 'tcp wrappers rules loaded');
}

/** SET GLOBAL values survive restarts (variables.ts), applied at start and on reload. */
export function restoreVariables(guard: Guard, stateDir: string, log: Logger): void {
  const saved = new SavedVariables(stateDir).load();
  if (Object.keys(saved).length === 0) return;
  for (const [name, value] of Object.entries(saved)) {
    try {
      guard.setVariable(name, value);
    } catch (e) {
      log.warn({ name, value, err: (e as Error).message }, 'ignoring a saved variable');
    }
  }
  log.info({ variables: saved }, 'SET GLOBAL values restored');
}
