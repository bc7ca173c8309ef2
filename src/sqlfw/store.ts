// Profiles and allowlists in one SQLite file in the state directory (stateDir/sqlfw.sqlite, 0600),
// written through on every change, so a restart or a kill -9 keeps the lists. Changes are rare
// (an admin statement, a digest learned for the first time): no batching needed.
import type { DatabaseSync } from 'node:sqlite';
import { openPrivateDatabase } from '../state/sqlite-file.ts';
import type { Mode, ProfileKind } from './model.ts';

export interface StoredProfile {
  kind: ProfileKind;
  name: string;
  mode: Mode;
  /** Group profiles: the training account in RECORDING (EE's USERHOST), null: every member. */
  trainer: string | null;
  networks: string[];
  rules: Array<{ hash: string; text: string }>;
}

export interface StoredState {
  profiles: StoredProfile[];
  members: Array<{ group: string; member: string }>;
}

export class SqlfwStore {
  private readonly db: DatabaseSync;

  constructor(path: string) {
    this.db = openPrivateDatabase(path);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS profiles (
        kind TEXT NOT NULL, name TEXT NOT NULL, mode TEXT NOT NULL, trainer TEXT,
        networks TEXT NOT NULL DEFAULT '[]', PRIMARY KEY (kind, name));
      CREATE TABLE IF NOT EXISTS rules (
        kind TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL, text TEXT NOT NULL,
        PRIMARY KEY (kind, name, hash));
      CREATE TABLE IF NOT EXISTS members (grp TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (grp, member));
    `);
  }

  load(): StoredState {
    const rules = new Map<string, Array<{ hash: string; text: string }>>();
    for (const r of this.db.prepare('SELECT * FROM rules ORDER BY rowid').all()) {
      const key = `${r.kind}\u0000${r.name}`;
      let list = rules.get(key);
      if (list === undefined) {
        list = [];
        rules.set(key, list);
      }
      list.push({ hash: String(r.hash), text: String(r.text) });
    }
    const profiles = this.db
      .prepare('SELECT * FROM profiles ORDER BY rowid')
      .all()
      .map(
        (r): StoredProfile => ({
          kind: String(r.kind) as ProfileKind,
          name: String(r.name),
          mode: String(r.mode) as Mode,
          trainer: r.trainer === null ? null : String(r.trainer),
          networks: JSON.parse(String(r.networks)) as string[],
          rules: rules.get(`${r.kind}\u0000${r.name}`) ?? [],
        }),
      );
    const members = this.db
      .prepare('SELECT grp, member FROM members ORDER BY rowid')
      .all()
      .map((r) => ({ group: String(r.grp), member: String(r.member) }));
    return { profiles, members };
  }

  putProfile(p: Omit<StoredProfile, 'rules'>): void {
    this.db
      .prepare('INSERT OR REPLACE INTO profiles (kind, name, mode, trainer, networks) VALUES (?, ?, ?, ?, ?)')
      .run(p.kind, p.name, p.mode, p.trainer, JSON.stringify(p.networks));
  }

  deleteProfile(kind: ProfileKind, name: string): void {
    this.db.prepare('DELETE FROM profiles WHERE kind = ? AND name = ?').run(kind, name);
    this.clearRules(kind, name);
  }

  addRule(kind: ProfileKind, name: string, hash: string, text: string): void {
    this.db.prepare('INSERT OR IGNORE INTO rules VALUES (?, ?, ?, ?)').run(kind, name, hash, text);
  }

  clearRules(kind: ProfileKind, name: string): void {
    this.db.prepare('DELETE FROM rules WHERE kind = ? AND name = ?').run(kind, name);
  }

  setMember(group: string, member: string, on: boolean): void {
    if (on) this.db.prepare('INSERT OR IGNORE INTO members VALUES (?, ?)').run(group, member);
    else this.db.prepare('DELETE FROM members WHERE grp = ? AND member = ?').run(group, member);
  }

  /** Replaces everything (an import with replace: true) in one transaction. */
  replaceAll(state: StoredState): void {
    this.db.exec('BEGIN');
    try {
      this.db.exec('DELETE FROM profiles; DELETE FROM rules; DELETE FROM members');
      for (const p of state.profiles) {
        this.putProfile(p);
        for (const r of p.rules) this.addRule(p.kind, p.name, r.hash, r.text);
      }
      for (const m of state.members) this.setMember(m.group, m.member, true);
      this.db.exec('COMMIT');
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    }
  }

  close(): void {
    this.db.close();
  }
}
