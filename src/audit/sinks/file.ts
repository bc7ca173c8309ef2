// A log file that takes whole batches or nothing, rotates, and closes XML documents properly.
//
// A failed write (ENOSPC, EIO) may have written part of a batch; the file is truncated back to
// where the batch began, so a retry (strict mode) neither duplicates records nor leaves half a
// line or half an XML element for a reader to choke on. After a failure the file is closed and
// reopened on the next attempt, so a file replaced or a filesystem remounted meanwhile is picked up.
//
// A file with a footer (XML's `</AUDIT>`) found at open has the footer cut, and records go on
// after the last one, as MySQL's audit plugin does with the file it finds at startup.
import { chmod, type FileHandle, mkdir, open, rename, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AuditError } from '../errors.ts';
import { compress, isDue, listRotated, prune, type RotationPolicy, rotatedPath } from '../rotate.ts';
import type { Format, Output } from './format.ts';

export interface FileOutputOptions {
  /** Absolute path of the live file. */
  path: string;
  format: Format;
  policy: RotationPolicy;
  /** Permissions of files created (audit records name users, hosts and statements). */
  mode: number;
  /** Problems that fail no write (a footer, compression, pruning): the writer counts and logs them. */
  report: (err: AuditError) => void;
  now?: () => number;
}

async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Sets `mode` on a file whose permission bits differ (a file that is gone meanwhile is no error). */
async function restrict(path: string, mode: number): Promise<void> {
  const st = await stat(path).catch(() => null);
  if (st !== null && (st.mode & 0o777) !== mode) await chmod(path, mode);
}

export class FileOutput implements Output {
  readonly target: string;
  private readonly o: FileOutputOptions;
  private readonly now: () => number;
  private handle: FileHandle | null = null;
  private size = 0;
  /** When the live file was started (its birth time when found at open), for age rotation. */
  private startedAt = 0;
  /** Compression and pruning after a rotation run here, off the write path. */
  private housekeeping: Promise<void> = Promise.resolve();

  constructor(options: FileOutputOptions) {
    this.o = options;
    this.target = options.path;
    this.now = options.now ?? Date.now;
  }

  async open(): Promise<void> {
    try {
      await mkdir(dirname(this.o.path), { recursive: true, mode: 0o700 });
      await this.openFile();
      // Rotated files left by an earlier run (or by a moat that wrote them 0644) get the mode too.
      for (const f of await listRotated(this.o.path)) await restrict(f.path, this.o.mode);
    } catch (err) {
      throw new AuditError('MOAT_AUDIT_OPEN_FAILED', `cannot open ${this.o.path}: ${message(err)}`, err);
    }
  }

  private async openFile(): Promise<void> {
    // a+: appends, and lets the tail be read to find a footer.
    const handle = await open(this.o.path, 'a+', this.o.mode);
    let size: number;
    let born: number;
    try {
      const st = await handle.stat();
      // open()'s mode applies only to a file it creates: one found in a pre-created state
      // directory (0644 from an installer, a copy, an older moat) is set to the configured mode.
      if ((st.mode & 0o777) !== this.o.mode) await handle.chmod(this.o.mode);
      size = await this.withoutFooter(handle, st.size);
      born = st.birthtimeMs;
    } catch (err) {
      await handle.close().catch(() => {});
      throw err;
    }
    this.handle = handle;
    this.size = size;
    const now = this.now();
    this.startedAt = size > 0 && born > 0 ? born : now;
    this.o.format.fileStarted?.(size, new Date(now));
  }

  private async withoutFooter(handle: FileHandle, size: number): Promise<number> {
    const footer = Buffer.from(this.o.format.footer);
    if (footer.length === 0 || size < footer.length) return size;
    const tail = Buffer.alloc(footer.length);
    await handle.read(tail, 0, tail.length, size - tail.length);
    if (!tail.equals(footer)) return size;
    await handle.truncate(size - footer.length);
    return size - footer.length;
  }

  /** Whether the live file holds records (not just nothing, or a header). */
  private get hasRecords(): boolean {
    return this.size > Buffer.byteLength(this.o.format.header);
  }

  async prepare(): Promise<void> {
    if (this.handle === null) {
      try {
        await this.openFile();
      } catch (err) {
        throw new AuditError('MOAT_AUDIT_WRITE_FAILED', `cannot reopen ${this.o.path}: ${message(err)}`, err);
      }
    }
    if (this.hasRecords && isDue(this.size, this.startedAt, this.now(), this.o.policy)) await this.rotate();
  }

  write(records: readonly string[]): Promise<void> {
    return this.writeData(Buffer.from((this.size === 0 ? this.o.format.header : '') + records.join('')));
  }

  writeBytes(batch: Buffer): Promise<void> {
    const header = this.size === 0 ? this.o.format.header : '';
    return this.writeData(header === '' ? batch : Buffer.concat([Buffer.from(header), batch]));
  }

  private async writeData(data: Buffer): Promise<void> {
    if (this.handle === null) await this.prepare();
    const handle = this.handle!;
    const before = this.size;
    try {
      await writeAll(handle, data);
      this.size += data.length;
    } catch (err) {
      await handle.truncate(before).catch(() => {}); // /dev/full and the like cannot: nothing was written
      await handle.close().catch(() => {});
      this.handle = null;
      throw new AuditError('MOAT_AUDIT_WRITE_FAILED', `cannot write ${this.o.path}: ${message(err)}`, err);
    }
  }

  async rotate(): Promise<void> {
    if (this.handle === null || !this.hasRecords) return;
    await this.closeFile();
    let target: string;
    try {
      target = await rotatedPath(this.o.path, new Date(this.now()));
      await rename(this.o.path, target);
    } catch (err) {
      // Keep appending to the live file: a log that cannot rotate still logs.
      this.o.report(
        new AuditError('MOAT_AUDIT_ROTATE_FAILED', `cannot rotate ${this.o.path}: ${message(err)}`, err),
      );
      await this.openFile();
      return;
    }
    await this.openFile();
    this.housekeeping = this.housekeeping.then(() => this.afterRotation(target));
  }

  private async afterRotation(rotated: string): Promise<void> {
    if (this.o.policy.gzip) {
      await compress(rotated, this.o.mode).catch((err: unknown) =>
        this.o.report(
          new AuditError('MOAT_AUDIT_ROTATE_FAILED', `cannot compress ${rotated}: ${message(err)}`, err),
        ),
      );
    }
    await prune(this.o.path, this.o.policy, this.now()).catch((err: unknown) =>
      this.o.report(
        new AuditError('MOAT_AUDIT_ROTATE_FAILED', `cannot prune ${this.o.path}: ${message(err)}`, err),
      ),
    );
  }

  /** Ends the document (XML's `</AUDIT>`) and closes the file. */
  private async closeFile(): Promise<void> {
    const handle = this.handle;
    if (handle === null) return;
    this.handle = null;
    const footer = this.o.format.footer;
    if (footer !== '' && this.size > 0) {
      try {
        await writeAll(handle, Buffer.from(footer));
      } catch (err) {
        await handle.truncate(this.size).catch(() => {});
        const text = `cannot end the document in ${this.o.path}: ${message(err)}`;
        this.o.report(new AuditError('MOAT_AUDIT_WRITE_FAILED', text, err));
      }
    }
    await handle.close().catch(() => {});
  }

  async close(): Promise<void> {
    await this.housekeeping;
    await this.closeFile();
  }
}
