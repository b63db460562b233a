// `caffe-ts check DIR...`: finds every case (a folder with case.json) under the given folders,
// runs it by kind, prints one line per failure and a closing `N passed, M failed`.
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { readCaseJson, runNetCase, type CaseResult, type NetCase } from './net-case.js';
import { runUpgradeCase } from './upgrade-case.js';
import { runSolverCase } from './solver-case.js';
import { writeNpy } from '../format/npy.js';
import { writeFileAtomic } from '../util/fs.js';
import { CaffeError } from '../util/errors.js';

/** Case folders under `root` (root itself included), sorted for stable output. */
export function findCases(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    if (existsSync(join(dir, 'case.json'))) {
      out.push(dir);
      return;
    }
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}

export function runCase(caseDir: string): CaseResult {
  const dir = resolve(caseDir);
  let name = dir;
  try {
    // Inside the try: a broken case.json fails this case only, and check goes on to the rest.
    const spec = readCaseJson(dir) as NetCase & { kind?: string };
    name = spec.name ?? dir;
    if (spec.kind === 'upgrade') {
      const r = runUpgradeCase(dir);
      return {
        name,
        ok: r.ok,
        failures: r.ok ? [] : [r.detail ?? 'differs from expected'],
        produced: new Map(),
        files: new Map([[r.produced.file, r.produced.bytes]]),
      };
    }
    if (spec.kind === 'solver') return runSolverCase(dir, spec, name);
    return runNetCase(dir, spec, name);
  } catch (e) {
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    return { name, ok: false, failures: [msg], produced: new Map() };
  }
}

export interface CheckOptions {
  dump?: string;
  log?: (line: string) => void;
}

export function check(dirs: string[], opts: CheckOptions = {}): { passed: number; failed: number } {
  const log = opts.log ?? ((l: string) => process.stdout.write(l + '\n'));
  let passed = 0;
  let failed = 0;
  for (const d of dirs) {
    const root = resolve(d);
    if (!existsSync(root) || !statSync(root).isDirectory()) throw new CaffeError(`'${d}' is not a folder`);
    for (const caseDir of findCases(root)) {
      const r = runCase(caseDir);
      if (r.ok) passed++;
      else {
        failed++;
        log(`FAIL ${r.name}: ${r.failures[0]}${r.failures.length > 1 ? ` (+${r.failures.length - 1} more)` : ''}`);
      }
      if (opts.dump) {
        const out = join(resolve(opts.dump), relative(root, caseDir));
        mkdirSync(out, { recursive: true });
        for (const [file, t] of r.produced) writeNpy(join(out, file), t.shape, t.data);
        for (const [file, bytes] of r.files ?? []) writeFileAtomic(join(out, file), bytes);
      }
    }
  }
  log(`${passed} passed, ${failed} failed`);
  return { passed, failed };
}
