// The fuzz loop: input i of a run is a mutation of a seed of reader (i mod readers), drawn from a
// generator seeded by (run seed, i), so any input can be regenerated on its own. Each outcome is
// classified: success, or one of our typed errors naming the file / position (both fine), or a
// failure: any other exception, more than the time limit, or more memory than the input's size
// allows.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CaffeError, DecodeError, LayerError, NetError, ParseError } from '../util/errors.js';
import { maxBlobBytes, setMaxBlobBytes } from '../graph/blob.js';
import { packageRoot } from '../util/paths.js';
import { FuzzRng } from './rng.js';
import { mutate } from './mutate.js';
import { allTargets, placeInput, type Seed, type Target } from './targets.js';

/** Per-input time limit (ms), as the issue asks. */
export const TIME_LIMIT_MS = 5000;
/** Largest blob the fuzzed nets may allocate: a declared shape above it must be refused cleanly. */
export const FUZZ_MAX_BLOB_BYTES = 4 << 20;
/** External memory (typed arrays, wasm) one input may leave behind: a constant plus a multiple of its size. */
export function allocationBound(inputBytes: number): number {
  return (96 << 20) + 64 * inputBytes;
}
/** The same for inputs built into nets, whose blobs are sized by declared shapes (each at most FUZZ_MAX_BLOB_BYTES). */
export const NET_ALLOCATION_BOUND = 512 << 20;

export type FailureKind = 'exception' | 'slow' | 'alloc' | 'hang';

export interface Failure {
  index: number;
  reader: string;
  kind: FailureKind;
  message: string;
  seed: string;
  input: Uint8Array;
}

export interface Outcome {
  ok: boolean;
  typed: boolean;
  failure?: { kind: FailureKind; message: string };
}

/** Our typed errors, with where: a position (text line:col, byte offset), a layer or net, or the file's name. */
export function isTypedError(e: unknown, fileName: string): boolean {
  if (!(e instanceof CaffeError)) return false;
  if (e instanceof ParseError || e instanceof DecodeError || e instanceof LayerError || e instanceof NetError) return true;
  // The file, or the folder it is in (an LMDB is named by its folder).
  return e.message.includes(fileName) || e.message.includes(dirname(fileName));
}

export class Fuzzer {
  readonly targets: Target[];
  readonly seeds = new Map<string, Seed[]>();
  readonly dir: string;
  private readonly savedMaxBlobBytes = maxBlobBytes;

