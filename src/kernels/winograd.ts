// Winograd convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015)
// for 2-D 3x3 kernels, stride 1, dilation 1, any padding, one group: F(2x2,3x3) (tile 2) and
// F(4x4,3x3) (tile 4). An m x m output tile comes from an n x n input tile (n = m + 2) as
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A
// summed over the input channels. The sum over channels at each of the n*n transform positions
// is one GEMM (M x C times C x tiles, all tiles of the call in one product so the GEMM's packing
// amortises), through gemm() like im2col's: 16 / 4 = 4 multiply-adds per output and channel pair
// for F(2,3), 36 / 16 = 2.25 for F(4,3), against im2col's 9.
//
// Layout (all float32, row-major):
//   U  [n*n][M][C]        transformed weights (winogradWeights), the GEMMs' A operands
//   V  [n*n][C][T]        transformed input tiles, T = tiles of every sample in the batch chunk
//   Mt [n*n][M][T]        the products, then the output transform writes Y (+ bias) clipped
// (planes planeStride apart, not packed: see there).
// The transforms run in WebAssembly SIMD (wasm/winograd.wat, float32, four tiles per vector;
// 2-4x the JS ones): F(4,3)'s weight, input and output transforms, F(2,3)'s input and output
// ones. The JS versions here (doubles, one float32 rounding per stored value) run with
// CAFFE_TS_SIMD=js or without WebAssembly SIMD. They run on the calling thread only: with gemm()'s
// worker threads the products shrink and the transforms' share grows. The GEMM sums in float32.
// Error against a float64 convolution, as a share of the output's largest value: F(2,3) 2-4e-7
// (im2col + GEMM: 2-3e-7), F(4,3) 4e-6 - 1.2e-5 (its transforms hold 4s, 5s and 8s); see
// winogradTileFor for what that means for training.
//
// Calling it from a convolution layer (per forward, all samples at once):
//   tile = winogradApplies(geometry) ? winogradTileFor(C, M, Ho, Wo, { backward, cachedWeights }) : 0
//   if (tile) winogradConvForward({ num, channels, numOutput, height, width, padH, padW, tile },
//                                 bottom, weights, bias, top, cache?.get(weights, M, C, tile))
import { epilogueAt, gemmBatch, gemmStage, inSharedMemory, sharedArena, sharedKernelMemory, type GemmEpilogue, type GemmPackKey } from './gemm.js';
import { JOB_WINOGRAD_IN, JOB_WINOGRAD_OUT, evenBounds, poolThreads, splitJob } from './gemm-threads.js';
import { instanceOnShared, instantiateOnOwnMemory, MAX_PAGES, poolKernelModule } from './simd.js';

export type WinogradTile = 2 | 4;

/** What winogradApplies needs of a convolution (BaseConvolutionLayer's geom + group + axes). */
export interface WinogradGeometry {
  kernel: ArrayLike<number>;
  stride: ArrayLike<number>;
  pad: ArrayLike<number>;
  dilation: ArrayLike<number>;
  group: number;
  /** Deconvolution and force_nd_im2col layers are not handled. */
  reverse?: boolean;
  forceNd?: boolean;
}

/** One forward call: `num` samples of C x H x W in, M x Ho x Wo out (Ho = H + 2 padH - 2). */
export interface WinogradConfig {
  num: number;
  channels: number;
  numOutput: number;
  height: number;
  width: number;
  padH: number;
  padW: number;
  tile: WinogradTile;
}

/** True when the kernels here compute this convolution: 2-D, 3x3, stride 1, dilation 1, group 1. */
export function winogradApplies(g: WinogradGeometry): boolean {
  const { kernel: k, stride: s, dilation: d, pad: p } = g;
  return (
    !g.reverse && !g.forceNd && g.group === 1 && k.length === 2 &&
    k[0] === 3 && k[1] === 3 && s[0] === 1 && s[1] === 1 && d[0] === 1 && d[1] === 1 && p[0] >= 0 && p[1] >= 0
  );
}

/** What the tile choice depends on besides the shape. */
export interface WinogradChoice {
  /** U comes from a cache (a frozen convolution's): no weight transform per call. */
  cachedWeights?: boolean;
  /** A backward pass will use this forward's output (TRAIN phase): im2col + GEMM, see below. */
  backward?: boolean;
}

/**
 * The tile that pays for this shape, or 0 when im2col + GEMM is as fast (bench/winograd.ts, one
 * thread, CPU time, ResNet-50 / GoogLeNet / SqueezeNet / Inception-BN 3x3 shapes; old/new):
 *            56x56     28x28     13x13-14x14            7x7              16 -> 32..64 ch  8 -> 16  3 -> 16..64
 *   F(4,3)   3.0-3.3x  2.2-2.6x  1.1-1.3x (cached 1.8-2.0) 0.45-0.55 (cached 0.9)  1.55-2.0x  1.0x      0.8-0.95x
 *   F(2,3)   2.0x      1.7-1.8x  1.1-1.3x (cached 1.4-1.8) 0.85 (cached 1.4-1.5)    1.1-1.2x   0.8x      0.5x
 * Few channels leave too little GEMM work to repay the transforms; on small images the products
 * get thin and, when U is recomputed every call, the weight transform (O(M C), against the
 * products' O(M C T)) eats the gain: F(4,3)'s U is 36 M C floats, F(2,3)'s 16. Where the two tie
 * (13x13-14x14 without a cache) F(2,3) is taken for its accuracy.
 * Accuracy: F(2,3)'s error is the GEMM path's (2-4e-7 of the output's range), F(4,3)'s 10-30x
 * that: both pass every TEST reference case (forward only) by a wide margin. Before a backward
 * they are not taken: one pre-ReLU value that lands on the other side of zero moves the weight
 * gradients below it by ~1e-3 (a single flipped value at 1.2e-6, a float32 rounding of that
 * layer's outputs, fails the vgg16 TRAIN case with either tile in SIMD; F(4,3) also fails
 * resnet50 TRAIN). The GEMM path sums as Caffe's BLAS does and keeps those signs.
 */
