// Runs every benchmark in bench/ (each compiled file next to this one, except this runner), one
// after the other, each in its own process. `npm run bench` builds and then runs this.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const self = basename(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);

const benches = readdirSync(here)
  .filter((f) => f.endsWith('.js') && f !== self)
  .filter((f) => only.length === 0 || only.includes(f.replace(/\.js$/, '')))
  .sort();

let failed = 0;
for (const f of benches) {
  console.log(`== ${f.replace(/\.js$/, '')}`);
  const r = spawnSync(process.execPath, [join(here, f)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`== ${f}: failed (exit ${r.status ?? r.signal})`);
  }
}
if (benches.length === 0) console.log('no benchmarks found next to ' + here);
process.exitCode = failed ? 1 : 0;