  constructor(
    readonly runSeed: number,
    readers?: string[],
  ) {
    const all = allTargets();
    this.targets = readers?.length ? readers.map((r) => {
      const t = all.find((x) => x.name === r);
      if (!t) throw new Error(`unknown reader '${r}' (readers: ${all.map((x) => x.name).join(', ')})`);
      return t;
    }) : all;
    const root = packageRoot();
    for (const t of this.targets) {
      const seeds = t.seeds(root);
      if (!seeds.length) throw new Error(`fuzz: no seed files for reader '${t.name}'`);
      this.seeds.set(t.name, seeds);
    }
    // Inputs are written for the readers that take paths: to memory (/dev/shm) where there is one.
    this.dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'caffe-ts-fuzz-'));
    for (const t of this.targets) mkdirSync(join(this.dir, t.name, t.fileName, '..'), { recursive: true });
    setMaxBlobBytes(FUZZ_MAX_BLOB_BYTES);
    // One unmeasured run per reader first: starting the data worker or a wasm decoder is not the input's time.
    for (const t of this.targets) this.runInput(t, this.seeds.get(t.name)![0], this.seeds.get(t.name)![0].bytes, 0);
  }

  close(): void {
    setMaxBlobBytes(this.savedMaxBlobBytes);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The reader, seed, input and option variant of input `index`. */
  input(index: number): { target: Target; seed: Seed; bytes: Uint8Array; variant: number } {
    const target = this.targets[index % this.targets.length];
    const rng = new FuzzRng(this.runSeed, index);
    const seeds = this.seeds.get(target.name)!;
    const seed = rng.pick(seeds);
    const other = rng.pick(seeds).bytes;
    const variant = rng.below(1 << 16);
    // A few inputs are the unmutated seeds: the readers must take the real files too.
    const bytes = rng.chance(0.02) ? seed.bytes.slice() : mutate(rng, seed.bytes, { kind: target.kind, other, npy: target.npy, protobuf: target.protobuf });
    return { target, seed, bytes, variant };
  }

  /** Runs one input through its reader and classifies what happened. */
  runInput(target: Target, seed: Seed, bytes: Uint8Array, variant: number): Outcome {
    const path = placeInput(join(this.dir, target.name), target, bytes);
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    let outcome: Outcome;
    try {
      target.run(bytes, path, variant, seed);
      outcome = { ok: true, typed: false };
    } catch (e) {
      if (isTypedError(e, path)) outcome = { ok: true, typed: true };
      else {
        const err = e as Error;
        outcome = { ok: false, typed: false, failure: { kind: 'exception', message: `${err?.name ?? typeof e}: ${err?.message ?? String(e)}\n${err?.stack?.split('\n').slice(1, 8).join('\n') ?? ''}` } };
      }
    }
    const ms = performance.now() - t0;
    const grown = process.memoryUsage().arrayBuffers - before;
    if (outcome.ok && ms > TIME_LIMIT_MS) outcome = { ok: false, typed: outcome.typed, failure: { kind: 'slow', message: `took ${ms.toFixed(0)} ms (limit ${TIME_LIMIT_MS})` } };
    const bound = target.buildsNets ? NET_ALLOCATION_BOUND : allocationBound(bytes.length);
    if (outcome.ok && grown > bound) {
      outcome = { ok: false, typed: outcome.typed, failure: { kind: 'alloc', message: `left ${(grown / 2 ** 20).toFixed(1)} MiB of buffers for a ${bytes.length}-byte input (bound ${(bound / 2 ** 20).toFixed(1)} MiB)` } };
    }
    return outcome;
  }

  /** Shrinks a failing input while it fails the same way (same kind, same first message line). */
  minimize(target: Target, seed: Seed, bytes: Uint8Array, variant: number, budget = 400): Uint8Array {
    const signature = (o: Outcome) => (o.failure ? `${o.failure.kind}:${o.failure.message.split('\n')[0].replace(/\d+/g, 'N')}` : '');
    const want = signature(this.runInput(target, seed, bytes, variant));
    if (!want) return bytes;
    let best = bytes;
    let chunk = Math.max(1, best.length >> 1);
    while (chunk >= 1 && budget > 0) {
      let shrunk = false;
      for (let at = 0; at < best.length && budget > 0; at += chunk) {
        const cand = new Uint8Array(best.length - Math.min(chunk, best.length - at));
        cand.set(best.subarray(0, at));
        cand.set(best.subarray(at + chunk), at);
        budget--;
        if (signature(this.runInput(target, seed, cand, variant)) === want) {
          best = cand;
          shrunk = true;
          at -= chunk;
        }
      }
      if (!shrunk) chunk >>= 1;
    }
    return best;
  }
}

export interface RangeStats {
  perReader: Record<string, { inputs: number; typedErrors: number }>;
  failures: Failure[];
}

/** Runs inputs [start, end) in this thread (no hang watchdog: the caller's timeout is it). */
export function runRange(fuzzer: Fuzzer, start: number, end: number, onFailure?: (f: Failure) => void, progress?: Int32Array, shrink = true): RangeStats {
  const stats: RangeStats = { perReader: {}, failures: [] };
  for (const t of fuzzer.targets) stats.perReader[t.name] = { inputs: 0, typedErrors: 0 };
  for (let i = start; i < end; i++) {
    if (progress) Atomics.store(progress, 0, i);
    const { target, seed, bytes, variant } = fuzzer.input(i);
    const o = fuzzer.runInput(target, seed, bytes, variant);
    const s = stats.perReader[target.name];
    s.inputs++;
    if (o.typed) s.typedErrors++;
    if (o.failure) {
      const input = shrink && o.failure.kind === 'exception' ? fuzzer.minimize(target, seed, bytes, variant) : bytes;
      const f: Failure = { index: i, reader: target.name, kind: o.failure.kind, message: o.failure.message, seed: seed.name, input };
      stats.failures.push(f);
      onFailure?.(f);
    }
    if (progress) Atomics.add(progress, 1, 1);
  }
  return stats;
}
