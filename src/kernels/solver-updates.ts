// The solvers' per-parameter passes over a learnable blob's data, diff and history, as Caffe's
// *_solver.cpp compute them in float32 (every product and sum rounded to float). Runs of
// SIMD_MIN elements or more go to the WebAssembly SIMD kernels (simd.ts), which compute the same
// float32 operations four lanes at a time; the loops here run otherwise. On small nets these
// passes over every parameter cost more than the convolutions (V8 spends 2-4 ns per element).
import {
  adadeltaSimd, adamSimd, axpySimd, momentumSimd, nesterovSimd, rmsSimd, simdKernel, SIMD_MIN, subSimd, type SimdKernel,
} from './simd.js';

const f = Math.fround;

const kernelFor = (n: number): SimdKernel | null => (n >= SIMD_MIN ? simdKernel() : null);

/** d[i] += f(decay * w[i]): L2 weight decay (decay a float32 value). */
export function l2Decay(w: Float32Array, d: Float32Array, decay: number): void {
  const k = kernelFor(d.length);
  if (k) return axpySimd(k, w, d, d.length, decay);
  for (let i = 0; i < d.length; i++) d[i] += f(decay * w[i]);
}

/** w[i] -= d[i]: Net::Update. */
export function applyDiff(w: Float32Array, d: Float32Array): void {
  const k = kernelFor(w.length);
  if (k) return subSimd(k, w, d, w.length);
  for (let i = 0; i < w.length; i++) w[i] -= d[i];
}

/** SGD: h = m * h + lr * g; g = h. */
export function sgdUpdate(g: Float32Array, h: Float32Array, m: number, lr: number): void {
  const k = kernelFor(g.length);
  if (k) return momentumSimd(k, g, h, g.length, m, lr);
  for (let i = 0; i < g.length; i++) {
    const v = f(f(m * h[i]) + f(lr * g[i]));
    h[i] = v;
    g[i] = v;
  }
}

/** Nesterov: next = m * h + lr * g; g = -m * h + onePlusM * next; h = next. */
export function nesterovUpdate(g: Float32Array, h: Float32Array, m: number, lr: number, onePlusM: number): void {
  const k = kernelFor(g.length);
  if (k) return nesterovSimd(k, g, h, g.length, m, lr, onePlusM);
  for (let i = 0; i < g.length; i++) {
    const prev = h[i];
    const next = f(f(m * prev) + f(lr * g[i]));
    h[i] = next;
    g[i] = f(f(-m * prev) + f(onePlusM * next));
  }
}

/**
 * RMSProp: h = decay * h + oneMinus * g^2; g = lr * (g / (sqrt(h) + delta)). AdaGrad is the
 * same with decay = oneMinus = 1 (multiplying by 1 is exact and float addition commutes).
 */
export function rmsUpdate(g: Float32Array, h: Float32Array, decay: number, oneMinus: number, delta: number, lr: number): void {
  const k = kernelFor(g.length);
  if (k) return rmsSimd(k, g, h, g.length, decay, oneMinus, delta, lr);
  for (let i = 0; i < g.length; i++) {
    const gi = g[i];
    const hi = f(f(decay * h[i]) + f(oneMinus * f(gi * gi)));
    h[i] = hi;
    const u = f(gi / f(f(Math.sqrt(hi)) + delta));
    g[i] = f(lr * u);
  }
}

/** Adam: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; g = scale * m / (sqrt(v) + eps). */
export function adamUpdate(
  g: Float32Array, m: Float32Array, v: Float32Array, beta1: number, oneMinusB1: number, beta2: number, oneMinusB2: number,
  eps: number, scale: number,
): void {
  const k = kernelFor(g.length);
  if (k) return adamSimd(k, g, m, v, g.length, beta1, oneMinusB1, beta2, oneMinusB2, eps, scale);
  for (let i = 0; i < g.length; i++) {
    const gi = g[i];
    const mi = f(f(beta1 * m[i]) + f(oneMinusB1 * gi));
    m[i] = mi;
    const vi = f(f(beta2 * v[i]) + f(oneMinusB2 * f(gi * gi)));
    v[i] = vi;
    const u = f(mi / f(f(Math.sqrt(vi)) + eps));
    g[i] = f(scale * u);
  }
}

/**
 * AdaDelta: hg = m hg + (1 - m) g^2; step = g * sqrt((delta + hu) / (delta + hg));
 * hu = m hu + (1 - m) step^2; g = lr * step.
 */
export function adadeltaUpdate(
  g: Float32Array, hg: Float32Array, hu: Float32Array, m: number, oneMinus: number, delta: number, lr: number,
): void {
  const k = kernelFor(g.length);
  if (k) return adadeltaSimd(k, g, hg, hu, g.length, m, oneMinus, delta, lr);
  for (let i = 0; i < g.length; i++) {
    const gi = g[i];
    const hgi = f(f(m * hg[i]) + f(oneMinus * f(gi * gi)));
    hg[i] = hgi;
    const ratio = f(f(delta + hu[i]) / f(delta + hgi));
    const step = f(gi * f(Math.sqrt(ratio)));
    hu[i] = f(f(m * hu[i]) + f(oneMinus * f(step * step)));
    g[i] = f(lr * step);
  }
}