export function winogradTileFor(channels: number, numOutput: number, outH: number, outW: number, choice: WinogradChoice = {}): WinogradTile | 0 {
  if (choice.backward || channels < 16 || numOutput < 32) return 0;
  const tiles4 = Math.ceil(outH / 4) * Math.ceil(outW / 4);
  const tiles2 = Math.ceil(outH / 2) * Math.ceil(outW / 2);
  const cached = !!choice.cachedWeights;
  if (tiles4 >= (cached ? 16 : 36)) return 4;
  return tiles2 >= (cached ? 16 : 49) ? 2 : 0;
}

/** Output extent along one axis for a 3x3 stride-1 kernel. */
function outSize(input: number, pad: number): number {
  return input + 2 * pad - 2;
}

// ---- weight transform: U = G g G^T --------------------------------------------------------

/**
 * U[p][m][c] for weights M x C x 3 x 3 (row-major). `out` (n*n*M*C floats) is reused when given.
 * O(M C n^2): cheap next to the products on large images, but measurable on small ones (C = M =
 * 512 at 7x7): cache it when the caller knows the weights have not changed.
 */
export function winogradWeights(weights: Float32Array, M: number, C: number, tile: WinogradTile, out?: Float32Array): Float32Array {
  const size = winogradWeightsSize(M, C, tile);
  const U = out && out.length >= size ? out : new Float32Array(size);
  const k = tile === 4 ? simdKernel() : null;
  const h = k && reserve(k, SIMD_BASE + 4 * (weights.length + size) + 64);
  if (k && h) {
    const Ub = simdWeights(k, h, weights, M * C, SIMD_BASE);
    U.set(h.subarray(Ub >> 2, (Ub >> 2) + size));
  } else if (tile === 2) weightTiles2(weights, M * C, planeStride(M * C), U);
  else weightTiles4(weights, 0, M * C, planeStride(M * C), U);
  return U;
}

/** Floats winogradWeights writes: n*n planes of M x C, padded (planeStride). */
export function winogradWeightsSize(M: number, C: number, tile: WinogradTile): number {
  return (tile + 2) * (tile + 2) * planeStride(M * C);
}

/**
 * Distance between the n*n planes of U, V and Mt: the transforms read or write one value in
 * each plane per tile, and planes 4 KiB apart (any count that is a multiple of 1024) would all
 * fall in one L1 set (3x slower measured); an odd number of 64-byte lines spreads them.
 */
function planeStride(count: number): number {
  const lines = Math.ceil(count / 16);
  return 16 * (lines % 2 === 0 ? lines + 1 : lines);
}

// G (F(2,3)) = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
function weightTiles2(w: Float32Array, count: number, MC: number, U: Float32Array): void {
  for (let o = 0, k = 0; o < count; o++, k += 9) {
    const g00 = w[k], g01 = w[k + 1], g02 = w[k + 2];
    const g10 = w[k + 3], g11 = w[k + 4], g12 = w[k + 5];
    const g20 = w[k + 6], g21 = w[k + 7], g22 = w[k + 8];
    // G g: rows g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2.
    const a0 = 0.5 * (g00 + g10 + g20), a1 = 0.5 * (g01 + g11 + g21), a2 = 0.5 * (g02 + g12 + g22);
    const b0 = 0.5 * (g00 - g10 + g20), b1 = 0.5 * (g01 - g11 + g21), b2 = 0.5 * (g02 - g12 + g22);
    // ... times G^T: the same combination of each row's three entries.
    let u = o;
    U[u] = g00; U[u + MC] = 0.5 * (g00 + g01 + g02); U[u + 2 * MC] = 0.5 * (g00 - g01 + g02); U[u + 3 * MC] = g02;
    u += 4 * MC;
    U[u] = a0; U[u + MC] = 0.5 * (a0 + a1 + a2); U[u + 2 * MC] = 0.5 * (a0 - a1 + a2); U[u + 3 * MC] = a2;
    u += 4 * MC;
    U[u] = b0; U[u + MC] = 0.5 * (b0 + b1 + b2); U[u + 2 * MC] = 0.5 * (b0 - b1 + b2); U[u + 3 * MC] = b2;
    u += 4 * MC;
    U[u] = g20; U[u + MC] = 0.5 * (g20 + g21 + g22); U[u + 2 * MC] = 0.5 * (g20 - g21 + g22); U[u + 3 * MC] = g22;
  }
}

