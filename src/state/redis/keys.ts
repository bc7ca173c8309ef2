// The fleet's keys. Every key carries the namespace in a hash tag ({…}), so all of them live in
// one Redis Cluster slot and the scripts that touch several keys stay legal there.
export interface FleetKeys {
  /** A random id set when this Redis first holds the namespace: a new one means Redis lost its data. */
  epoch: string;
  channel: string;
  /** SET GLOBAL values made anywhere in the fleet (a hash), so that an instance that missed the
   * message finds them at its next reconciliation. */
  variables: string;
  /** How many RELOAD CONFIGs the fleet has seen (a counter), for the same reason. */
  reloads: string;
  connectErrors(ip: string): string;
  failedLogins(userHost: string): string;
  block(ip: string): string;
  ledger(instance: string): string;
  instance(instance: string): string;
  /** SCAN patterns, and the prefix to strip from what they match. */
  pattern(kind: 'ce' | 'cc' | 'block' | 'ledger' | 'instance'): string;
  prefix(kind: 'ce' | 'cc' | 'block' | 'ledger' | 'instance'): string;
}

export function fleetKeys(namespace: string): FleetKeys {
  const base = `moat:{${namespace}}:`;
  // SCAN's glob treats * ? [ ] \ specially; the namespace is [A-Za-z0-9_.-] (config), and the
  // braces of the hash tag are literal in glob syntax.
  const prefix = (kind: string) => `${base}${kind}:`;
  return {
    epoch: `${base}epoch`,
    channel: `${base}events`,
    variables: `${base}variables`,
    reloads: `${base}reloads`,
    connectErrors: (ip) => `${base}ce:${ip}`,
    failedLogins: (k) => `${base}cc:${k}`,
    block: (ip) => `${base}block:${ip}`,
    ledger: (i) => `${base}ledger:${i}`,
    instance: (i) => `${base}instance:${i}`,
    pattern: (kind) => `${prefix(kind)}*`,
    prefix,
  };
}
