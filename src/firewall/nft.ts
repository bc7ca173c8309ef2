// A thin runner for Debian's `nft` (package nftables): JSON in through `nft -j -f FILE` (one atomic
// transaction per call), JSON out of `nft -j list ...`, and nft's own syntax for rule sets that a
// human reads first. No shell: arguments go to execve as they are. Failures are typed with a stable
// code, because what an operator does about them differs (install nftables, grant CAP_NET_ADMIN,
// read nft's message).
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type NftErrorCode =
  | 'MOAT_NFT_MISSING'
  | 'MOAT_NFT_DENIED'
  | 'MOAT_NFT_NOT_FOUND'
  | 'MOAT_NFT_FOREIGN_TABLE'
  | 'MOAT_NFT_TIMEOUT'
  | 'MOAT_NFT_FAILED';

/** What each code means, for the docs and the operator reading a log line. */
export const NFT_ERRORS: Record<NftErrorCode, string> = {
  MOAT_NFT_MISSING: 'the nft command is not installed (Debian: apt-get install nftables)',
  MOAT_NFT_DENIED:
    'nft was refused: changing the firewall needs CAP_NET_ADMIN (root, or AmbientCapabilities=CAP_NET_ADMIN)',
  MOAT_NFT_NOT_FOUND: 'the table, set or element named does not exist',
  MOAT_NFT_FOREIGN_TABLE:
    'a table of the configured name exists and moat did not make it: moat leaves it alone and stays off',
  MOAT_NFT_TIMEOUT: 'nft did not finish in time and was killed',
  MOAT_NFT_FAILED: 'nft rejected the command; its own message follows',
};

export class NftError extends Error {
  readonly code: NftErrorCode;
  /** nft's stderr, trimmed (empty when it never ran). */
  readonly stderr: string;

  constructor(code: NftErrorCode, message: string, stderr = '', cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'NftError';
    this.code = code;
    this.stderr = stderr;
  }
}

/** One command of a JSON transaction, e.g. `{ add: { element: {...} } }` (libnftables-json(5)). */
export type NftCommand = Partial<Record<'add' | 'create' | 'delete' | 'flush', Record<string, unknown>>>;

/** One object of a JSON listing: `{ table: {...} }`, `{ rule: {...} }` … (metainfo removed). */
export type NftObject = Record<string, Record<string, unknown>>;

export interface NftOptions {
  /** The program and any leading arguments; default ['nft']. Tests run it in a namespace this way. */
  command?: readonly string[];
  /** A hung nft (netlink stuck) must not stall moat's queue forever. */
  timeoutMs?: number;
}

/** Listings of large sets are megabytes; anything beyond this is not nft talking to us. */
const MAX_STDOUT = 64 * 1024 * 1024;
const MAX_STDERR = 64 * 1024;

export class Nft {
  private readonly command: readonly string[];
  private readonly timeoutMs: number;

