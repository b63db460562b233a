#!/usr/bin/env node
// `npm run fuzz -- --iterations N --seed S [--readers a,b] [--start I] [--out DIR]`
//
// Mutates real Caffe files (fixtures/) and feeds them through every reader, net construction and
// small forward passes; reports any outcome that is not success or one of our typed errors, any
// input over 5 s, and any input that leaves more memory than its size allows. Failing inputs are
// written (minimised) to DIR (default fuzz-out/) with a note of how to reproduce them. The run is
// reproducible: input i depends only on (seed, i). Exit status 1 when anything failed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { Fuzzer, TIME_LIMIT_MS, type Failure } from './run.js';
import { allTargets } from './targets.js';

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '1' },
    readers: { type: 'string' },
    start: { type: 'string', default: '0' },
    out: { type: 'string', default: 'fuzz-out' },
    'no-shrink': { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
  },
});

const seed = Number(values.seed);
const start = Number(values.start);
const iterations = Number(values.iterations);
if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(start) || !Number.isSafeInteger(iterations) || iterations < 0 || start < 0) {
  console.error('usage: fuzz --iterations N --seed S [--readers a,b,...] [--start I] [--out DIR] [--no-shrink]');
  process.exit(2);
}
const readers = values.readers ? values.readers.split(',').filter(Boolean) : undefined;
const names = readers ?? allTargets().map((t) => t.name);
const outDir = resolve(values.out!);
const end = start + iterations;

const perReader: Record<string, { inputs: number; typedErrors: number }> = {};
for (const n of names) perReader[n] = { inputs: 0, typedErrors: 0 };
const failures: Failure[] = [];
const t0 = Date.now();

function record(f: Failure): void {
  failures.push(f);
  mkdirSync(outDir, { recursive: true });
  const base = join(outDir, `${f.reader}-${f.kind}-seed${seed}-${f.index}`);
  writeFileSync(`${base}.bin`, f.input);
  writeFileSync(`${base}.txt`, `${f.reader} input ${f.index} (seed ${seed}, from ${f.seed}): ${f.kind}\n${f.message}\n` +
    `reproduce: npm run fuzz -- --seed ${seed} --start ${f.index} --iterations 1${readers ? ` --readers ${readers.join(',')}` : ''}\n`);
  console.log(`FAIL ${f.reader} #${f.index} ${f.kind}: ${f.message.split('\n')[0]}`);
}

function summary(): string {
  const rows = names.map((n) => `  ${n.padEnd(12)} ${String(perReader[n].inputs).padStart(10)} inputs, ${perReader[n].typedErrors} typed errors`);
  const total = names.reduce((a, n) => a + perReader[n].inputs, 0);
  return `${rows.join('\n')}\n  total        ${String(total).padStart(10)} inputs in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${failures.length} failure(s)`;
}

let regen: Fuzzer | null = null;
/** Input `index` and its seed's name, regenerated here (the worker that ran it is gone). */
function regenerate(index: number): { input: Uint8Array; seed: string } {
  regen ??= new Fuzzer(seed, readers);
  const { bytes, seed: s } = regen.input(index);
  return { input: bytes, seed: s.name };
}

/** Counts inputs [a, b) that finished without a stats report (the worker was stopped mid-chunk). */
function countUpTo(a: number, b: number): void {
  for (let i = a; i < b; i++) perReader[names[i % names.length]].inputs++;
}

/** Runs [from, end) in a worker; resolves with the index to continue from (past a hung input) or null when done. */
function runWorker(from: number): Promise<number | null> {
  return new Promise((resolveRun) => {
    const progress = new Int32Array(new SharedArrayBuffer(8));
    Atomics.store(progress, 0, from);
    const worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: { seed, readers, start: from, end, progress: progress.buffer, shrink: !values['no-shrink'] },
      resourceLimits: { maxOldGenerationSizeMb: 1024 },
    });
    let counted = from;
    let lastIndex = -1;
    let lastDone = -1;
    let since = Date.now();
    let finished = false;
    const finish = (next: number | null) => {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      resolveRun(next);
    };
    const timer = setInterval(() => {
      const index = Atomics.load(progress, 0);
      const done = Atomics.load(progress, 1);
      if (index !== lastIndex || done !== lastDone) {
        lastIndex = index;
        lastDone = done;
        since = Date.now();
        return;
      }
      // Minimising replays an input many times: allow it a budget of time limits.
      if (Date.now() - since > TIME_LIMIT_MS * 2) {
        record({ index, reader: names[index % names.length], kind: 'hang', message: `no result after ${TIME_LIMIT_MS * 2} ms (limit ${TIME_LIMIT_MS} ms)`, ...regenerate(index) });
        countUpTo(counted, index + 1);
        void worker.terminate();
        finish(index + 1);
      }
    }, 250);
    worker.on('message', (m) => {
      if (m.type === 'failure') record(m.failure as Failure);
      else if (m.type === 'stats') {
        for (const [n, s] of Object.entries(m.perReader as typeof perReader)) {
          perReader[n].inputs += s.inputs;
          perReader[n].typedErrors += s.typedErrors;
        }
        counted = m.end;
        if (!values.quiet) console.log(`${new Date().toISOString()} at ${counted}/${end}`);
      }
    });
    worker.on('error', (e) => {
      // The worker died (out of memory, say): the input it was on is the failure.
      const index = Atomics.load(progress, 0);
      const reader = names[index % names.length];
      record({ index, reader, kind: 'exception', message: `worker died: ${e.message}`, ...regenerate(index) });
      countUpTo(counted, index + 1);
      finish(index + 1);
    });
    worker.on('exit', () => finish(counted >= end ? null : Math.max(counted, Atomics.load(progress, 0) + 1)));
  });
}

let next: number | null = start;
while (next !== null && next < end) next = await runWorker(next);
console.log(`fuzz seed ${seed}, inputs ${start}..${end - 1}:\n${summary()}`);
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, `summary-seed${seed}-${start}.txt`), `${summary()}\n`);
(regen as Fuzzer | null)?.close();
process.exit(failures.length ? 1 : 0);
