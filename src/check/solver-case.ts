// Solver cases (kind "solver", see fixtures/FORMAT.md): in the case folder, build the solver from
// its prototxt, load `weights` into the train net, then for each step k copy slice k of every
// feed (first axis = step) into its blob and run one solver step (the same data for all iter_size
// passes). losses[k] is blob `loss` after step k's last forward; params_after are every layer's
// parameter blobs (BatchNorm statistics included) after the last step.
import { join } from 'node:path';
import { readNpyAsFloat32 } from '../format/npy.js';
import { loadSolver } from '../solvers/registry.js';
import { compareTensor, toleranceFor, type Tolerance } from './compare.js';
import { inDir, type CaseResult } from './net-case.js';

export interface SolverCase {
  format?: number;
  kind: 'solver';
  name?: string;
  solver: string;
  net?: string;
  weights?: string;
  steps: number;
  feeds?: Record<string, string>;
  losses?: number[];
  params_after?: Record<string, string[]>;
  tolerance?: Tolerance;
  tensor_tolerance?: Record<string, Tolerance>;
}

export type SolverCaseResult = CaseResult & { files: Map<string, Uint8Array> };

const DEFAULT_TOLERANCE: Tolerance = { abs: 1e-5, rel: 5e-4 };

export function runSolverCase(dir: string, specIn: unknown, name: string): SolverCaseResult {
  const spec = specIn as SolverCase;
  const failures: string[] = [];
  const produced: CaseResult['produced'] = new Map();
  const files = new Map<string, Uint8Array>();
  const tol = spec.tolerance ?? DEFAULT_TOLERANCE;
  const losses: number[] = [];

  inDir(dir, () => {
    const solver = loadSolver(spec.solver);
    const net = solver.net;
    if (spec.weights) net.copyTrainedLayersFromFile(spec.weights);
    const feeds = Object.entries(spec.feeds ?? {}).map(([blob, file]) => {
      const t = readNpyAsFloat32(file);
      if (t.shape.length < 1 || t.shape[0] < spec.steps) {
        throw new Error(`feed '${file}' has shape (${t.shape.join(',')}); its first axis must cover ${spec.steps} steps`);
      }
      const shape = t.shape.slice(1);
      const per = shape.reduce((a, x) => a * x, 1);
      return { blob, shape, per, data: t.data };
    });
    for (let k = 0; k < spec.steps; k++) {
      const inputs: Record<string, { shape: number[]; data: Float32Array }> = {};
      for (const fd of feeds) inputs[fd.blob] = { shape: fd.shape, data: fd.data.subarray(k * fd.per, (k + 1) * fd.per) };
      net.setInputs(inputs);
      solver.step(1);
      losses.push(net.blobs.has('loss') ? net.blob('loss').data[0] : solver.lastLoss);
    }
    files.set('losses.json', Buffer.from(JSON.stringify(losses) + '\n', 'utf8'));

    const expected = spec.losses ?? [];
    if (expected.length !== losses.length && expected.length) {
      failures.push(`losses: ${losses.length} computed, ${expected.length} expected`);
    }
    for (let k = 0; k < Math.min(expected.length, losses.length); k++) {
      const e = expected[k];
      const g = losses[k];
      const limit = tol.abs + tol.rel * Math.abs(e);
      if (!(Math.abs(g - e) <= limit)) {
        failures.push(`loss after step ${k}: got ${g}, expected ${e} (error ${Math.abs(g - e).toPrecision(4)} exceeds ${limit.toPrecision(4)})`);
        break;
      }
    }

    for (const [layer, layerFiles] of Object.entries(spec.params_after ?? {})) {
      const blobs = net.layer(layer).blobs;
      if (blobs.length !== layerFiles.length) {
        failures.push(`layer '${layer}' has ${blobs.length} parameter blob(s), ${layerFiles.length} expected`);
        continue;
      }
      layerFiles.forEach((file, i) => {
        const t = { shape: blobs[i].shape.slice(), data: Float32Array.from(blobs[i].data) };
        produced.set(file, t);
        const msg = compareTensor(t, readNpyAsFloat32(join(dir, file)), toleranceFor(spec, file, DEFAULT_TOLERANCE));
        if (msg) failures.push(`param ${i} of layer '${layer}' after ${spec.steps} steps: ${msg}`);
      });
    }
  });
  return { name, ok: failures.length === 0, failures, produced, files };
}