  constructor(opts: NftOptions = {}) {
    this.command = opts.command ?? ['nft'];
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** Applies the commands as one transaction: all of them or none. */
  async apply(commands: readonly NftCommand[]): Promise<void> {
    if (commands.length === 0) return;
    await this.runFile(['-j'], JSON.stringify({ nftables: commands }));
  }

  /** Applies a rule set written in nft's syntax (`check`: only validates it, nft -c). */
  async applyText(text: string, opts: { check?: boolean } = {}): Promise<void> {
    await this.runFile(opts.check ? ['-c'] : [], text);
  }

  /** `nft -j list <what...>`, e.g. list('table', 'inet', 'moat'). */
  async list(...what: string[]): Promise<NftObject[]> {
    const out = await this.run(['-j', 'list', ...what]);
    let doc: unknown;
    try {
      doc = JSON.parse(out);
    } catch (e) {
      throw new NftError(
        'MOAT_NFT_FAILED',
        `${this.describe(['-j', 'list', ...what])}: output is not JSON`,
        '',
        e,
      );
    }
    const items = (doc as { nftables?: unknown }).nftables;
    if (!Array.isArray(items))
      throw new NftError('MOAT_NFT_FAILED', `${this.describe(['-j', 'list', ...what])}: no "nftables" array`);
    return (items as NftObject[]).filter((o) => typeof o === 'object' && o !== null && !('metainfo' in o));
  }

  private describe(args: readonly string[]): string {
    return [...this.command, ...args].join(' ');
  }

  /**
   * `nft -f FILE`. Not `-f -`: nft opens /dev/stdin by name, and Node gives a child a socket for
   * stdin, which cannot be opened that way (ENXIO). A private directory (0700) holds the file; a
   * file is also free of argv's 128 KiB limit, so a sync of many blocks stays one transaction.
   */
  private async runFile(args: readonly string[], text: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'moat-nft-'));
    try {
      const file = join(dir, 'commands');
      await writeFile(file, text, { mode: 0o600 });
      return await this.run([...args, '-f', file], [...args, '-f', '(commands)']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** `shown`: the arguments as messages name them (not a temporary file's path). */
  private run(args: readonly string[], shown: readonly string[] = args): Promise<string> {
    const [bin, ...lead] = this.command;
    if (bin === undefined) throw new NftError('MOAT_NFT_MISSING', 'no nft command configured');
    const what = this.describe(shown);
    return new Promise((resolve, reject) => {
      const child = spawn(bin, [...lead, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      let settled = false;
      const finish = (e: NftError | null, value = '') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (e !== null) reject(e);
        else resolve(value);
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        finish(new NftError('MOAT_NFT_TIMEOUT', `${what}: no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (s: string) => {
        out += s;
        if (out.length > MAX_STDOUT) {
          child.kill('SIGKILL');
          finish(new NftError('MOAT_NFT_FAILED', `${what}: output beyond ${MAX_STDOUT} characters`));
        }
      });
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (s: string) => {
        if (err.length < MAX_STDERR) err += s;
      });
      child.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT')
          finish(
            new NftError('MOAT_NFT_MISSING', `${bin}: not found (Debian: apt-get install nftables)`, '', e),
          );
        else if (e.code === 'EACCES')
          finish(new NftError('MOAT_NFT_DENIED', `${bin}: not executable by this user`, '', e));
        else finish(new NftError('MOAT_NFT_FAILED', `${what}: ${e.message}`, '', e));
      });
      child.on('close', (code, signal) => {
        if (code === 0) finish(null, out);
        else finish(classify(what, err, code === null ? `signal ${signal}` : `exit ${code}`));
      });
    });
  }
}

/** nft's stderr → a code. Its messages are stable across releases (strerror texts). */
function classify(what: string, stderr: string, status: string): NftError {
  const text = tidy(stderr);
  if (/Operation not permitted|Permission denied/.test(stderr))
    return new NftError(
      'MOAT_NFT_DENIED',
      `${what}: ${text.split('; ')[0]}: changing the firewall needs CAP_NET_ADMIN (run moat as root, or with AmbientCapabilities=CAP_NET_ADMIN in its systemd unit)`,
      text,
    );
  if (/No such file or directory/.test(stderr))
    return new NftError('MOAT_NFT_NOT_FOUND', `${what}: ${text}`, text);
  return new NftError('MOAT_NFT_FAILED', `${what}: ${text || status}`, text);
}

/** One line: nft's "internal:0:0-0: Error: …" prefixes and caret lines say nothing to an operator. */
function tidy(stderr: string): string {
  return stderr
    .split('\n')
    .map((l) => l.replace(/^internal:\d+:\d+-\d+: /, '').trim())
    .filter((l, i, all) => l !== '' && !/^[\^~\s]+$/.test(l) && all.indexOf(l) === i)
    .slice(0, 3)
    .join('; ');
}

/**
 * Whether table `inet <name>` exists. moat marks what it makes with a rule comment (nft 1.0.6's
 * JSON drops table comments, rule comments survive), and a table without that mark is someone
 * else's: MOAT_NFT_FOREIGN_TABLE, so that moat never deletes or rewrites it.
 */
export async function ownTableExists(nft: Nft, name: string, mark: string): Promise<boolean> {
  let objects: NftObject[];
  try {
    objects = await nft.list('table', 'inet', name);
  } catch (e) {
    if (e instanceof NftError && e.code === 'MOAT_NFT_NOT_FOUND') return false;
    throw e;
  }
  if (objects.some((o) => o.rule?.comment === mark)) return true;
  throw new NftError(
    'MOAT_NFT_FOREIGN_TABLE',
    `table inet ${name} exists and moat did not make it (no rule commented "${mark}"); moat leaves it alone: configure another table name`,
  );
}
