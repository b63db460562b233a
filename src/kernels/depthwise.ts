// Depthwise 2-D convolution for one sample, forward and backward: one kH x kW filter per channel
// (Convolution with group == channels == num_output, as MobileNets use it), computed directly
// instead of as one M = 1 GEMM per channel over im2col's columns.
//   y[c, oy, ox] = sum_{ky, kx} w[c, ky, kx] * x[c, oy * sH - padH + ky * dH, ox * sW - padW + kx * dW]
//                  then the epilogue (bias, or folded BatchNorm/Scale/ReLU), x read as 0 outside the plane
// Two kernels per direction, the same float32 operations in the same order, hence the same bits:
//  - WebAssembly SIMD (wasm/depthwise.wat): each plane is copied into a zero-padded scratch, four
//    outputs of a row per vector, the epilogue applied as they are stored. The forward runs in
//    place on blobs in the kernels' shared memory (the inference memory plan's arena), split by
//    channels between threads; other operands are copied into the module's memory a chunk of
//    channels at a time;
//  - depthwiseJs / depthwiseBackwardJs below: the reference the tests use, and the fallback of
//    depthwiseForward / depthwiseBackward (runtimes without WebAssembly SIMD, CAFFE_TS_SIMD=js or
//    setSimdKernels(false), as simd.ts); Convolution itself then keeps im2col + GEMM (see
//    depthwiseEnabled).
// The forward sums the taps as im2col + GEMM orders them (ky-major, each product rounded then
// added, the epilogue after), but the GEMM kernels may accumulate in another precision (the JS one in
// doubles), so the two paths agree to float32 rounding; the input gradient sums as col2im does
// (Caffe's bits); the weight gradient sums over the outputs in its own order (see the .wat).
import { JOB_DEPTHWISE, evenBounds, poolRegion, poolThreads, splitJob } from './gemm-threads.js';
import { validHi, validLo } from './im2col.js';
import { reluArrays } from './loops.js';
import { ROW_ADD, ROW_MUL, ROW_MUL_ADD, ROW_MUL_ADD_RELU, rowMap } from './rows.js';
import { inSharedMemory } from './gemm-wasm.js';
import { instanceOnShared, instantiateOnOwnMemory, poolKernelModule, simdKernel, simdReserve, type WasmMemoryViews } from './simd.js';

/** Geometry of one depthwise convolution (the per-axis fields of Caffe's ConvolutionParameter). */
export interface DepthwiseConfig {
  channels: number;
  inH: number;
  inW: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilationH: number;
  dilationW: number;
  outH: number;
  outW: number;
}

/** The module's exports; their arguments are listed in depthwise.wat (geometry as geometryArgs). */
interface DepthwiseExports {
  memory: WebAssembly.Memory;
  depthwise(...args: number[]): void;
  depthwise_backward(...args: number[]): void;
}

interface DepthwiseKernel extends WasmMemoryViews {
  ex: DepthwiseExports;
}

let loaded: DepthwiseKernel | null | undefined;
let useDirect = true;

/**
 * Turns the direct depthwise path of Convolution on or off (off: im2col + GEMM per channel, as
 * Caffe); returns the previous setting. For tests and timing.
 */
export function setDepthwiseKernel(on: boolean): boolean {
  const old = useDirect;
  useDirect = on;
  return old;
}

/**
 * Whether Convolution takes the direct path for its depthwise layers: when it is on and the
 * WebAssembly kernel is available. The JS loops are no faster than im2col + the JS GEMM, and
 * 2-3x slower than im2col + the WebAssembly GEMM (MobileNets), so without the kernel the layer
 * keeps Caffe's path.
 */
export function depthwiseEnabled(): boolean {
  return useDirect && kernel() !== null;
}

/** The WebAssembly kernel, or null when the SIMD kernels are off or this one cannot load. */
function kernel(): DepthwiseKernel | null {
  if (simdKernel() === null) return null;
  if (loaded === undefined) loaded = load();
  return loaded;
}

/** The module on a memory of its own (its memory import declared unshared), or null. */
function load(): DepthwiseKernel | null {
  const ex = instantiateOnOwnMemory<DepthwiseExports>('depthwise.wasm');
  return typeof ex === 'string' ? null : { ex, f32: new Float32Array(ex.memory.buffer), i32: new Int32Array(ex.memory.buffer) };
}