const gScratch = new Float64Array(18);
const S6 = 1 / 6;
const S12 = 1 / 12;
const S24 = 1 / 24;

// G (F(4,3)) rows: [1/4 0 0] [-1/6 -1/6 -1/6] [-1/6 1/6 -1/6] [1/24 1/12 1/6] [1/24 -1/12 1/6] [0 0 1]
function weightTiles4(w: Float32Array, start: number, count: number, MC: number, U: Float32Array): void {
  const t = gScratch; // G g: 6 rows x 3 columns
  for (let o = start, k = 9 * start; o < count; o++, k += 9) {
    for (let j = 0; j < 3; j++) {
      const g0 = w[k + j], g1 = w[k + 3 + j], g2 = w[k + 6 + j];
      const e = g0 + g2;
      const q = g0 * S24 + g2 * S6;
      const h = g1 * S12;
      t[j] = 0.25 * g0;
      t[3 + j] = -(e + g1) * S6;
      t[6 + j] = (g1 - e) * S6;
      t[9 + j] = q + h;
      t[12 + j] = q - h;
      t[15 + j] = g2;
    }
    for (let i = 0, u = o; i < 18; i += 3, u += 6 * MC) {
      const g0 = t[i], g1 = t[i + 1], g2 = t[i + 2];
      const e = g0 + g2;
      const q = g0 * S24 + g2 * S6;
      const h = g1 * S12;
      U[u] = 0.25 * g0;
      U[u + MC] = -(e + g1) * S6;
      U[u + 2 * MC] = (g1 - e) * S6;
      U[u + 3 * MC] = q + h;
      U[u + 4 * MC] = q - h;
      U[u + 5 * MC] = g2;
    }
  }
}

// ---- scratch -------------------------------------------------------------------------------

let planeBuf: Float32Array = new Float32Array(0);
let vBuf: Float32Array = new Float32Array(0);
let mBuf: Float32Array = new Float32Array(0);
let uBuf: Float32Array = new Float32Array(0);
const grow = (a: Float32Array, n: number): Float32Array => (a.length >= n ? a : new Float32Array(Math.max(n, Math.ceil(a.length * 1.5))));

/** Floats of V (or Mt) a batch chunk may take: bounds the scratch for large batches. */
const CHUNK_FLOATS = 4 << 20;

// ---- WebAssembly SIMD transforms (wasm/winograd.wat: F(4,3) only) ---------------------------

interface WinogradExports {
  memory: WebAssembly.Memory;
  pad(src: number, H: number, W: number, dst: number, pw: number, padH: number, padW: number): void;
  input4(P: number, pw: number, th: number, tw: number, V: number, ps: number, S: number): void;
  weights4(w: number, count: number, U: number, ps: number, S: number): void;
  input2(P: number, pw: number, th: number, tw: number, V: number, ps: number, S: number): void;
  output2(M: number, ps: number, th: number, tw: number, Y: number, Ho: number, Wo: number, bias: number, S: number): void;
  output4(M: number, ps: number, th: number, tw: number, Y: number, Ho: number, Wo: number, bias: number, S: number): void;
}

let simdOn = !(typeof process === 'object' && process.env?.CAFFE_TS_SIMD === 'js');
let simdModule: WinogradExports | null | undefined;

function simdKernel(): WinogradExports | null {
  if (!simdOn) return null;
  if (simdModule === undefined) {
    // No file or no WebAssembly SIMD: the JS transforms run.
    let ex: WinogradExports | string;
    try {
      ex = instantiateOnOwnMemory<WinogradExports>('winograd.wasm');
    } catch (e) {
      // A page's main thread may refuse to compile synchronously.
      ex = (e as Error).message;
    }
    simdModule = typeof ex === 'string' ? null : ex;
  }
  return simdModule;
}

// The module on the GEMM's shared memory, for samples that live there (the inference arena):
// transforms read the input and write the output in place, and V and Mt lie in a scratch region
// of that memory, so the products read and write them in place too (no copies at all).
const sharedModule = typeof WebAssembly === 'object' && sharedKernelMemory() !== null ? poolKernelModule('winograd', 'winograd.wasm') : null;
let sharedScratch: { data: Float32Array; owner: object } | null = null;

/** The instance on the shared memory, when x and y are views of it; else null. */
function sharedKernel(x: Float32Array, y: Float32Array): WinogradExports | null {
  const memory = sharedKernelMemory();
  if (!simdOn || sharedModule === null || memory === null || !inSharedMemory(x) || !inSharedMemory(y)) return null;
  return instanceOnShared<WinogradExports>(sharedModule, memory);
}

/** A region of at least `floats` floats in the shared memory for V, Mt and the plane; null if none. */
function sharedRegion(floats: number): Float32Array | null {
  if (sharedScratch === null || sharedScratch.data.length < floats) {
    sharedScratch = sharedArena(Math.max(floats, Math.ceil((sharedScratch?.data.length ?? 0) * 1.25)));
  }
  return sharedScratch?.data ?? null;
}

/** Module memory below this is the kernels' scratch. */
const SIMD_BASE = 2048;
const at64 = (bytes: number) => Math.ceil(bytes / 64) * 64;

