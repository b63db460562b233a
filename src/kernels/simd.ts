// WebAssembly SIMD kernels for the layers outside GEMM (wasm/simd.wat: ReLU, Eltwise's sum, the
// per-row maps of Scale/Bias/BatchNorm and Scale's backward, MAX and AVE pooling, LRN, Dropout's
// Bernoulli draws, the solvers' update passes), loaded synchronously at first use from
// wasm/simd.wasm beside this file; the drivers of the simple ones and of the solver passes (the
// others are in pooling.ts, ave-pooling.ts, lrn.ts, rng.ts), and the streaming around them:
// operands are copied into the module's memory a block at a time (TypedArray.set, a memcpy), the
// kernel runs there, and the result is copied out (pooling and LRN run on blobs of the shared
// memory where they lie, by simdOnShared). The copies cost ~0.2 ns per element against 1.5-9 ns for the JS
// loops they replace (see the .wat), so this pays from a few hundred elements up; callers keep
// their JS loops for shorter runs, and for runtimes without WebAssembly SIMD or with
// CAFFE_TS_SIMD=js. The kernels give the JS loops' float32 results bit for bit (test/simd.test.ts
// and, for the solver passes, test/solvers.test.ts compare them).
import { readFileSync } from 'node:fs';
import { registerPoolModule, threadsAllowed } from './gemm-threads.js';
import { unsharedMemory } from './gemm-wasm.js';

export interface SimdExports {
  memory: WebAssembly.Memory;
  relu(p: number, n: number, slope: number): void;
  relu_backward(x: number, g: number, n: number, slope: number): void;
  add(a: number, b: number, n: number): void;
  axpy(x: number, y: number, n: number, a: number): void;
  momentum(g: number, h: number, n: number, m: number, lr: number): void;
  sub(a: number, b: number, n: number): void;
  rms(g: number, h: number, n: number, decay: number, omd: number, delta: number, lr: number): void;
  nesterov(g: number, h: number, n: number, m: number, lr: number, opm: number): void;
  adadelta(g: number, hg: number, hu: number, n: number, m: number, omm: number, delta: number, lr: number): void;
  adam(g: number, m: number, v: number, n: number, b1: number, omb1: number, b2: number, omb2: number, eps: number, scale: number): void;
  rows(mode: number, p: number, e0: number, e1: number, S: number, dim: number, pa: number, pb: number): void;
  lrn_across(
    pX: number, pY: number, ld: number, C: number, p0: number, p1: number, size: number, aos: number, k: number, inPlace: number,
    pPad: number, pS: number, sld: number, bm: number,
  ): void;
  lrn_across_backward(
    pX: number, pY: number, pG: number, pS: number, C: number, hw: number, size: number, negCrv: number, inPlace: number,
    pD: number, pR: number, pA: number,
  ): void;
  scale_backward(
    pG: number, pX: number, rows: number, S: number, r0: number, dim: number, pScale: number, wantDb: number, pDb: number, pSd: number,
  ): void;
  mt_bernoulli(pMt: number, mti: number, n: number, p: number, pOut: number): number;
  im2col(
    pIm: number, C: number, H: number, W: number, kH: number, kW: number, padH: number, padW: number,
    sH: number, sW: number, dH: number, dW: number, outH: number, outW: number, pCol: number,
  ): void;
  maxpool(
    pIn: number, nPlanes: number, H: number, W: number, sW: number, kW: number, padW: number, L: number,
    PH: number, PW: number, pHs: number, pHe: number, pPad: number, pY: number, pArg: number,
    pRv: number, pRa: number, pOff: number,
  ): void;
  /** maxpool's values only (same arguments; nothing stored at pArg, pRa). */
  maxpool_values: SimdExports['maxpool'];
  avepool(
    pIn: number, nPlanes: number, H: number, W: number, kH: number, kW: number, sH: number, sW: number,
    padH: number, padW: number, PH: number, PW: number, pY: number,
  ): void;
}

/** A loaded module and views of its memory (renewed when the memory grows). */
export interface WasmMemoryViews {
  ex: { memory: WebAssembly.Memory };
  f32: Float32Array;
  i32: Int32Array;
}

/** The loaded module and views of its memory. */
export interface SimdKernel extends WasmMemoryViews {
  ex: SimdExports;
}

/** Elements per streamed block (64 KiB: two blocks and their operands stay in L2). */
export const SIMD_BLOCK = 16384;
/**
 * Shorter runs stay in JS: below this the fixed cost of a call (views, copies) dominates. A live
 * binding: setSimdMin changes it (tests set 1 to run the kernels on small blobs).
 */
