// Depthwise 2-D convolution forward for one sample: one kH x kW filter per channel (Convolution
// with group == channels == num_output, as MobileNets use it), computed directly instead of as
// one M = 1 GEMM per channel over im2col's columns.
//   y[c, oy, ox] = sum_{ky, kx} w[c, ky, kx] * x[c, oy * sH - padH + ky * dH, ox * sW - padW + kx * dW]
//                  (+ bias[c]), x read as 0 outside the plane
// Two kernels, the same float32 operations in the same order (taps ky-major as im2col lays them
// out, each product rounded then added, the bias last), hence the same bits:
//  - WebAssembly SIMD (wasm/depthwise.wat): channels are copied into the module's memory a chunk
//    at a time, each plane into a zero-padded scratch there, four outputs of a row per vector;
//  - depthwiseJs below: the fallback (runtimes without WebAssembly SIMD, CAFFE_TS_SIMD=js or
//    setSimdKernels(false), as simd.ts) and the reference the tests compare with.
// The GEMM path sums the same products in the same order, but its kernels may accumulate in
// another precision (the JS GEMM in doubles), so the two agree to float32 rounding, not bitwise.
import { instantiateKernel, simdKernel, simdReserve, type WasmMemoryViews } from './simd.js';

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

interface DepthwiseExports {
  memory: WebAssembly.Memory;
  depthwise(
    pIn: number, pOut: number, pW: number, pB: number, hasBias: number, C: number, H: number, W: number, kH: number, kW: number,
    sH: number, sW: number, padH: number, padW: number, dH: number, dW: number, Ho: number, Wo: number, pPad: number,
  ): void;
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

/** Whether Convolution takes the direct depthwise path for its depthwise layers. */
export function depthwiseEnabled(): boolean {
  return useDirect;
}

/** The WebAssembly kernel, or null when the SIMD kernels are off or this one cannot load. */
function kernel(): DepthwiseKernel | null {
  if (simdKernel() === null) return null;
  if (loaded === undefined) {
    const ex = instantiateKernel<DepthwiseExports>('depthwise.wasm');
    loaded = typeof ex === 'string' ? null : { ex, f32: new Float32Array(ex.memory.buffer), i32: new Int32Array(ex.memory.buffer) };
  }
  return loaded;
}

/** Which kernel depthwiseForward runs: 'wasm-simd' or 'js'. */
export function depthwiseBackend(): 'wasm-simd' | 'js' {
  return kernel() === null ? 'js' : 'wasm-simd';
}

/** Bytes of input per chunk of channels streamed through the module: a few planes stay in L2. */
const CHUNK_BYTES = 1 << 20;

const align16 = (n: number) => (n + 15) & ~15;

/**
 * y (channels x outH x outW) = depthwise convolution of x (channels x inH x inW) with w
 * (channels x kernelH x kernelW), plus bias (channels) unless null. Overwrites y.
 */
export function depthwiseForward(cfg: DepthwiseConfig, x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array): void {
  const k = kernel();
  if (k === null || !depthwiseWasm(k, cfg, x, w, bias, y)) depthwiseJs(cfg, x, w, bias, y);
}

/** depthwiseForward on the WebAssembly kernel; false when a channel does not fit its memory. */
function depthwiseWasm(k: DepthwiseKernel, cfg: DepthwiseConfig, x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array): boolean {
  const { channels: C, inH: H, inW: W, kernelH: kH, kernelW: kW, strideH: sH, strideW: sW } = cfg;
  const { padH, padW, dilationH: dH, dilationW: dW, outH: Ho, outW: Wo } = cfg;
  const inPlane = H * W;
  const outPlane = Ho * Wo;
  const taps = kH * kW;
  // The padded plane depthwise.wat lays out (its sizes, and 16 bytes of slack).
  const Wp = Math.ceil(Wo / 4) * 4 * sW + (kW - 1) * dW + 4;
  const Hp = (Ho - 1) * sH + (kH - 1) * dH + 1;
  const per = Math.max(1, Math.min(C, Math.floor(CHUNK_BYTES / (4 * (inPlane + outPlane)))));
  const pOut = align16(4 * per * inPlane);
  const pW = align16(pOut + 4 * per * outPlane + 16);
  const pB = align16(pW + 4 * per * taps);
  const pPad = align16(pB + 4 * per);
  if (!simdReserve(k, pPad + 4 * Hp * Wp + 16)) return false;
  const h = k.f32;
  for (let c0 = 0; c0 < C; c0 += per) {
    const m = Math.min(per, C - c0);
    h.set(x.subarray(c0 * inPlane, (c0 + m) * inPlane), 0);
    h.set(w.subarray(c0 * taps, (c0 + m) * taps), pW >> 2);
    if (bias) h.set(bias.subarray(c0, c0 + m), pB >> 2);
    k.ex.depthwise(0, pOut, pW, pB, bias ? 1 : 0, m, H, W, kH, kW, sH, sW, padH, padW, dH, dW, Ho, Wo, pPad);
    y.set(h.subarray(pOut >> 2, (pOut >> 2) + m * outPlane), c0 * outPlane);
  }
  return true;
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
      // Tap by tap over the whole output row: y[row + ox] holds the float32 partial sums.
      for (let ky = 0; ky < kH; ky++) {
        const iy = oy * sH - padH + ky * dH;
        const inside = iy >= 0 && iy < H;
        const xr = xc + iy * W;
        for (let kx = 0; kx < kW; kx++) {
          const wt = w[wc + ky * kW + kx];
          const zero = f32(wt * 0);
          const first = ky === 0 && kx === 0;
          for (let ox = 0, ix = kx * dW - padW; ox < Wo; ox++, ix += sW) {
            const p = inside && ix >= 0 && ix < W ? f32(wt * x[xr + ix]) : zero;
            y[row + ox] = first ? p : y[row + ox] + p;
          }
        }
      }
      if (bias) {
        const b = bias[c];
        for (let ox = 0; ox < Wo; ox++) y[row + ox] += b;
      }
    }
  }
}