/** A view of the module's memory grown to `bytes`, or null past its cap. */
function reserve(k: WinogradExports, bytes: number): Float32Array | null {
  const mem = k.memory;
  if (mem.buffer.byteLength < bytes) {
    const pages = Math.ceil((bytes - mem.buffer.byteLength) / 65536);
    if (mem.buffer.byteLength / 65536 + pages > MAX_PAGES) return null;
    mem.grow(pages);
  }
  return new Float32Array(mem.buffer);
}

/**
 * F(4,3)'s U of `count` kernels, computed in the module's memory from `at` (the weights, then U);
 * returns U's byte address. The kernels past the last multiple of 4 take the JS loop.
 */
function simdWeights(k: WinogradExports, h: Float32Array, weights: Float32Array, count: number, at: number): number {
  const Ub = at64(at + 4 * weights.length);
  const us = planeStride(count);
  h.set(weights, at >> 2);
  const four = count & ~3;
  k.weights4(at, four, Ub, 4 * us, 0);
  if (four < count) weightTiles4(h.subarray(at >> 2), four, count, us, h.subarray(Ub >> 2));
  // The gaps between the planes hold what the memory held: zeros, as the JS transform leaves.
  for (let p = 0, u = Ub >> 2; p < 36; p++, u += us) h.fill(0, u + count, u + us);
  return Ub;
}

/** Tests: turns the SIMD transforms off (JS transforms) or on; returns the previous setting. */
export function setWinogradSimd(on: boolean): boolean {
  const old = simdOn;
  simdOn = on;
  return old;
}

/** Which input/output transforms the forward runs: 'wasm-simd' or 'js'. */
export function winogradBackend(): 'wasm-simd' | 'js' {
  return simdKernel() ? 'wasm-simd' : 'js';
}

// ---- forward --------------------------------------------------------------------------------

/** One call's geometry (tiles, padded plane), shared by the chunk drivers. */
interface Plan {
  /** Pack keys of U's n*n planes (the caller's cached U: gemm keeps them packed), or null. */
  keys: readonly GemmPackKey[] | null;
  C: number;
  M: number;
  H: number;
  W: number;
  padH: number;
  padW: number;
  Ho: number;
  Wo: number;
  tile: WinogradTile;
  nn: number;
  th: number;
  tw: number;
  perImage: number;
  ph: number;
  pw: number;
}

/**
 * output (num x M x Ho x Wo) = conv3x3(input (num x C x H x W), weights) + bias, overwriting
 * output. `transformed` is winogradWeights(weights, M, C, cfg.tile) when the caller caches it
 * (a frozen convolution does); without it the weights are transformed here,
 * once per call. `keys` (n*n of them, with `transformed` only) let gemm() keep U's planes packed
 * between calls, as a frozen layer's weights.
 */
export function winogradConvForward(
  cfg: WinogradConfig,
  input: Float32Array,
  weights: Float32Array,
  bias: Float32Array | null,
  output: Float32Array,
  transformed?: Float32Array,
  keys?: readonly GemmPackKey[],
  epi: WinogradEpilogue | null = null,
): boolean {
  const { num, channels: C, numOutput: M, height: H, width: W, padH, padW, tile } = cfg;
  const Ho = outSize(H, padH);
  const Wo = outSize(W, padW);
  if (Ho <= 0 || Wo <= 0) throw new Error(`winograd: 3x3 kernel larger than the padded ${H}x${W} input (pad ${padH},${padW})`);
  const nn = (tile + 2) * (tile + 2);
  const th = Math.ceil(Ho / tile);
  const tw = Math.ceil(Wo / tile);
  // The zero-padded plane covers every tile (they may overhang the padded input).
  const plan: Plan = { keys: transformed && keys && keys.length === nn ? keys : null, C, M, H, W, padH, padW, Ho, Wo, tile, nn, th, tw, perImage: th * tw, ph: th * tile + 2, pw: tw * tile + 2 };
  const chunk = Math.max(1, Math.min(num, Math.floor(CHUNK_FLOATS / (nn * Math.max(C, M) * plan.perImage))));
  const inDim = C * H * W;
  const outDim = M * Ho * Wo;
  let U = transformed;
  // SIMD transforms: the chunks' buffers (and F(4,3)'s U unless given) in the module's memory,
  // reserved at once (growing it later would detach the views of U).
  let k = simdKernel();
  let h: Float32Array | null = null;
  let base = SIMD_BASE;
  if (k) {
    const uBytes = U || tile === 2 ? 0 : at64(4 * weights.length) + 4 * winogradWeightsSize(M, C, 4) + 64;
    h = reserve(k, base + uBytes + simdChunkBytes(plan, chunk));
    if (h === null) k = null;
    else if (uBytes > 0) {
      const Ub = simdWeights(k, h, weights, M * C, base);
      U = h.subarray(Ub >> 2, (Ub >> 2) + winogradWeightsSize(M, C, 4));
      base = at64(Ub + 4 * U.length);
    }
  }
  if (!U) {
    uBuf = grow(uBuf, winogradWeightsSize(M, C, tile));
    U = winogradWeights(weights, M, C, tile, uBuf);
  }
  // Every chunk on the shared memory (its region sized for the largest), or none: `epi` is
  // applied there, else left to the caller, for the whole output.
  let ks = k ? sharedKernel(input, output) : null;
  if (ks && sharedRegion(sharedLayout(plan, chunk, poolThreads()).end >> 2) === null) ks = null;
  for (let n0 = 0; n0 < num; n0 += chunk) {
    const nb = Math.min(chunk, num - n0);
    const x = input.subarray(n0 * inDim, (n0 + nb) * inDim);
    const y = output.subarray(n0 * outDim, (n0 + nb) * outDim);
    if (ks) sharedChunk(ks, plan, nb, x, U, bias, y, epi);
    else if (k && h) simdChunk(k, h, base, plan, nb, x, U, bias, y);
    else jsChunk(plan, nb, x, U, bias, y);
  }
  return ks !== null && epi !== null;
}