export let SIMD_MIN = 256;

/** Sets SIMD_MIN; returns the previous value. */
export function setSimdMin(n: number): number {
  const old = SIMD_MIN;
  SIMD_MIN = Math.max(1, Math.floor(n));
  return old;
}

/** The modules' memory maximum in 64 KiB pages (simd.wat and depthwise.wat declare the same): 128 MiB. */
export const MAX_PAGES = 2048;

let loaded: SimdKernel | null | undefined;
const envOff = typeof process === 'object' && process.env?.CAFFE_TS_SIMD === 'js';
let enabled = !envOff;
let unavailable = '';

/** The bytes of the module wasm/<file> beside this file, or why this runtime cannot have them. */
export function kernelBytes(file: string): Uint8Array<ArrayBuffer> | string {
  if (typeof WebAssembly !== 'object') return 'no WebAssembly in this runtime';
  const url = new URL(`./wasm/${file}`, import.meta.url);
  try {
    return new Uint8Array(readFileSync(url));
  } catch (e) {
    return `cannot read ${url.pathname}: ${(e as Error).message}`;
  }
}

/**
 * Instantiates the module wasm/<file> beside this file (synchronously: the modules are small), or
 * says why this runtime cannot.
 */
export function instantiateKernel<T>(file: string): T | string {
  const bytes = kernelBytes(file);
  if (typeof bytes === 'string') return bytes;
  if (!WebAssembly.validate(bytes)) return 'this runtime has no WebAssembly SIMD';
  try {
    return new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as T;
  } catch (e) {
    // A page's main thread may refuse to compile synchronously: the JS loops run there.
    return `cannot compile ${file}: ${(e as Error).message}`;
  }
}

/**
 * Instantiates a module that imports its memory (env.memory, declared shared) on a memory of its
 * own, unshared (16 pages to MAX_PAGES, which simdReserve grows within); its exports with that
 * memory, or why this runtime cannot.
 */
export function instantiateOnOwnMemory<T>(file: string): (T & { memory: WebAssembly.Memory }) | string {
  const bytes = kernelBytes(file);
  if (typeof bytes === 'string') return bytes;
  const own = unsharedMemory(bytes);
  if (!WebAssembly.validate(own)) return 'this runtime has no WebAssembly SIMD';
  const memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES });
  const ex = new WebAssembly.Instance(new WebAssembly.Module(own), { env: { memory } }).exports;
  return { ...(ex as T), memory };
}

/** Compiles wasm/<file> as it is (its memory import shared), or null when this engine cannot. */
export function compileKernel(file: string): WebAssembly.Module | null {
  const bytes = kernelBytes(file);
  try {
    return typeof bytes === 'string' || !WebAssembly.validate(bytes) ? null : new WebAssembly.Module(bytes);
  } catch {
    return null;
  }
}

/**
 * Compiles wasm/<file> (importing a shared memory) and registers it with the GEMM worker pool, at
 * import, before the pool can start (see registerPoolModule); null when threads are off or this
 * engine cannot (then everything stays on the calling thread).
 */
export function poolKernelModule(name: string, file: string): WebAssembly.Module | null {
  if (!threadsAllowed() || typeof WebAssembly !== 'object') return null;
  const bytes = kernelBytes(file);
  try {
    if (typeof bytes === 'string' || !WebAssembly.validate(bytes)) return null;
    const module = new WebAssembly.Module(bytes);
    registerPoolModule(name, module);
    return module;
  } catch {
    return null;
  }
}

/** This module for the worker pool (pooling and LRN split between threads), or null. */
export const simdPoolModule = poolKernelModule('simd', 'simd.wasm');

/** The calling thread's instances of kernel modules on the pool's shared memory, by module. */
const onShared = new Map<WebAssembly.Module, { memory: WebAssembly.Memory; ex: unknown }>();

/**
 * `module` (a kernel importing env.memory) instantiated for the calling thread on the shared
 * memory `memory`, once (again if the memory is another): kernels on blobs of the inference
 * arena run there, where the blobs lie.
 */
export function instanceOnShared<T>(module: WebAssembly.Module, memory: WebAssembly.Memory): T {
  let e = onShared.get(module);
  if (e === undefined || e.memory !== memory) {
    e = { memory, ex: new WebAssembly.Instance(module, { env: { memory } }).exports };
    onShared.set(module, e);
  }
  return e.ex as T;
}

