// What RELOAD CONFIG / SIGHUP did (src/app/reload.ts plans it; the admin port reports it).

export interface ReloadReport {
  /** Changed keys now in force. */
  applied: string[];
  /** Changed keys that only a restart applies. */
  needsRestart: string[];
}