// The module for the GEMM worker pool's shared memory: forwards on blobs there run in place (see
// depthwiseInPlace), and big enough ones elsewhere are split by channels through it.
const poolModule = poolKernelModule('depthwise', 'depthwise.wasm');
/** The calling thread's instance on the pool's memory. */
function poolInstanceOn(memory: WebAssembly.Memory): (...args: number[]) => void {
  return instanceOnShared<DepthwiseExports>(poolModule!, memory).depthwise;
}

/**
 * Multiply-adds (channels x outputs x taps) from which a forward in place is split between
 * threads: nothing is copied, so a split costs only the hand-over to the workers. 2 cores, 3x3
 * layers, the worker idle but awake: 0.94-0.96x one thread's time just below 2^16 (32 x 14 x 14,
 * 128 x 7 x 7), 0.66-0.75x from 2^17, 0.5-0.7x at MobileNets' layers (2^18 to 2^22). Operands
 * elsewhere are split from 4x that: their copies into the shared memory cost about what the
 * split saves on smaller ones.
 */
let splitMinWork = 1 << 16;
const COPY_SPLIT_FACTOR = 4;

/** Sets splitMinWork (tests set 0 to split small cases); returns the previous value. */
export function setDepthwiseSplitMinWork(work: number): number {
  const old = splitMinWork;
  splitMinWork = Math.max(0, work);
  return old;
}

/** Which kernel depthwiseForward runs: 'wasm-simd' or 'js'. */
export function depthwiseBackend(): 'wasm-simd' | 'js' {
  return kernel() === null ? 'js' : 'wasm-simd';
}

/** Bytes of input per chunk of channels streamed through the module: a few planes stay in L2. */
const CHUNK_BYTES = 1 << 20;

const align16 = (n: number) => (n + 15) & ~15;

/**
 * What follows the convolution on each output of channel c, applied by the kernel as it stores
 * it: v = f32(v * a[c]) when a is given, then f32(v + b[c]) when b is, then ReLU with slope 0
 * (v > 0 ? v : 0 * v) when relu. The operations of rows.ts's ROW_ADD, ROW_MUL_ADD and
 * ROW_MUL_ADD_RELU run after the convolution, hence their bits: a conv's bias alone, or with
 * the BatchNorm/Scale/ReLU that fusion.ts folds into it.
 */
export interface DepthwiseEpilogue {
  a: Float32Array | null;
  b: Float32Array | null;
  relu: boolean;
}

/** The kernel's flags for an epilogue (depthwise.wat: 1 b, 2 a, 4 ReLU). */
function epilogueFlags(e: DepthwiseEpilogue | null): number {
  return e === null ? 0 : (e.b ? 1 : 0) | (e.a ? 2 : 0) | (e.relu ? 4 : 0);
}

/**
 * y (channels x outH x outW) = depthwise convolution of x (channels x inH x inW) with w
 * (channels x kernelH x kernelW), then the epilogue: a DepthwiseEpilogue, a bias alone
 * (channels floats, added), or null. Overwrites y. When x and y are blobs in the kernels' shared
 * memory (sharedArena) it runs there in place, else through copies.
 */
export function depthwiseForward(
  cfg: DepthwiseConfig, x: Float32Array, w: Float32Array, epi: DepthwiseEpilogue | Float32Array | null, y: Float32Array,
): void {
  const e = epi instanceof Float32Array ? { a: null, b: epi, relu: false } : epi;
  const k = kernel();
  if (k !== null && (depthwiseInPlace(cfg, x, w, e, y) || depthwiseWasm(k, cfg, x, w, e, y))) return;
  depthwiseJs(cfg, x, w, null, y);
  if (e !== null) epilogueJs(y, cfg.channels, cfg.outH * cfg.outW, e);
}

/** The epilogue on y by rows.ts's maps (the kernel's float32 operations, in its order). */
function epilogueJs(y: Float32Array, channels: number, plane: number, { a, b, relu }: DepthwiseEpilogue): void {
  if (a && b) {
    rowMap(relu ? ROW_MUL_ADD_RELU : ROW_MUL_ADD, y, y, channels, plane, channels, a, b);
    return;
  }
  if (a) rowMap(ROW_MUL, y, y, channels, plane, channels, a, null);
  else if (b) rowMap(ROW_ADD, y, y, channels, plane, channels, null, b);
  if (relu) reluArrays(y, y, y.length, 0);
}