function products(p: Plan, T: number, U: Float32Array, V: Float32Array, vs: number, Mt: Float32Array, ms: number): void {
  const { M, C } = p;
  const us = planeStride(M * C);
  const q = Array.from({ length: p.nn }, (_, i) => i);
  gemmBatch(M, T, C, q.map((i) => U.subarray(i * us, i * us + M * C)), q.map((i) => V.subarray(i * vs, i * vs + C * T)),
    q.map((i) => Mt.subarray(i * ms, i * ms + M * T)), q.map((i) => p.keys?.[i]));
}

/** nb samples with the JS transforms. */
function jsChunk(p: Plan, nb: number, x: Float32Array, U: Float32Array, bias: Float32Array | null, y: Float32Array): void {
  const { C, M, H, W, Ho, Wo, th, tw, perImage, pw, nn, tile } = p;
  const T = nb * perImage;
  const vs = planeStride(C * T);
  const ms = planeStride(M * T);
  planeBuf = grow(planeBuf, p.ph * pw);
  const plane = planeBuf.subarray(0, p.ph * pw);
  plane.fill(0); // each channel then overwrites the interior only
  // V straight into the GEMM kernel's memory when it takes it (one B region for all n*n products).
  let V = gemmStage(nn * vs, M, T, C);
  if (V === null) {
    vBuf = grow(vBuf, nn * vs);
    V = vBuf;
  }
  for (let s = 0; s < nb; s++) {
    for (let c = 0; c < C; c++) {
      padChannel(x, (s * C + c) * H * W, H, W, plane, pw, p.padH, p.padW);
      if (tile === 2) inputTiles2(plane, pw, th, tw, V, c * T + s * perImage, vs);
      else inputTiles4(plane, pw, th, tw, V, c * T + s * perImage, vs);
    }
  }
  mBuf = grow(mBuf, nn * ms);
  products(p, T, U, V, vs, mBuf, ms);
  for (let s = 0; s < nb; s++) {
    for (let m = 0; m < M; m++) {
      const b = bias ? bias[m] : 0;
      const src = m * T + s * perImage;
      const dst = (s * M + m) * Ho * Wo;
      if (tile === 2) outputTiles2(mBuf, src, ms, th, tw, y, dst, Ho, Wo, b);
      else outputTiles4(mBuf, src, ms, th, tw, y, dst, Ho, Wo, b);
    }
  }
}

/** Byte offsets of one chunk's buffers from `base` in the module's memory, and their end. */
function simdLayout(p: Plan, nb: number, base: number): { X: number; P: number; V: number; Mt: number; Y: number; end: number } {
  const T = nb * p.perImage;
  const X = base;
  const P = at64(X + 4 * nb * p.C * p.H * p.W);
  const V = at64(P + 4 * (p.ph * p.pw + 32)); // the last tile row's dropped lanes read past the plane
  const Mt = at64(V + 4 * p.nn * planeStride(p.C * T));
  const Y = at64(Mt + 4 * (p.nn * planeStride(p.M * T) + 16)); // ... and past Mt's last plane
  return { X, P, V, Mt, Y, end: Y + 4 * nb * p.M * p.Ho * p.Wo };
}

function simdChunkBytes(p: Plan, nb: number): number {
  return simdLayout(p, nb, 0).end;
}

/**
 * nb samples with the SIMD transforms, in the module's memory h (reserved for them from `base`):
 * the samples, the padded plane, V, Mt, the outputs. The products read V and write Mt through
 * views of it (gemm copies them in and out, as any operand).
 */
function simdChunk(
  k: WinogradExports, h: Float32Array, base: number, p: Plan, nb: number, x: Float32Array, U: Float32Array, bias: Float32Array | null, y: Float32Array,
): void {
  const { C, M, H, W, Ho, Wo, th, tw, perImage, pw } = p;
  const T = nb * perImage;
  const vs = planeStride(C * T);
  const ms = planeStride(M * T);
  const { X, P, V, Mt, Y } = simdLayout(p, nb, base);
  h.set(x, X >> 2);
  h.fill(0, P >> 2, (P >> 2) + p.ph * pw + 32);
  for (let s = 0; s < nb; s++) {
    for (let c = 0; c < C; c++) {
      k.pad(X + 4 * (s * C + c) * H * W, H, W, P, pw, p.padH, p.padW);
      if (p.tile === 4) k.input4(P, pw, th, tw, V + 4 * (c * T + s * perImage), 4 * vs, 0);
      else k.input2(P, pw, th, tw, V + 4 * (c * T + s * perImage), 4 * vs, 0);
    }
  }
  products(p, T, U, h.subarray(V >> 2), vs, h.subarray(Mt >> 2), ms);
  for (let s = 0; s < nb; s++) {
    for (let m = 0; m < M; m++) {
      const o = Mt + 4 * (m * T + s * perImage);
      const q = Y + 4 * (s * M + m) * Ho * Wo;
      if (p.tile === 4) k.output4(o, 4 * ms, th, tw, q, Ho, Wo, bias ? bias[m] : 0, 0);
      else k.output2(o, 4 * ms, th, tw, q, Ho, Wo, bias ? bias[m] : 0, 0);
    }
  }
  y.set(h.subarray(Y >> 2, (Y >> 2) + y.length));
}