/**
 * This module instantiated for the calling thread on the shared memory `memory` (the worker
 * pool's, where the inference blobs lie), so that kernels read and write blobs where they are;
 * null when threads are off or the kernels are turned off or unavailable.
 */
export function simdOnShared(memory: WebAssembly.Memory): SimdExports | null {
  if (simdPoolModule === null || simdKernel() === null) return null;
  return instanceOnShared<SimdExports>(simdPoolModule, memory);
}

function load(): SimdKernel | null {
  const ex = instantiateOnOwnMemory<SimdExports>('simd.wasm');
  if (typeof ex === 'string') {
    unavailable = ex;
    return null;
  }
  return { ex, f32: new Float32Array(ex.memory.buffer), i32: new Int32Array(ex.memory.buffer) };
}

/** The SIMD kernels, or null when they are off or unavailable (the callers then loop in JS). */
export function simdKernel(): SimdKernel | null {
  if (!enabled) return null;
  if (loaded === undefined) loaded = load();
  return loaded;
}

/** Turns the SIMD kernels on or off (tests compare both paths); returns the previous setting. */
export function setSimdKernels(on: boolean): boolean {
  const old = enabled;
  enabled = on;
  return old;
}

/** Which element-wise backend runs: 'wasm-simd', or 'js' and why. */
export function simdBackend(): { kernel: string; reason: string } {
  const k = simdKernel();
  if (k) return { kernel: 'wasm-simd', reason: '' };
  return { kernel: 'js', reason: enabled ? unavailable : envOff ? 'CAFFE_TS_SIMD=js' : 'turned off' };
}

/**
 * Grows the kernel's memory to at least `bytes` and renews the views; false when that would pass
 * the module's maximum (the caller then takes its JS loop).
 */
export function simdReserve(k: WasmMemoryViews, bytes: number): boolean {
  const { memory } = k.ex;
  const have = memory.buffer.byteLength;
  if (have < bytes) {
    const pages = Math.ceil((bytes - have) / 65536);
    if (have / 65536 + pages > MAX_PAGES) return false;
    memory.grow(pages);
  }
  if (k.f32.buffer !== memory.buffer) {
    k.f32 = new Float32Array(memory.buffer);
    k.i32 = new Int32Array(memory.buffer);
  }
  return true;
}

// Streaming layout (bytes): block A at 0, block B after it, then per-call operands.
const BLOCK_A = 0;
const BLOCK_B = 4 * SIMD_BLOCK;
const OPERANDS = 8 * SIMD_BLOCK;

/**
 * Streams n elements through the kernel in SIMD_BLOCK pieces: a (and b, unless null) copied into
 * blocks A (and B), op(m) run on the m elements, and the block at `out` (BLOCK_A or BLOCK_B)
 * copied to y.
 */
function stream(
  k: SimdKernel, a: Float32Array, b: Float32Array | null, y: Float32Array, n: number, out: number, op: (m: number) => void,
): void {
  simdReserve(k, OPERANDS);
  const h = k.f32;
  for (let e = 0; e < n; e += SIMD_BLOCK) {
    const m = Math.min(SIMD_BLOCK, n - e);
    h.set(a.subarray(e, e + m), BLOCK_A >> 2);
    if (b !== null) h.set(b.subarray(e, e + m), BLOCK_B >> 2);
    op(m);
    y.set(h.subarray(out >> 2, (out >> 2) + m), e);
  }
}

/** y[i] = x[i] > 0 ? x[i] : slope * x[i] for i < n (slope a float32 value). */
export function reluSimd(k: SimdKernel, x: Float32Array, y: Float32Array, n: number, slope: number): void {
  stream(k, x, null, y, n, BLOCK_A, (m) => k.ex.relu(BLOCK_A, m, slope));
}

/** dx[i] = x[i] > 0 ? dy[i] : dy[i] * slope for i < n (dx may be dy). */
export function reluBackwardSimd(k: SimdKernel, x: Float32Array, dy: Float32Array, dx: Float32Array, n: number, slope: number): void {
  stream(k, x, dy, dx, n, BLOCK_B, (m) => k.ex.relu_backward(BLOCK_A, BLOCK_B, m, slope));
}

/** y[i] = a[i] + b[i] for i < n (y may be a or b). */
export function addSimd(k: SimdKernel, a: Float32Array, b: Float32Array, y: Float32Array, n: number): void {
  stream(k, a, b, y, n, BLOCK_A, (m) => k.ex.add(BLOCK_A, BLOCK_B, m));
}

