// Command-line flags of `node bench/run.ts`.
import { parseArgs } from 'node:util';
import type { ConnectClient } from './connect-rate.ts';
import { DEFAULT_TARGETS, TARGET_NAMES, type TargetName } from './targets.ts';

export const SCENARIOS = ['point_select', 'read_only', 'connect'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export type Options = {
  time: number;
  threads: number[];
  scenarios: Scenario[];
  targets: TargetName[];
  rounds: number;
  warmup: number;
  connectConcurrency: number;
  connectClient: ConnectClient;
  psMode: 'disable' | 'auto';
  tables: number;
  tableSize: number;
  haproxyThreads: number;
  moatMain: string;
  moatArgs: string[];
};

export const USAGE = `node bench/run.ts [flags]
  --time S                 seconds per measured run (default 8)
  --threads 1,8,32         sysbench thread counts
  --scenarios LIST         point_select,read_only,connect
  --targets LIST           direct,haproxy,node-pipe,moat-relay,moat-full,moat-redis (the default),
                           or moat: moat-relay audits logins only and detects nothing; moat-full
                           is moat's defaults (every statement audited and detected) plus the
                           SQL firewall in DETECTING for the bench user where moat has one; moat
                           is the defaults alone; moat-redis the defaults with the guard state on
                           a redis-server the run starts. moat-* are skipped if the CLI is missing
  --rounds N               repeat every run N times, interleaved; the table shows medians (default 1)
  --warmup S               seconds of point_select through each target before measuring (default 2)
  --connect-concurrency N  concurrent connect loops (default 4)
  --connect-client C       raw (minimal built-in client, default) or mysql2
  --ps-mode M              sysbench --db-ps-mode: disable (COM_QUERY, default) or auto (COM_STMT_*)
  --tables N --table-size N   sbtest size (default 4 x 10000)
  --haproxy-threads N      HAProxy nbthread (default 1, like one Node thread)
  --moat-main PATH         the script started as \`node PATH start --listen .. --backend ..\`
                           (default src/cli/main.ts; point it at a prototype relay to compare)
  --moat-args "..."        extra arguments appended to moat's start command`;

function list<T extends string>(value: string, allowed: readonly T[], flag: string): T[] {
  const items = value.split(',').filter((s) => s !== '');
  for (const item of items) {
    if (!allowed.includes(item as T))
      throw new Error(`${flag}: unknown "${item}" (one of ${allowed.join(', ')})`);
  }
  return items as T[];
}

function positive(value: string, flag: string, integer = true): number {
  const n = Number(value);
  if (!(n > 0) || (integer && !Number.isInteger(n))) throw new Error(`${flag}: expected a positive number`);
  return n;
}

export function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      time: { type: 'string', default: '8' },
      threads: { type: 'string', default: '1,8,32' },
      scenarios: { type: 'string', default: SCENARIOS.join(',') },
      targets: { type: 'string', default: DEFAULT_TARGETS.join(',') },
      rounds: { type: 'string', default: '1' },
      warmup: { type: 'string', default: '2' },
      'connect-concurrency': { type: 'string', default: '4' },
      'connect-client': { type: 'string', default: 'raw' },
      'ps-mode': { type: 'string', default: 'disable' },
      tables: { type: 'string', default: '4' },
      'table-size': { type: 'string', default: '10000' },
      'haproxy-threads': { type: 'string', default: '1' },
      'moat-main': { type: 'string', default: 'src/cli/main.ts' },
      'moat-args': { type: 'string', default: '' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const warmup = Number(values.warmup);
  if (!(warmup >= 0)) throw new Error('--warmup: expected a number >= 0');
  return {
    time: positive(values.time, '--time'),
    threads: values.threads.split(',').map((t) => positive(t, '--threads')),
    scenarios: list(values.scenarios, SCENARIOS, '--scenarios'),
    targets: list(values.targets, TARGET_NAMES, '--targets'),
    rounds: positive(values.rounds, '--rounds'),
    warmup,
    connectConcurrency: positive(values['connect-concurrency'], '--connect-concurrency'),
    connectClient: list(values['connect-client'], ['raw', 'mysql2'] as const, '--connect-client')[0] ?? 'raw',
    psMode: list(values['ps-mode'], ['disable', 'auto'] as const, '--ps-mode')[0] ?? 'disable',
    tables: positive(values.tables, '--tables'),
    tableSize: positive(values['table-size'], '--table-size'),
    haproxyThreads: positive(values['haproxy-threads'], '--haproxy-threads'),
    moatMain: values['moat-main'],
    moatArgs: values['moat-args'].split(' ').filter((s) => s !== ''),
  };
}