/**
 * sharedChunk's region, byte offsets from its start: per thread the transforms' scratch (1152
 * bytes at most) and a padded plane (+ the lanes read past it); the epilogue's (or bias) vectors;
 * V; Mt (+ the lanes read past its last plane).
 */
function sharedLayout(p: Plan, nb: number, threads: number): { planeFloats: number; per: number; vec: number; V: number; Mt: number; end: number } {
  const T = nb * p.perImage;
  const planeFloats = p.ph * p.pw + 32;
  const per = at64(1152 + 4 * planeFloats);
  const vec = threads * per;
  const V = at64(vec + 8 * p.M);
  const Mt = at64(V + 4 * p.nn * planeStride(p.C * T));
  return { planeFloats, per, vec, V, Mt, end: Mt + 4 * (p.nn * planeStride(p.M * T) + 16) };
}

/** What a convolution applies to each output channel after the transform: gemm.wat's epilogue, without a shortcut. */
export type WinogradEpilogue = Omit<GemmEpilogue, 'shortcut'>;

/**
 * simdChunk for samples in the shared memory (see sharedKernel): the same transforms and products
 * in the same order, so the same bits, with x read and y written where they lie and the scratch
 * in a region of that memory. The input transform is split by channels and the output transform
 * by output channels between the pool's threads (each with its own scratch and padded plane), the
 * products go whole to them (gemmBatch), and `epi`, when given, is applied to each output plane
 * right after its transform. The caller has made the region large enough (sharedRegion).
 */
function sharedChunk(
  k: WinogradExports, p: Plan, nb: number, x: Float32Array, U: Float32Array, bias: Float32Array | null, y: Float32Array, epi: WinogradEpilogue | null,
): void {
  const { C, M, H, W, Ho, Wo, th, tw, perImage, pw } = p;
  const T = nb * perImage;
  const vs = planeStride(C * T);
  const ms = planeStride(M * T);
  const threads = poolThreads();
  const { planeFloats, per, vec, V, Mt, end } = sharedLayout(p, nb, threads);
  const region = sharedRegion(end >> 2)!;
  const at = region.byteOffset;
  const pa = at + vec;
  const pb = pa + 4 * M;
  let ef = 0;
  if (epi) {
    if (epi.a) region.set(epi.a.subarray(0, M), vec >> 2);
    region.set(epi.b.subarray(0, M), (vec >> 2) + M);
    ef = 8 | (epi.a ? 1 : 0) | (epi.relu ? 2 : 0);
  } else if (bias) region.set(bias.subarray(0, M), (vec >> 2) + M);
  const X = x.byteOffset;
  const Y = y.byteOffset;
  const common = [at, per, 0, nb, p.tile, th, tw, T, perImage];

  // Input transform, channels split (thread 0's plane zeroed here; the workers zero theirs).
  region.fill(0, (1152 >> 2), (1152 >> 2) + planeFloats);
  const inBounds = evenBounds(C, Math.min(C, 8 * threads, 64));
  common[2] = inBounds.length - 1;
  const inputs = (c0: number, c1: number): void => {
    for (let s = 0; s < nb; s++) {
      for (let c = c0; c < c1; c++) {
        k.pad(X + 4 * (s * C + c) * H * W, H, W, at + 1152, pw, p.padH, p.padW);
        if (p.tile === 4) k.input4(at + 1152, pw, th, tw, at + V + 4 * (c * T + s * perImage), 4 * vs, at);
        else k.input2(at + 1152, pw, th, tw, at + V + 4 * (c * T + s * perImage), 4 * vs, at);
      }
    }
  };
  if (threads < 2 || !splitJob(JOB_WINOGRAD_IN, [...common, X, C, H, W, pw, p.padH, p.padW, at + V, 4 * vs, planeFloats], inBounds, (_c, c0, c1) => inputs(c0, c1))) {
    inputs(0, C);
  }

  products(p, T, U, region.subarray(V >> 2, (V >> 2) + p.nn * vs), vs, region.subarray(Mt >> 2, (Mt >> 2) + p.nn * ms), ms);

  // Output transform (then the epilogue), output channels split.
  const outBounds = evenBounds(M, Math.min(M, 8 * threads, 64));
  common[2] = outBounds.length - 1;
  const outputs = (m0: number, m1: number): void => {
    for (let s = 0; s < nb; s++) {
      for (let m = m0; m < m1; m++) {
        const o = at + Mt + 4 * (m * T + s * perImage);
        const q = Y + 4 * (s * M + m) * Ho * Wo;
        const b = !epi && bias ? bias[m] : 0;
        if (p.tile === 4) k.output4(o, 4 * ms, th, tw, q, Ho, Wo, b, at);
        else k.output2(o, 4 * ms, th, tw, q, Ho, Wo, b, at);
        if (ef) epilogueAt(ef, q, Ho * Wo, pa + 4 * m, pb + 4 * m);
      }
    }
  };
  const outArgs = [...common, at + Mt, 4 * ms, Y, M, Ho, Wo, !epi && bias ? pb : 0, ef, pa, pb];
  if (threads < 2 || !splitJob(JOB_WINOGRAD_OUT, outArgs, outBounds, (_c, m0, m1) => outputs(m0, m1))) outputs(0, M);
}