/** y[i] = f32(y[i] + f32(a * x[i])) for i < n (a a float32 value): L2 weight decay. */
export function axpySimd(k: SimdKernel, x: Float32Array, y: Float32Array, n: number, a: number): void {
  stream(k, x, y, y, n, BLOCK_B, (m) => k.ex.axpy(BLOCK_A, BLOCK_B, m, a));
}

// Third streaming block, for the kernels that update three arrays (in the per-call operand area).
const BLOCK_C = OPERANDS;

/**
 * Streams two or three arrays through a kernel that updates them all in place: array i is copied
 * into block i (A, B, C), op(m) runs on the m elements, and every block is copied back.
 */
function streamInPlace(k: SimdKernel, arrays: Float32Array[], n: number, op: (m: number) => void): void {
  simdReserve(k, BLOCK_C + 4 * SIMD_BLOCK);
  const h = k.f32;
  const blocks = [BLOCK_A >> 2, BLOCK_B >> 2, BLOCK_C >> 2];
  for (let e = 0; e < n; e += SIMD_BLOCK) {
    const m = Math.min(SIMD_BLOCK, n - e);
    for (let i = 0; i < arrays.length; i++) h.set(arrays[i].subarray(e, e + m), blocks[i]);
    op(m);
    for (let i = 0; i < arrays.length; i++) arrays[i].set(h.subarray(blocks[i], blocks[i] + m), e);
  }
}

/** h[i] = g[i] = f32(f32(m * h[i]) + f32(lr * g[i])) for i < n: SGD's momentum update. */
export function momentumSimd(k: SimdKernel, g: Float32Array, h: Float32Array, n: number, m: number, lr: number): void {
  streamInPlace(k, [g, h], n, (len) => k.ex.momentum(BLOCK_A, BLOCK_B, len, m, lr));
}

/** RMSProp's update (AdaGrad's with decay = omd = 1): h and g in place, as solver-updates.ts. */
export function rmsSimd(k: SimdKernel, g: Float32Array, h: Float32Array, n: number, decay: number, omd: number, delta: number, lr: number): void {
  streamInPlace(k, [g, h], n, (len) => k.ex.rms(BLOCK_A, BLOCK_B, len, decay, omd, delta, lr));
}

/** Nesterov's update: h and g in place, as solver-updates.ts (opm = float32 of 1 + m). */
export function nesterovSimd(k: SimdKernel, g: Float32Array, h: Float32Array, n: number, m: number, lr: number, opm: number): void {
  streamInPlace(k, [g, h], n, (len) => k.ex.nesterov(BLOCK_A, BLOCK_B, len, m, lr, opm));
}

/** Adam's update over n floats: the moments m and v in place, the step into g. */
export function adamSimd(
  k: SimdKernel, g: Float32Array, m: Float32Array, v: Float32Array, n: number,
  b1: number, omb1: number, b2: number, omb2: number, eps: number, scale: number,
): void {
  streamInPlace(k, [g, m, v], n, (len) => k.ex.adam(BLOCK_A, BLOCK_B, BLOCK_C, len, b1, omb1, b2, omb2, eps, scale));
}

/** AdaDelta's update over n floats: both histories in place, the step into g. */
export function adadeltaSimd(
  k: SimdKernel, g: Float32Array, hg: Float32Array, hu: Float32Array, n: number, m: number, omm: number, delta: number, lr: number,
): void {
  streamInPlace(k, [g, hg, hu], n, (len) => k.ex.adadelta(BLOCK_A, BLOCK_B, BLOCK_C, len, m, omm, delta, lr));
}

/** a[i] = a[i] - b[i] for i < n: Net::Update's data -= diff. */
export function subSimd(k: SimdKernel, a: Float32Array, b: Float32Array, n: number): void {
  stream(k, a, b, a, n, BLOCK_A, (m) => k.ex.sub(BLOCK_A, BLOCK_B, m));
}

/**
 * The per-row maps of src/kernels/rows.ts over rows * S elements (row r uses a[r % dim] and
 * b[r % dim]); false when the operands do not fit the module's memory.
 */
export function rowsSimd(
  k: SimdKernel, mode: number, x: Float32Array, y: Float32Array, rows: number, S: number, dim: number,
  a: Float32Array | null, b: Float32Array | null,
): boolean {
  const pa = OPERANDS;
  const pb = pa + 4 * dim;
  if (!simdReserve(k, pb + 4 * dim)) return false;
  const h = k.f32;
  if (a) h.set(a.subarray(0, dim), pa >> 2);
  if (b) h.set(b.subarray(0, dim), pb >> 2);
  const n = rows * S;
  for (let e = 0; e < n; e += SIMD_BLOCK) {
    const m = Math.min(SIMD_BLOCK, n - e);
    h.set(x.subarray(e, e + m), BLOCK_A >> 2);
    k.ex.rows(mode, BLOCK_A, e, e + m, S, dim, pa, pb);
    y.set(h.subarray(BLOCK_A >> 2, (BLOCK_A >> 2) + m), e);
  }
  return true;
}

