// Finite-difference gradient checker, after Caffe's GradientChecker: every layer with a
// backward pass is checked with it in addition to the Caffe fixtures, and layers of your own can
// be checked the same way (exported from the package as checkGradient).
//
// The objective is J = sum_t sum_i r_t[i] * top_t[i] with fixed random weights r, so one backward
// pass gives the analytic gradient for every bottom and parameter element; each element is then
// perturbed by +-stepsize and (J+ - J-) / (2 stepsize) compared with it, within
// threshold * max(|analytic|, |numeric|, 1). Elements within kinkRange of kink are skipped
// (non-differentiable points such as ReLU's 0).
import { Blob } from '../graph/blob.js';
import type { Layer } from '../layers/layer.js';
import { CaffeError } from '../util/errors.js';

export interface GradientCheckOptions {
  stepsize?: number;
  threshold?: number;
  kink?: number;
  kinkRange?: number;
  seed?: number;
  /** Bottom indices to check (default: all). */
  bottoms?: number[];
  /** Whether to check parameter blobs too (default: true). */
  params?: boolean;
  /** Called before every forward pass, e.g. to reseed a random layer. */
  beforeForward?: () => void;
}

/** Small deterministic PRNG for tests (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A blob of the given shape filled with uniform values in [lo, hi). */
export function randomBlob(shape: number[], seed = 1, lo = -1, hi = 1): Blob {
  const b = new Blob(shape);
  const r = rng(seed);
  for (let i = 0; i < b.count; i++) b.data[i] = lo + (hi - lo) * r();
  return b;
}

/** Throws a CaffeError naming the first element whose analytic and numeric gradients differ. */
export function checkGradient(layer: Layer, bottom: Blob[], top: Blob[], opts: GradientCheckOptions = {}): void {
  const stepsize = opts.stepsize ?? 1e-2;
  const threshold = opts.threshold ?? 1e-3;
  const kink = opts.kink ?? 0;
  const kinkRange = opts.kinkRange ?? -1;
  const r = rng(opts.seed ?? 1701);
  const checkBottoms = opts.bottoms ?? bottom.map((_, i) => i);

  layer.setUp(bottom, top);
  // Bottom diffs are cleared before the first forward (not between forward and backward, which
  // Caffe's GradientChecker does not do either): a layer may keep state in a bottom diff from
  // forward to backward, as HingeLoss does.
  for (const b of bottom) b.diff.fill(0);
  const forward = () => {
    opts.beforeForward?.();
    layer.forward(bottom, top);
  };
  forward();
  const weights = top.map((t) => Float64Array.from({ length: t.count }, () => 2 * r() - 1));
  const objective = (): number => {
    let j = 0;
    top.forEach((t, k) => {
      const w = weights[k];
      for (let i = 0; i < t.count; i++) j += w[i] * t.data[i];
    });
    return j;
  };

  // Analytic gradients. The top diffs are set after the bottom diffs were cleared: a top may share
  // its diff with a bottom (Reshape, Flatten), and the top diff must survive.
  for (const p of layer.blobs) p.diff.fill(0);
  top.forEach((t, k) => {
    for (let i = 0; i < t.count; i++) t.diff[i] = weights[k][i];
  });
  const propagate = bottom.map((_, i) => checkBottoms.includes(i));
  layer.backward(top, propagate, bottom);

  const targets: { blob: Blob; what: string }[] = [];
  for (const i of checkBottoms) targets.push({ blob: bottom[i], what: `bottom[${i}]` });
  if (opts.params ?? true) layer.blobs.forEach((p, i) => targets.push({ blob: p, what: `param[${i}]` }));
  // Snapshot analytic diffs before perturbing (forward passes may touch diffs of in-place blobs).
  const analytic = targets.map((t) => Float64Array.from(t.blob.diff));

  targets.forEach(({ blob, what }, ti) => {
    for (let i = 0; i < blob.count; i++) {
      const x = blob.data[i];
      if (kinkRange >= 0 && Math.abs(Math.abs(x) - kink) <= kinkRange) continue;
      blob.data[i] = x + stepsize;
      forward();
      const jp = objective();
      blob.data[i] = x - stepsize;
      forward();
      const jm = objective();
      blob.data[i] = x;
      const numeric = (jp - jm) / (2 * stepsize);
      const a = analytic[ti][i];
      const scale = Math.max(Math.abs(a), Math.abs(numeric), 1);
      if (Math.abs(a - numeric) > threshold * scale) {
        throw new CaffeError(`${layer.type} '${layer.name}': gradient of ${what}[${i}] analytic ${a} vs numeric ${numeric} (x=${x})`);
      }
    }
  });
  forward();
}