/** Copies channel plane x[off..] (H x W) into the padded plane at (padH, padW). */
function padChannel(x: Float32Array, off: number, H: number, W: number, plane: Float32Array, pw: number, padH: number, padW: number): void {
  // The plane extends past the padded input when the tiles overhang; rows/cols beyond the
  // input stay zero from the initial fill.
  for (let y = 0; y < H; y++) plane.set(x.subarray(off + y * W, off + (y + 1) * W), (y + padH) * pw + padW);
}

// ---- F(2x2,3x3) ----------------------------------------------------------------------------
// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]    A^T = [1 1 1 0; 0 1 -1 -1]

/** V[p * ps + o + tile index] = (B^T d B)_p for every 4x4 tile (stride 2) of the plane. */
function inputTiles2(P: Float32Array, pw: number, th: number, tw: number, V: Float32Array, o: number, ps: number): void {
  let t = o;
  for (let i = 0; i < th; i++) {
    let r0 = 2 * i * pw;
    for (let j = 0; j < tw; j++, t++, r0 += 2) {
      const r1 = r0 + pw, r2 = r1 + pw, r3 = r2 + pw;
      // B^T d: combine rows, per column.
      const a0 = P[r0] - P[r2], a1 = P[r0 + 1] - P[r2 + 1], a2 = P[r0 + 2] - P[r2 + 2], a3 = P[r0 + 3] - P[r2 + 3];
      const b0 = P[r1] + P[r2], b1 = P[r1 + 1] + P[r2 + 1], b2 = P[r1 + 2] + P[r2 + 2], b3 = P[r1 + 3] + P[r2 + 3];
      const c0 = P[r2] - P[r1], c1 = P[r2 + 1] - P[r1 + 1], c2 = P[r2 + 2] - P[r1 + 2], c3 = P[r2 + 3] - P[r1 + 3];
      const d0 = P[r1] - P[r3], d1 = P[r1 + 1] - P[r3 + 1], d2 = P[r1 + 2] - P[r3 + 2], d3 = P[r1 + 3] - P[r3 + 3];
      // ... then B on the right: combine columns, per row.
      V[t] = a0 - a2; V[t + ps] = a1 + a2; V[t + 2 * ps] = a2 - a1; V[t + 3 * ps] = a1 - a3;
      V[t + 4 * ps] = b0 - b2; V[t + 5 * ps] = b1 + b2; V[t + 6 * ps] = b2 - b1; V[t + 7 * ps] = b1 - b3;
      V[t + 8 * ps] = c0 - c2; V[t + 9 * ps] = c1 + c2; V[t + 10 * ps] = c2 - c1; V[t + 11 * ps] = c1 - c3;
      V[t + 12 * ps] = d0 - d2; V[t + 13 * ps] = d1 + d2; V[t + 14 * ps] = d2 - d1; V[t + 15 * ps] = d1 - d3;
    }
  }
}

/** y[dst + (2i+a) * Wo + 2j+b] = (A^T Mt A)_ab + bias for every tile, clipped to Ho x Wo. */
function outputTiles2(
  Mt: Float32Array, o: number, ps: number, th: number, tw: number, y: Float32Array, dst: number, Ho: number, Wo: number, bias: number,
): void {
  let t = o;
  for (let i = 0; i < th; i++) {
    const full = 2 * i + 2 <= Ho;
    for (let j = 0; j < tw; j++, t++) {
      const m0 = Mt[t], m1 = Mt[t + ps], m2 = Mt[t + 2 * ps], m3 = Mt[t + 3 * ps];
      const m4 = Mt[t + 4 * ps], m5 = Mt[t + 5 * ps], m6 = Mt[t + 6 * ps], m7 = Mt[t + 7 * ps];
      const m8 = Mt[t + 8 * ps], m9 = Mt[t + 9 * ps], m10 = Mt[t + 10 * ps], m11 = Mt[t + 11 * ps];
      const m12 = Mt[t + 12 * ps], m13 = Mt[t + 13 * ps], m14 = Mt[t + 14 * ps], m15 = Mt[t + 15 * ps];
      // A^T m: rows 0+1+2 and 1-2-3, per column.
      const s0 = m0 + m4 + m8, s1 = m1 + m5 + m9, s2 = m2 + m6 + m10, s3 = m3 + m7 + m11;
      const d0 = m4 - m8 - m12, d1 = m5 - m9 - m13, d2 = m6 - m10 - m14, d3 = m7 - m11 - m15;
      const q = dst + 2 * i * Wo + 2 * j;
      if (full && 2 * j + 2 <= Wo) {
        y[q] = s0 + s1 + s2 + bias;
        y[q + 1] = s1 - s2 - s3 + bias;
        y[q + Wo] = d0 + d1 + d2 + bias;
        y[q + Wo + 1] = d1 - d2 - d3 + bias;
      } else {
        const right = 2 * j + 1 < Wo;
        y[q] = s0 + s1 + s2 + bias;
        if (right) y[q + 1] = s1 - s2 - s3 + bias;
        if (2 * i + 1 < Ho) {
          y[q + Wo] = d0 + d1 + d2 + bias;
          if (right) y[q + Wo + 1] = d1 - d2 - d3 + bias;
        }
      }
    }
  }
}

