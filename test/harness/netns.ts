// A client host of its own for firewall tests: a network namespace joined to the test's namespace
// by a veth pair (10.213.X.1 and fd13:213:X::1 here, .2 and ::2 there). Names carry the pid and a
// random tag, so parallel runs never meet, and remove() deletes everything it made.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program (no shell); resolves with its exit code, never rejects for a non-zero one. */
export function cmd(file: string, args: readonly string[]): Promise<CmdResult> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
      const code = e === null ? 0 : typeof e.code === 'number' ? e.code : -1;
      resolve({ code, stdout, stderr: e !== null && code === -1 ? e.message : stderr });
    });
  });
}

/** Like cmd, but a non-zero exit is an error naming the command and its stderr. */
export async function must(file: string, args: readonly string[]): Promise<string> {
  const r = await cmd(file, args);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Why the firewall tests cannot run here, or null when they can. */
export async function firewallTestsBlocked(): Promise<string | null> {
  if (process.getuid?.() !== 0)
    return 'needs root and nft: the tests change the firewall and create network namespaces';
  if ((await cmd('nft', ['--version'])).code !== 0)
    return 'needs root and nft: nft is not installed (apt-get install nftables)';
  if ((await cmd('ip', ['-V'])).code !== 0) return 'needs root and ip (iproute2)';
  const list = await cmd('nft', ['list', 'tables']);
  if (list.code !== 0) return `needs root and nft with CAP_NET_ADMIN: ${list.stderr.trim()}`;
  return null;
}

export type ConnectResult = 'open' | 'unanswered' | 'refused';

export class Netns {
  readonly name: string;
  /** Unique per run: also names the test's nft tables. */
  readonly tag: string;
  readonly here4: string;
  readonly there4: string;
  readonly here6: string;
  readonly there6: string;
  private readonly veth: string;

  private constructor(tag: string, subnet: number) {
    this.tag = tag;
    this.name = `moatfw-${tag}`;
    this.veth = `mfw${tag}`;
    this.here4 = `10.213.${subnet}.1`;
    this.there4 = `10.213.${subnet}.2`;
    this.here6 = `fd13:213:${subnet.toString(16)}::1`;
    this.there6 = `fd13:213:${subnet.toString(16)}::2`;
  }

  static async create(): Promise<Netns> {
    const tag = `${process.pid % 10_000}${randomBytes(1).toString('hex')}`;
    const used = await must('ip', ['-o', 'addr']);
    let subnet = 1 + (process.pid % 250);
    while (used.includes(`10.213.${subnet}.`)) subnet = 1 + ((subnet + 1) % 250);
    const ns = new Netns(tag, subnet);
    const peer = `${ns.veth}b`;
    try {
      await must('ip', ['netns', 'add', ns.name]);
      await must('ip', [
        'link',
        'add',
        `${ns.veth}a`,
        'type',
        'veth',
        'peer',
        'name',
        peer,
        'netns',
        ns.name,
      ]);
      // nodad: the addresses are usable at once (bind, connect) instead of after duplicate detection.
      await must('ip', ['addr', 'add', `${ns.here4}/30`, 'dev', `${ns.veth}a`]);
      await must('ip', ['-6', 'addr', 'add', `${ns.here6}/64`, 'dev', `${ns.veth}a`, 'nodad']);
      await must('ip', ['link', 'set', `${ns.veth}a`, 'up']);
      await must('ip', ['-n', ns.name, 'addr', 'add', `${ns.there4}/30`, 'dev', peer]);
      await must('ip', ['-n', ns.name, '-6', 'addr', 'add', `${ns.there6}/64`, 'dev', peer, 'nodad']);
      await must('ip', ['-n', ns.name, 'link', 'set', peer, 'up']);
      await must('ip', ['-n', ns.name, 'link', 'set', 'lo', 'up']);
    } catch (e) {
      await ns.remove();
      throw e;
    }
    return ns;
  }

  /**
   * A TCP connect from inside the namespace, bash's /dev/tcp under `timeout`: 'open' once the
   * handshake completes, 'unanswered' when nothing came back in time (a dropped SYN), 'refused'.
   */
  async connect(host: string, port: number, timeoutS = 0.5): Promise<ConnectResult> {
    const r = await cmd('ip', [
      'netns',
      'exec',
      this.name,
      'timeout',
      String(timeoutS),
      'bash',
      '-c',
      `exec 3<>/dev/tcp/${host}/${port}`,
    ]);
    if (r.code === 0) return 'open';
    if (r.code === 124) return 'unanswered';
    return 'refused';
  }

  /** Deleting the namespace deletes the veth pair with it; the link delete covers a half setup. */
  async remove(): Promise<void> {
    await cmd('ip', ['netns', 'del', this.name]);
    await cmd('ip', ['link', 'del', `${this.veth}a`]);
  }
}