/** Bytes of one padded plane as depthwise.wat lays it out (its sizes, and 16 bytes of slack). */
function paddedBytes(c: DepthwiseConfig): number {
  const Wp = Math.ceil(c.outW / 4) * 4 * c.strideW + (c.kernelW - 1) * c.dilationW + 4;
  const Hp = (c.outH - 1) * c.strideH + (c.kernelH - 1) * c.dilationH + 1;
  return 4 * Hp * Wp + 16;
}

/** Channels per chunk: `floats` floats of operands per channel in about CHUNK_BYTES. */
function chunk(c: DepthwiseConfig, floats: number): number {
  return Math.max(1, Math.min(c.channels, Math.floor(CHUNK_BYTES / (4 * floats))));
}

/** The geometry arguments of both exports, in their order. */
function geometryArgs(c: DepthwiseConfig): number[] {
  return [c.inH, c.inW, c.kernelH, c.kernelW, c.strideH, c.strideW, c.padH, c.padW, c.dilationH, c.dilationW, c.outH, c.outW];
}

/** Chunks per thread of a split forward: the threads' shares even out as they take them. */
const CHUNKS_PER_THREAD = 4;

/**
 * Copies w and the epilogue's vectors for channels from .. to - 1 into the shared memory at `at`:
 * the weights there, then a and b, each 16-byte aligned; returns a's and b's offsets from `at`
 * and where the next free bytes start.
 */
function putOperands(
  memory: WebAssembly.Memory, at: number, w: Float32Array, taps: number, e: DepthwiseEpilogue | null, from: number, to: number,
): { pA: number; pB: number; end: number } {
  const n = to - from;
  const pA = align16(4 * n * taps);
  const pB = align16(pA + 4 * n);
  const h = new Float32Array(memory.buffer);
  h.set(w.subarray(from * taps, to * taps), at >> 2);
  if (e?.a) h.set(e.a.subarray(from, to), (at + pA) >> 2);
  if (e?.b) h.set(e.b.subarray(from, to), (at + pB) >> 2);
  return { pA, pB, end: align16(pB + 4 * n) };
}

/**
 * depthwiseForward in place on blobs in the shared memory (sharedArena, where the inference
 * memory plan puts them): only the weights and the epilogue's vectors are copied (into the
 * pool's region), each thread has a padded-plane scratch of its own there, and the channels go
 * in chunks to the workers and this thread (splitJob) when there is enough work, else all to
 * this thread's instance of the module on that memory. Each channel is computed as on one thread
 * (the kernel writes nothing past a row): the same bits however it is split. False when it does
 * not apply (x or y elsewhere, or overlapping; no room): the caller copies them.
 */
function depthwiseInPlace(cfg: DepthwiseConfig, x: Float32Array, w: Float32Array, e: DepthwiseEpilogue | null, y: Float32Array): boolean {
  if (poolModule === null || !inSharedMemory(x) || !inSharedMemory(y)) return false;
  const C = cfg.channels;
  const inPlane = cfg.inH * cfg.inW;
  const outPlane = cfg.outH * cfg.outW;
  const taps = cfg.kernelH * cfg.kernelW;
  const px = x.byteOffset;
  const py = y.byteOffset;
  // (Overlapping operands would read outputs already written: the copying paths take them.)
  if (px < py + 4 * C * outPlane && py < px + 4 * C * inPlane) return false;
  const T = poolThreads();
  const split = T > 1 && C > 1 && C * outPlane * taps >= splitMinWork;
  const pad = align16(paddedBytes(cfg));
  const room = align16(4 * C * taps) + 2 * align16(4 * C);
  const region = poolRegion(room + (split ? T : 1) * pad);
  if (region === null) return false;
  const { memory, at } = region;
  const run = poolInstanceOn(memory);
  const { pA, pB, end } = putOperands(memory, at, w, taps, e, 0, C);
  const flags = epilogueFlags(e);
  const geo = geometryArgs(cfg);
  const pPad = at + end;
  if (split) {
    const chunks = Math.min(C, CHUNKS_PER_THREAD * T);
    const bounds = evenBounds(C, chunks);
    const args = [px, py, at, at + pA, at + pB, flags, inPlane, outPlane, taps, pPad, pad, chunks, ...geo];
    // The twin of the workers' chunk loop (gemm-threads.ts WORKER_BODY).
    const ok = splitJob(JOB_DEPTHWISE, args, bounds, (_c, c0, c1) => {
      run(px + 4 * c0 * inPlane, py + 4 * c0 * outPlane, at + 4 * c0 * taps, at + pA + 4 * c0, at + pB + 4 * c0, flags, c1 - c0, ...geo, pPad);
    });
    // (Else no worker was up, or one failed: x is intact, so this thread computes it all.)
    if (ok) return true;
  }
  run(px, py, at, at + pA, at + pB, flags, C, ...geo, pPad);
  return true;
}