/**
 * rowsSimd's ROW_MUL_ADD (mode 1) with a shortcut added after it (then ReLU when `relu`): each
 * block of x and of s goes into the module once and the kernels rows, add and relu run on it
 * there, so the three maps cost one pass of copies. False when the operands do not fit.
 */
export function rowsShortcutSimd(
  k: SimdKernel, x: Float32Array, y: Float32Array, rows: number, S: number, dim: number,
  a: Float32Array, b: Float32Array, s: Float32Array, relu: boolean,
): boolean {
  const pa = OPERANDS;
  const pb = pa + 4 * dim;
  if (!simdReserve(k, pb + 4 * dim)) return false;
  const h = k.f32;
  h.set(a.subarray(0, dim), pa >> 2);
  h.set(b.subarray(0, dim), pb >> 2);
  const n = rows * S;
  for (let e = 0; e < n; e += SIMD_BLOCK) {
    const m = Math.min(SIMD_BLOCK, n - e);
    h.set(x.subarray(e, e + m), BLOCK_A >> 2);
    h.set(s.subarray(e, e + m), BLOCK_B >> 2);
    k.ex.rows(1, BLOCK_A, e, e + m, S, dim, pa, pb);
    k.ex.add(BLOCK_A, BLOCK_B, m);
    if (relu) k.ex.relu(BLOCK_A, m, 0);
    y.set(h.subarray(BLOCK_A >> 2, (BLOCK_A >> 2) + m), e);
  }
  return true;
}

/**
 * Scale's fused backward rows (see scaleGradRows in rows.ts) streamed through the kernel in
 * blocks of whole rows; false when a row does not fit the module's memory.
 */
export function scaleGradRowsSimd(
  k: SimdKernel, dy: Float32Array, x: Float32Array, dx: Float32Array, rows: number, S: number, dim: number,
  s: Float32Array, biasSums: Float64Array | null, gradSums: Float64Array,
): boolean {
  const per = Math.max(1, Math.floor(SIMD_BLOCK / S));
  const pG = 0;
  const pX = pG + 4 * per * S;
  const pScale = pX + 4 * per * S;
  const pDb = (pScale + 4 * dim + 7) & ~7;
  const pSd = pDb + 8 * per;
  if (!simdReserve(k, pSd + 8 * per)) return false;
  const h = k.f32;
  const h64 = new Float64Array(h.buffer);
  h.set(s.subarray(0, dim), pScale >> 2);
  for (let r = 0; r < rows; r += per) {
    const m = Math.min(per, rows - r);
    const e = r * S;
    h.set(dy.subarray(e, e + m * S), pG >> 2);
    h.set(x.subarray(e, e + m * S), pX >> 2);
    k.ex.scale_backward(pG, pX, m, S, r, dim, pScale, biasSums ? 1 : 0, pDb, pSd);
    dx.set(h.subarray(pG >> 2, (pG >> 2) + m * S), e);
    if (biasSums) biasSums.set(h64.subarray(pDb >> 3, (pDb >> 3) + m), r);
    gradSums.set(h64.subarray(pSd >> 3, (pSd >> 3) + m), r);
  }
  return true;
}

/**
 * n Bernoulli(p) draws into out (0 or 1 bytes) from the MT19937 state `mt` at index `mti` by
 * the kernel, the same draws as Rng.bernoulli; returns the new index (mt is updated in place).
 */
export function mtBernoulliSimd(k: SimdKernel, mt: Uint32Array, mti: number, out: Uint8Array, n: number, p: number): number {
  const pMt = 0;
  const pOut = 4 * mt.length;
  const block = 4 * SIMD_BLOCK;
  simdReserve(k, pOut + block);
  const words = new Uint32Array(k.f32.buffer, pMt, mt.length);
  const bytes = new Uint8Array(k.f32.buffer, pOut, block);
  words.set(mt);
  for (let e = 0; e < n; e += block) {
    const m = Math.min(block, n - e);
    mti = k.ex.mt_bernoulli(pMt, mti, m, p, pOut);
    out.set(m === block ? bytes : bytes.subarray(0, m), e);
  }
  mt.set(words);
  return mti;
}