// ---- F(4x4,3x3) ----------------------------------------------------------------------------
// B^T rows: [4 0 -5 0 1 0] [0 -4 -4 1 1 0] [0 4 -4 -1 1 0] [0 -2 -1 2 1 0] [0 2 -1 -2 1 0] [0 4 0 -5 0 1]
// A^T rows: [1 1 1 1 1 0] [0 1 -1 2 -2 0] [0 1 1 4 4 0] [0 1 -1 8 -8 1]

const tileScratch = new Float64Array(36);

/** V[p * ps + o + tile index] = (B^T d B)_p for every 6x6 tile (stride 4) of the plane. */
function inputTiles4(P: Float32Array, pw: number, th: number, tw: number, V: Float32Array, o: number, ps: number): void {
  const w = tileScratch;
  let t = o;
  for (let i = 0; i < th; i++) {
    let r = 4 * i * pw;
    for (let j = 0; j < tw; j++, t++, r += 4) {
      // B^T d, one column at a time (w is 6 x 6, row-major) ...
      for (let k = 0; k < 6; k++) {
        const q = r + k;
        const d0 = P[q], d1 = P[q + pw], d2 = P[q + 2 * pw], d3 = P[q + 3 * pw], d4 = P[q + 4 * pw], d5 = P[q + 5 * pw];
        const e = d4 - 4 * d2; // shared by rows 1, 2
        const f = d4 - d2; // rows 3, 4
        const g = 4 * d1 - d3;
        const h = 2 * (d1 - d3);
        w[k] = 4 * d0 - 5 * d2 + d4;
        w[6 + k] = e - g;
        w[12 + k] = e + g;
        w[18 + k] = f - h;
        w[24 + k] = f + h;
        w[30 + k] = 4 * d1 - 5 * d3 + d5;
      }
      // ... then B on the right, one row at a time.
      for (let k = 0, v = t; k < 36; k += 6, v += 6 * ps) {
        const d0 = w[k], d1 = w[k + 1], d2 = w[k + 2], d3 = w[k + 3], d4 = w[k + 4], d5 = w[k + 5];
        const e = d4 - 4 * d2;
        const f = d4 - d2;
        const g = 4 * d1 - d3;
        const h = 2 * (d1 - d3);
        V[v] = 4 * d0 - 5 * d2 + d4;
        V[v + ps] = e - g;
        V[v + 2 * ps] = e + g;
        V[v + 3 * ps] = f - h;
        V[v + 4 * ps] = f + h;
        V[v + 5 * ps] = 4 * d1 - 5 * d3 + d5;
      }
    }
  }
}

/** y[dst + (4i+a) * Wo + 4j+b] = (A^T Mt A)_ab + bias for every tile, clipped to Ho x Wo. */
function outputTiles4(
  Mt: Float32Array, o: number, ps: number, th: number, tw: number, y: Float32Array, dst: number, Ho: number, Wo: number, bias: number,
): void {
  const w = tileScratch; // A^T m: 4 rows x 6 columns
  let t = o;
  for (let i = 0; i < th; i++) {
    const rows = Math.min(4, Ho - 4 * i);
    for (let j = 0; j < tw; j++, t++) {
      for (let k = 0, v = t; k < 6; k++, v += ps) {
        const m0 = Mt[v], m1 = Mt[v + 6 * ps], m2 = Mt[v + 12 * ps], m3 = Mt[v + 18 * ps], m4 = Mt[v + 24 * ps], m5 = Mt[v + 30 * ps];
        const a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
        w[k] = m0 + a + c;
        w[6 + k] = b + 2 * d;
        w[12 + k] = a + 4 * c;
        w[18 + k] = b + 8 * d + m5;
      }
      const cols = Math.min(4, Wo - 4 * j);
      let q = dst + 4 * i * Wo + 4 * j;
      for (let r = 0; r < rows; r++, q += Wo) {
        const k = 6 * r;
        const m0 = w[k], m1 = w[k + 1], m2 = w[k + 2], m3 = w[k + 3], m4 = w[k + 4], m5 = w[k + 5];
        const a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
        if (cols === 4) {
          y[q] = m0 + a + c + bias;
          y[q + 1] = b + 2 * d + bias;
          y[q + 2] = a + 4 * c + bias;
          y[q + 3] = b + 8 * d + m5 + bias;
        } else {
          y[q] = m0 + a + c + bias;
          if (cols > 1) y[q + 1] = b + 2 * d + bias;
          if (cols > 2) y[q + 2] = a + 4 * c + bias;
        }
      }
    }
  }
}