/**
 * depthwiseForward split by channels between the pool's threads, for operands outside the shared
 * memory: this thread's share (the first C / T channels) goes through the module's own memory as
 * on one thread, streamed in cache-resident chunks; the rest is copied into the pool's shared
 * memory and computed there in chunks, by the workers and by this thread once its share is done
 * (each thread with its own padded-plane scratch). Copying everything into the shared memory
 * instead (its copies are slower) made the split lose on inputs of a few MB. Each channel is
 * computed as on one thread: the same bits. False when it does not apply (one thread, small, no
 * pool or room): the caller runs it alone.
 */
function depthwiseSplit(k: DepthwiseKernel, cfg: DepthwiseConfig, x: Float32Array, w: Float32Array, e: DepthwiseEpilogue | null, y: Float32Array): boolean {
  const T = poolThreads();
  const C = cfg.channels;
  const inPlane = cfg.inH * cfg.inW;
  const outPlane = cfg.outH * cfg.outW;
  const taps = cfg.kernelH * cfg.kernelW;
  if (poolModule === null || T < 2 || C < 2 || C * outPlane * taps < COPY_SPLIT_FACTOR * splitMinWork) return false;
  // (This thread's share must fit the module's own memory: depthwiseRange below cannot fail then.)
  if (!simdReserve(k, rangeBytes(cfg))) return false;
  const own = Math.floor(C / T);
  const S = C - own; // channels own .. C - 1, in the shared memory from its channel 0
  const chunks = Math.min(S, CHUNKS_PER_THREAD * (T - 1));
  const pad = align16(paddedBytes(cfg));
  // Shared: the weights and epilogue vectors, x, y, then each thread's padded plane.
  const pX = align16(4 * S * taps) + 2 * align16(4 * S);
  const pY = align16(pX + 4 * S * inPlane);
  const pPad = align16(pY + 4 * S * outPlane);
  const region = poolRegion(pPad + T * pad);
  if (region === null) return false;
  const { memory, at } = region;
  const run = poolInstanceOn(memory);
  const { pA, pB } = putOperands(memory, at, w, taps, e, own, C);
  const h = new Float32Array(memory.buffer);
  h.set(x.subarray(own * inPlane, C * inPlane), (at + pX) >> 2);
  const flags = epilogueFlags(e);
  const bounds = evenBounds(S, chunks);
  const geo = geometryArgs(cfg);
  const x0 = at + pX;
  const y0 = at + pY;
  const args = [x0, y0, at, at + pA, at + pB, flags, inPlane, outPlane, taps, at + pPad, pad, chunks, ...geo];
  // The twin of the workers' chunk loop (gemm-threads.ts WORKER_BODY).
  const ok = splitJob(JOB_DEPTHWISE, args, bounds, (_c, c0, c1) => {
    run(x0 + 4 * c0 * inPlane, y0 + 4 * c0 * outPlane, at + 4 * c0 * taps, at + pA + 4 * c0, at + pB + 4 * c0, flags, c1 - c0, ...geo, at + pPad);
  }, () => depthwiseRange(k, cfg, x, w, e, y, 0, own));
  if (!ok) return false;
  y.set(h.subarray(y0 >> 2, (y0 >> 2) + S * outPlane), own * outPlane);
  return true;
}

/** depthwiseForward on the WebAssembly kernel; false when a chunk does not fit its memory. */
function depthwiseWasm(k: DepthwiseKernel, cfg: DepthwiseConfig, x: Float32Array, w: Float32Array, e: DepthwiseEpilogue | null, y: Float32Array): boolean {
  return depthwiseSplit(k, cfg, x, w, e, y) || depthwiseRange(k, cfg, x, w, e, y, 0, cfg.channels);
}

/** Bytes of the module's own memory that depthwiseRange uses (the layout it computes). */
function rangeBytes(cfg: DepthwiseConfig): number {
  const inPlane = cfg.inH * cfg.inW;
  const outPlane = cfg.outH * cfg.outW;
  const per = chunk(cfg, inPlane + outPlane);
  const pW = align16(align16(4 * per * inPlane) + 4 * per * outPlane);
  return align16(pW + 4 * per * cfg.kernelH * cfg.kernelW) + 2 * align16(4 * per) + paddedBytes(cfg);
}

