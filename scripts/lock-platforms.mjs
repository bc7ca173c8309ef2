// Restores the foreign-platform entries of @biomejs/biome's optional binaries in
// package-lock.json. The npm mirror this project is built against serves only the
// linux-glibc builds, so `npm install` here drops the other platforms from the lock
// and `npm ci` then refuses the lock as out of sync. npm never fetches an optional
// package whose os/cpu/libc do not match, so entries without integrity are enough.
// Run after any `npm install` that rewrites the lock.
import fs from 'node:fs';

const lockPath = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(fs.readFileSync(lockPath, 'utf8'));
const biome = lock.packages['node_modules/@biomejs/biome'];
const platform = /^@biomejs\/cli-(android|darwin|linux|win32)-(arm64|x64)(-musl)?$/;
let added = 0;
for (const [name, version] of Object.entries(biome.optionalDependencies ?? {})) {
  const key = `node_modules/${name}`;
  if (lock.packages[key]) continue;
  const m = platform.exec(name);
  if (!m) throw new Error(`unexpected optional dependency ${name}`);
  const entry = { version, cpu: [m[2]], dev: true, license: biome.license, optional: true, os: [m[1]] };
  if (m[1] === 'linux') entry.libc = [m[3] ? 'musl' : 'glibc'];
  entry.engines = biome.engines;
  lock.packages[key] = entry;
  added++;
}
const sorted = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => a.localeCompare(b)));
lock.packages = sorted;
fs.writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lock-platforms: added ${added} entries`);
