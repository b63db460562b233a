// Runs one net case of ../shared/fixtures (see fixtures/FORMAT.md): build the net in the case's
// phase/stages/level, load weights, copy inputs, forward, compare; then top diffs, backward,
// compare. Reports the first tensor that differs and by how much.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CaffeError } from '../util/errors.js';
import { Net } from '../graph/net.js';
import { readNpyAsFloat32 } from '../format/npy.js';
import type { Blob } from '../graph/blob.js';
import { compareTensor, toleranceFor, type Tolerance } from './compare.js';

export interface NetCase {
  format?: number;
  kind?: string;
  name?: string;
  net: string;
  weights?: string;
  phase: 'TRAIN' | 'TEST';
  stages?: string[];
  level?: number;
  inputs?: Record<string, string>;
  forward?: Record<string, string>;
  params_after_forward?: Record<string, string[]>;
  top_diffs?: Record<string, string>;
  backward?: Record<string, string>;
  param_diffs?: Record<string, string[]>;
  blob_order?: string[];
  layers?: [string, string][];
  outputs?: string[];
  tolerance?: Tolerance;
  tensor_tolerance?: Record<string, Tolerance>;
}

export interface CaseResult {
  name: string;
  ok: boolean;
  /** What failed first (empty when ok). */
  failures: string[];
  /** Tensors we computed, by the expected file's name (for --dump). */
  produced: Map<string, { shape: readonly number[]; data: Float32Array }>;
  /** Other files --dump writes (an upgrade's output, a solver's losses.json). */
  files?: Map<string, Uint8Array>;
}

const DEFAULT_TOLERANCE: Tolerance = { abs: 1e-5, rel: 1e-4 };

/** Runs `fn` with the case folder as working directory, as Caffe was run. */
export function inDir<T>(dir: string, fn: () => T): T {
  const prev = process.cwd();
  process.chdir(dir);
  try {
    return fn();
  } finally {
    process.chdir(prev);
  }
}

export function runNetCase(caseDir: string, spec: NetCase, name = spec.name ?? caseDir): CaseResult {
  const dir = resolve(caseDir);
  const failures: string[] = [];
  const produced: CaseResult['produced'] = new Map();
  const fail = (msg: string) => failures.push(msg);
  const snapshot = (blobData: Float32Array, shape: readonly number[]) => ({ shape: shape.slice(), data: Float32Array.from(blobData) });

  const compare = (what: string, file: string, got: Blob, useDiff: boolean) => {
    const t = snapshot(useDiff ? got.diff : got.data, got.shape);
    produced.set(file, t);
    const expected = readNpyAsFloat32(join(dir, file));
    const msg = compareTensor(t, expected, toleranceFor(spec, file, DEFAULT_TOLERANCE));
    if (msg) fail(`${what}: ${msg}`);
  };

  inDir(dir, () => {
    const net = Net.fromFiles(spec.net, spec.weights ?? null, { phase: spec.phase, stages: spec.stages, level: spec.level ?? 0, source: join(dir, spec.net), keepBlobs: true });

    if (spec.blob_order) {
      const got = net.blobNames;
      if (got.join('\n') !== spec.blob_order.join('\n')) fail(`blob order: got [${got.join(', ')}], expected [${spec.blob_order.join(', ')}]`);
    }
    if (spec.layers) {
      const got = net.layers.map((l, i) => `${net.layerNames[i]}:${l.type}`);
      const want = spec.layers.map(([n, t]) => `${n}:${t}`);
      if (got.join('\n') !== want.join('\n')) fail(`layers: got [${got.join(', ')}], expected [${want.join(', ')}]`);
    }
    if (spec.outputs) {
      const got = net.outputs;
      if (got.join('\n') !== spec.outputs.join('\n')) fail(`outputs: got [${got.join(', ')}], expected [${spec.outputs.join(', ')}]`);
    }

    const inputs: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
    for (const [blob, file] of Object.entries(spec.inputs ?? {})) inputs[blob] = readNpyAsFloat32(file);
    // Nothing writes the parameters during a case: run them frozen, as the CLI's commands and
    // the bench do (packed weights, cached Winograd transforms), so that path meets Caffe's numbers.
    net.freezeWeights();
    net.forward(inputs);

    for (const [blob, file] of Object.entries(spec.forward ?? {})) compare(`forward '${blob}'`, file, net.blob(blob), false);
    for (const [layer, files] of Object.entries(spec.params_after_forward ?? {})) {
      const blobs = net.layer(layer).blobs;
      files.forEach((file, i) => compare(`param ${i} of layer '${layer}' after forward`, file, blobs[i], false));
    }

    // Forward-only cases again on the path `classify`, `forward` and the bench take: a net that
    // keeps only its outputs (fused chains, the activation arena in the kernels' shared memory,
    // products writing blobs in place with their epilogues), whose outputs must meet the same
    // numbers.
    const outputsOnly = spec.phase === 'TEST' && Object.keys(inputs).length > 0 && !spec.backward && !spec.param_diffs && !spec.params_after_forward;
    if (outputsOnly) {
      const fast = Net.fromFiles(spec.net, spec.weights ?? null, { phase: spec.phase, stages: spec.stages, level: spec.level ?? 0, source: join(dir, spec.net) });
      fast.freezeWeights();
      fast.forward(inputs);
      for (const blob of fast.outputs) {
        const file = spec.forward?.[blob];
        if (file === undefined) continue;
        const got = fast.blob(blob);
        const msg = compareTensor(snapshot(got.data, got.shape), readNpyAsFloat32(join(dir, file)), toleranceFor(spec, file, DEFAULT_TOLERANCE));
        if (msg) fail(`forward '${blob}' on the inference path (outputs only): ${msg}`);
      }
    }

    if (spec.backward || spec.param_diffs) {
      const diffs: Record<string, Float32Array> = {};
      for (const [blob, file] of Object.entries(spec.top_diffs ?? {})) diffs[blob] = readNpyAsFloat32(file).data;
      net.backward(diffs);
      for (const [blob, file] of Object.entries(spec.backward ?? {})) compare(`backward diff of '${blob}'`, file, net.blob(blob), true);
      for (const [layer, files] of Object.entries(spec.param_diffs ?? {})) {
        const blobs = net.layer(layer).blobs;
        files.forEach((file, i) => compare(`param diff ${i} of layer '${layer}'`, file, blobs[i], true));
      }
    }
  });
  return { name, ok: failures.length === 0, failures, produced };
}

export function readCaseJson(dir: string): NetCase {
  const file = join(dir, 'case.json');
  let spec: unknown;
  try {
    spec = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CaffeError(`${file}: ${e instanceof SyntaxError ? 'not valid JSON: ' : ''}${(e as Error).message}`);
  }
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) throw new CaffeError(`${file}: expected a JSON object`);
  return spec as NetCase;
}