/** Channels from .. to - 1 of depthwiseForward through the module's own memory; false when a chunk does not fit it. */
function depthwiseRange(
  k: DepthwiseKernel, cfg: DepthwiseConfig, x: Float32Array, w: Float32Array, e: DepthwiseEpilogue | null, y: Float32Array, from: number, to: number,
): boolean {
  const inPlane = cfg.inH * cfg.inW;
  const outPlane = cfg.outH * cfg.outW;
  const taps = cfg.kernelH * cfg.kernelW;
  const per = chunk(cfg, inPlane + outPlane);
  const pOut = align16(4 * per * inPlane);
  const pW = align16(pOut + 4 * per * outPlane);
  const pA = align16(pW + 4 * per * taps);
  const pB = pA + align16(4 * per);
  const pPad = pB + align16(4 * per);
  if (!simdReserve(k, rangeBytes(cfg))) return false;
  const h = k.f32;
  const geo = geometryArgs(cfg);
  const flags = epilogueFlags(e);
  for (let c0 = from; c0 < to; c0 += per) {
    const m = Math.min(per, to - c0);
    h.set(x.subarray(c0 * inPlane, (c0 + m) * inPlane), 0);
    h.set(w.subarray(c0 * taps, (c0 + m) * taps), pW >> 2);
    if (e?.a) h.set(e.a.subarray(c0, c0 + m), pA >> 2);
    if (e?.b) h.set(e.b.subarray(c0, c0 + m), pB >> 2);
    k.ex.depthwise(0, pOut, pW, pA, pB, flags, m, ...geo, pPad);
    y.set(h.subarray(pOut >> 2, (pOut >> 2) + m * outPlane), c0 * outPlane);
  }
  return true;
}

/**
 * Gradients of depthwiseForward for one sample, from dy (channels x outH x outW): dw (as w) +=
 * the weight gradient unless dw is null; dx (as x) = the input gradient unless dx is null. dx
 * has the bits of Caffe's col2im sums; dw sums in another order than GEMM (float32 rounding).
 */
export function depthwiseBackward(
  cfg: DepthwiseConfig, x: Float32Array, dy: Float32Array, w: Float32Array, dw: Float32Array | null, dx: Float32Array | null,
): void {
  if (!dw && !dx) return;
  const k = kernel();
  if (k === null || !depthwiseBackwardWasm(k, cfg, x, dy, w, dw, dx)) depthwiseBackwardJs(cfg, x, dy, w, dw, dx);
}

function depthwiseBackwardWasm(
  k: DepthwiseKernel, cfg: DepthwiseConfig, x: Float32Array, dy: Float32Array, w: Float32Array, dw: Float32Array | null, dx: Float32Array | null,
): boolean {
  const C = cfg.channels;
  const inPlane = cfg.inH * cfg.inW;
  const outPlane = cfg.outH * cfg.outW;
  const taps = cfg.kernelH * cfg.kernelW;
  const per = chunk(cfg, 2 * inPlane + outPlane);
  const pDy = align16(4 * per * inPlane);
  const pDx = align16(pDy + 4 * per * outPlane);
  const pW = align16(pDx + 4 * per * inPlane);
  const pDw = align16(pW + 4 * per * taps);
  const pPadX = align16(pDw + 4 * per * taps);
  const pPadDx = align16(pPadX + paddedBytes(cfg));
  const pAcc = align16(pPadDx + paddedBytes(cfg));
  if (!simdReserve(k, pAcc + 16 * 9)) return false;
  const h = k.f32;
  const geo = geometryArgs(cfg);
  for (let c0 = 0; c0 < C; c0 += per) {
    const m = Math.min(per, C - c0);
    if (dw) h.set(x.subarray(c0 * inPlane, (c0 + m) * inPlane), 0);
    h.set(dy.subarray(c0 * outPlane, (c0 + m) * outPlane), pDy >> 2);
    if (dx) h.set(w.subarray(c0 * taps, (c0 + m) * taps), pW >> 2);
    if (dw) h.set(dw.subarray(c0 * taps, (c0 + m) * taps), pDw >> 2);
    k.ex.depthwise_backward(0, pDy, pW, pDx, pDw, dx ? 1 : 0, dw ? 1 : 0, m, ...geo, pPadX, pPadDx, pAcc);
    if (dw) dw.set(h.subarray(pDw >> 2, (pDw >> 2) + m * taps), c0 * taps);
    if (dx) dx.set(h.subarray(pDx >> 2, (pDx >> 2) + m * inPlane), c0 * inPlane);
  }
  return true;
}

