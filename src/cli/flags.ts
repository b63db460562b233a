// Flag helpers shared by the Caffe-tool commands (train, test, time): BVLC `caffe` parses its flags
// with gflags, which accepts `-solver x` and `-solver=x` as well as `--solver x`; node:util's
// parseArgs only knows the double-dash form, so single-dash long flags are rewritten first.
import { Net } from '../graph/net.js';
import { CaffeError } from '../util/errors.js';
import { setThreads } from '../kernels/threads.js';

/** Where a command writes: process.stdout, or a collector in tests. */
export interface OutStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * Rewrites gflags-style single-dash long flags (`-solver`, `-weights=x`) that name one of
 * `longNames` into the double-dash form parseArgs understands. Everything after `--` is left alone.
 */
export function gflagsToLong(args: string[], longNames: readonly string[]): string[] {
  const names = new Set(longNames);
  const out: string[] = [];
  let rest = false;
  for (const a of args) {
    if (rest || a === '--') {
      rest = true;
      out.push(a);
      continue;
    }
    const m = /^-([A-Za-z][\w-]+)(=.*)?$/s.exec(a);
    out.push(m && names.has(m[1]) ? `-${a}` : a);
  }
  return out;
}

/** Stage flags: repeatable, and each may hold a comma-separated list (Caffe's `-stage a,b`). */
export function parseStages(values: string[] | undefined): string[] | undefined {
  if (!values) return undefined;
  const stages = values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  return stages.length ? stages : undefined;
}

/** An integer flag (`--level`, `--iterations`); undefined when absent. */
export function parseIntFlag(name: string, value: string | undefined, min = -Infinity): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n)) throw new CaffeError(`--${name} must be an integer, got '${value}'`);
  if (n < min) throw new CaffeError(`--${name} must be at least ${min}, got ${n}`);
  return n;
}

/** A comma-separated file list (Caffe's `-weights a.caffemodel,b.caffemodel`), repeatable here. */
export function parseList(values: string | string[] | undefined): string[] {
  if (values === undefined) return [];
  const list = Array.isArray(values) ? values : [values];
  return list.flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

/** The flags of `test` and `time` (BVLC caffe's, for a net built from --model). */
export const NET_FLAGS = {
  model: { type: 'string' },
  weights: { type: 'string', multiple: true },
  iterations: { type: 'string' },
  phase: { type: 'string' },
  stage: { type: 'string', multiple: true },
  level: { type: 'string' },
  gpu: { type: 'string' },
  threads: { type: 'string' },
} as const;

/** --threads N: how many threads the kernels use (default: the machine's cores, at most 8). */
export function applyThreadsFlag(value: string | undefined): void {
  const n = parseIntFlag('threads', value, 1);
  if (n !== undefined) setThreads(n);
}

/**
 * How `caffe test` and `caffe time` start: the --gpu note, "Use CPU.", then the net of --model
 * in `phase` (with --stage/--level) with `weights` copied into it in order.
 */
export function openNet(
  model: string,
  values: { stage?: string[]; level?: string; gpu?: string; threads?: string },
  phase: 'TRAIN' | 'TEST',
  weights: string[],
  say: (line: string) => void,
): Net {
  if (values.gpu !== undefined) say(`caffe-ts runs on the CPU; ignoring --gpu ${values.gpu}`);
  applyThreadsFlag(values.threads);
  say('Use CPU.');
  const net = Net.fromFile(model, {
    phase,
    stages: parseStages(values.stage),
    level: parseIntFlag('level', values.level),
  });
  for (const w of weights) net.copyTrainedLayersFromFile(w);
  // test and time never change the parameters: layers may keep their weights packed (as frozen).
  net.freezeWeights();
  return net;
}

/** Caffe's get_phase_from_flags. */
export function parsePhaseFlag(value: string | undefined, dflt: 'TRAIN' | 'TEST'): 'TRAIN' | 'TEST' {
  if (value === undefined || value === '') return dflt;
  const v = value.toUpperCase();
  if (v === 'TRAIN' || v === 'TEST') return v;
  throw new CaffeError(`phase must be "TRAIN" or "TEST", got '${value}'`);
}
