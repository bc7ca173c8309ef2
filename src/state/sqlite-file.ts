// One private SQLite database file, as moat keeps its state: 0600 whatever the umask (SQLite
// gives its -wal and -shm files the mode of the database file), WAL journal, synchronous NORMAL
// (a crash may lose the last transactions, never corrupt the file).
import { chmodSync, closeSync, openSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';

export function openPrivateDatabase(path: string): DatabaseSync {
  if (path !== ':memory:') {
    closeSync(openSync(path, 'a', 0o600));
    chmodSync(path, 0o600);
  }
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
  return db;
}