/** depthwiseBackward in plain JS (the same float32 operations as the WebAssembly kernel). */
export function depthwiseBackwardJs(
  cfg: DepthwiseConfig, x: Float32Array, dy: Float32Array, w: Float32Array, dw: Float32Array | null, dx: Float32Array | null,
): void {
  const { channels: C, inH: H, inW: W, kernelH: kH, kernelW: kW, strideH: sH, strideW: sW } = cfg;
  const { padH, padW, dilationH: dH, dilationW: dW, outH: Ho, outW: Wo } = cfg;
  const f32 = Math.fround;
  const wo4 = Wo & ~3;
  const lanes = new Float32Array(4);
  for (let c = 0; c < C; c++) {
    const xc = c * H * W;
    const yc = c * Ho * Wo;
    if (dx) dx.fill(0, xc, xc + H * W);
    for (let ky = 0, tap = c * kH * kW; ky < kH; ky++) {
      for (let kx = 0; kx < kW; kx++, tap++) {
        // dW: 4 lane sums over the whole vectors of each row, one over the rest (as the kernel)
        lanes.fill(0);
        let rest = 0;
        const wt = w[tap];
        for (let oy = 0; oy < Ho; oy++) {
          const iy = oy * sH - padH + ky * dH;
          const inside = iy >= 0 && iy < H;
          const xr = xc + iy * W;
          const yr = yc + oy * Wo;
          for (let ox = 0, ix = kx * dW - padW; ox < Wo; ox++, ix += sW) {
            const hit = inside && ix >= 0 && ix < W;
            const g = dy[yr + ox];
            if (dw) {
              const p = f32(g * (hit ? x[xr + ix] : 0));
              if (ox < wo4) lanes[ox & 3] += p;
              else rest = f32(rest + p);
            }
            if (dx && hit) dx[xr + ix] += f32(wt * g);
          }
        }
        if (dw) dw[tap] += f32(f32(f32(lanes[0] + lanes[1]) + f32(lanes[2] + lanes[3])) + rest);
      }
    }
  }
}

/** depthwiseForward in plain JS (the same float32 operations as the WebAssembly kernel). */
export function depthwiseJs(cfg: DepthwiseConfig, x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array): void {
  const { channels: C, inH: H, inW: W, kernelH: kH, kernelW: kW, strideH: sH, strideW: sW } = cfg;
  const { padH, padW, dilationH: dH, dilationW: dW, outH: Ho, outW: Wo } = cfg;
  const f32 = Math.fround;
  for (let c = 0; c < C; c++) {
    const xc = c * H * W;
    const wc = c * kH * kW;
    for (let oy = 0; oy < Ho; oy++) {
      const row = (c * Ho + oy) * Wo;
      const end = row + Wo;
      // Tap by tap over the whole output row: y[row + ox] holds the float32 partial sums. Outputs
      // whose tap falls in the padding add f32(w * 0), as GEMM does with im2col's zeros.
      for (let ky = 0; ky < kH; ky++) {
        const iy = oy * sH - padH + ky * dH;
        const inside = iy >= 0 && iy < H;
        for (let kx = 0; kx < kW; kx++) {
          const wt = w[wc + ky * kW + kx];
          const zero = f32(wt * 0);
          const off = kx * dW - padW;
          const x0 = inside ? validLo(off, sW, Wo) : Wo;
          const x1 = inside ? validHi(off, sW, W, Wo, x0) : Wo;
          const lo = row + x0;
          const hi = row + x1;
          let i = xc + iy * W + x0 * sW + off;
          if (ky === 0 && kx === 0) {
            y.fill(zero, row, lo);
            for (let o = lo; o < hi; o++, i += sW) y[o] = f32(wt * x[i]);
            y.fill(zero, hi, end);
          } else {
            for (let o = row; o < lo; o++) y[o] += zero;
            for (let o = lo; o < hi; o++, i += sW) y[o] += f32(wt * x[i]);
            for (let o = hi; o < end; o++) y[o] += zero;
          }
        }
      }
      if (bias) {
        const b = bias[c];
        for (let o = row; o < end; o++) y[o] += b;
      }
    }
  }
}
