// im2col / col2im with Caffe's layout (src/caffe/util/im2col.cpp), for 2-D and N-D images.
//
// The column buffer has one row per (channel, kernel offset) — channel slowest, then the kernel
// offsets in row-major order over the kernel axes — and one column per output position, in
// row-major order over the output axes. Output size per axis is
//   out = (in + 2 * pad - (dilation * (kernel - 1) + 1)) / stride + 1      (integer division)
// and element [(c, k...), (o...)] is image[c, o * stride - pad + k * dilation] or 0 when that
// position falls in the padding. col2im is the adjoint: it zeroes the image and sums every
// column element back into the pixel it was read from.
// All arrays are Float32Array views positioned at the start of one image / column buffer.
// The 2-D im2col of strided kernels runs in the SIMD module (simd.ts), which copies the same
// values.
import { addScatter, copyRun, gatherStrided, zeroRun } from './loops.js';
import { inSharedMemory, sharedArena, sharedKernelMemory } from './gemm.js';
import { simdKernel, simdOnShared, simdReserve, SIMD_MIN } from './simd.js';

/** Output extent of one spatial axis (may be <= 0 when the kernel does not fit). */
export function convOutSize(input: number, kernel: number, pad: number, stride: number, dilation: number): number {
  const extent = dilation * (kernel - 1) + 1;
  return Math.trunc((input + 2 * pad - extent) / stride) + 1;
}

/** First output index o in [0, out] with o * stride + off >= 0. */
export function validLo(off: number, stride: number, out: number): number {
  // o * stride + off >= 0  <=>  o >= ceil(-off / stride)
  const lo = off >= 0 ? 0 : Math.ceil(-off / stride);
  return lo > out ? out : lo;
}

/** One past the last output index o < out with o * stride + off < size (at least lo). */
export function validHi(off: number, stride: number, size: number, out: number, lo: number): number {
  // o * stride + off < size  <=>  o <= floor((size - 1 - off) / stride)
  let hi = size - 1 - off < 0 ? 0 : Math.floor((size - 1 - off) / stride) + 1;
  if (hi > out) hi = out;
  return hi < lo ? lo : hi;
}

/** First and one-past-last output index o in [0, out) with 0 <= o*stride + off < size. */
function validRange(off: number, stride: number, size: number, out: number): [number, number] {
  const lo = validLo(off, stride, out);
  return [lo, validHi(off, stride, size, out, lo)];
}

export function im2col(
  data: Float32Array,
  channels: number,
  height: number,
  width: number,
  kernelH: number,
  kernelW: number,
  padH: number,
  padW: number,
  strideH: number,
  strideW: number,
  dilationH: number,
  dilationW: number,
  col: Float32Array,
): void {
  const outH = convOutSize(height, kernelH, padH, strideH, dilationH);
  const outW = convOutSize(width, kernelW, padW, strideW, dilationW);
  if (outH <= 0 || outW <= 0) return;
  const plane = height * width;
  const outPlane = outH * outW;
  // Strided kernels wider than one column (first layers: 7x7 or 3x3, stride 2): the JS gathers
  // cost ~3 ns an element, the kernel's with the copies in and out 1.3-1.6x less. Elsewhere
  // copying the columns out costs what the kernel saves (unit strides are copied at memcpy
  // speed below; 1 x 1 strided kernels gather few elements per image element).
  if (strideW !== 1 && kernelW > 1 && channels * kernelH * kernelW * outPlane >= SIMD_MIN &&
    im2colSimd(data, channels, height, width, kernelH, kernelW, padH, padW, strideH, strideW, dilationH, dilationW, outH, outW, col)) {
    return;
  }
  // Unit strides with output rows as wide as the image (the usual "same" padding): a kernel
  // offset's block of the column buffer is the image shifted, so its valid rows are one
  // contiguous run in both buffers: one set(), then the few columns that fall in the padding
  // (which the run filled from the neighbouring image row) are zeroed.
  const wholeRows = strideH === 1 && strideW === 1 && outW === width;
  let o = 0;
  for (let c = 0; c < channels; c++) {
    const cBase = c * plane;
    for (let kr = 0; kr < kernelH; kr++) {
      const rowOff = kr * dilationH - padH;
      const y0 = validLo(rowOff, strideH, outH);
      const y1 = validHi(rowOff, strideH, height, outH, y0);
      for (let kc = 0; kc < kernelW; kc++) {
        const colOff = kc * dilationW - padW;
        const x0 = validLo(colOff, strideW, outW);
        const x1 = validHi(colOff, strideW, width, outW, x0);
        if (y1 === y0 || x1 === x0) {
          zeroRun(col, o, outPlane);
          o += outPlane;
          continue;
        }
        // Rows of the output that read padding.
        zeroRun(col, o, y0 * outW);
        if (wholeRows) {
          const start = o + y0 * outW + x0;
          const src = cBase + (y0 + rowOff) * width + colOff + x0;
          copyRun(data, src, col, start, (y1 - 1 - y0) * outW + x1 - x0);
          if (x0 > 0 || x1 < outW) {
            for (let y = y0; y < y1; y++) {
              const r = o + y * outW;
              for (let x = 0; x < x0; x++) col[r + x] = 0;
              for (let x = x1; x < outW; x++) col[r + x] = 0;
            }
          }
        } else {
          for (let y = y0; y < y1; y++) {
            const r = o + y * outW;
            const src = cBase + (y * strideH + rowOff) * width + colOff;
            for (let x = 0; x < x0; x++) col[r + x] = 0;
            if (strideW === 1) copyRun(data, src + x0, col, r + x0, x1 - x0);
            else gatherStrided(data, src + x0 * strideW, strideW, col, r + x0, x1 - x0);
            for (let x = x1; x < outW; x++) col[r + x] = 0;
          }
        }
        zeroRun(col, o + y1 * outW, (outH - y1) * outW);
        o += outPlane;
      }
    }
  }
}

/** im2col by the SIMD module's kernel (the same values); false when unavailable or too large. */
function im2colSimd(
  data: Float32Array, channels: number, height: number, width: number, kernelH: number, kernelW: number,
  padH: number, padW: number, strideH: number, strideW: number, dilationH: number, dilationW: number,
  outH: number, outW: number, col: Float32Array,
): boolean {
  const k = simdKernel();
  if (!k) return false;
  const n = channels * height * width;
  const m = channels * kernelH * kernelW * outH * outW;
  const pCol = 4 * n;
  if (!simdReserve(k, pCol + 4 * m)) return false;
  k.f32.set(data.subarray(0, n), 0);
  k.ex.im2col(0, channels, height, width, kernelH, kernelW, padH, padW, strideH, strideW, dilationH, dilationW, outH, outW, pCol);
  col.set(k.f32.subarray(pCol >> 2, (pCol >> 2) + m));
  return true;
}

// im2col into the GEMM's shared memory, for a convolution whose product then reads the columns
// in place (gemm() takes operands that are views of that memory without copying them in): the
// SIMD module's im2col runs on that memory, reading the image where it lies when it is a blob of
// the inference arena (else copying it in first, one aligned copy).
let colStore: { data: Float32Array; owner: object } | null = null;

/**
 * The columns of a 2-D image (as im2col) in a scratch region of the shared memory, valid until the
 * next call; null when there is no shared memory or SIMD kernel (use im2col into a buffer then).
 */
export function im2colShared(
  data: Float32Array, channels: number, height: number, width: number, kernelH: number, kernelW: number,
  padH: number, padW: number, strideH: number, strideW: number, dilationH: number, dilationW: number,
): Float32Array | null {
  const memory = sharedKernelMemory();
  const k = memory && simdOnShared(memory);
  if (!k) return null;
  const outH = convOutSize(height, kernelH, padH, strideH, dilationH);
  const outW = convOutSize(width, kernelW, padW, strideW, dilationW);
  if (outH <= 0 || outW <= 0) return null;
  const n = channels * height * width;
  const m = channels * kernelH * kernelW * outH * outW;
  const copyIn = !inSharedMemory(data);
  const imFloats = copyIn ? (n + 15) & ~15 : 0;
  if (colStore === null || colStore.data.length < imFloats + m) {
    colStore = sharedArena(Math.max(imFloats + m, Math.ceil((colStore?.data.length ?? 0) * 1.25)));
    if (colStore === null) return null;
  }
  const store = colStore.data;
  let pIm = data.byteOffset;
  if (copyIn) {
    store.set(data.subarray(0, n));
    pIm = store.byteOffset;
  }
  const col = store.subarray(imFloats, imFloats + m);
  k.im2col(pIm, channels, height, width, kernelH, kernelW, padH, padW, strideH, strideW, dilationH, dilationW, outH, outW, col.byteOffset);
  return col;
}

// im2col's adjoint, with its own loops (not one core with a direction flag, as the N-D code): the
// 2-D pair is the hot path.
export function col2im(
  col: Float32Array,
  channels: number,
  height: number,
  width: number,
  kernelH: number,
  kernelW: number,
  padH: number,
  padW: number,
  strideH: number,
  strideW: number,
  dilationH: number,
  dilationW: number,
  data: Float32Array,
): void {
  const plane = height * width;
  data.fill(0, 0, channels * plane);
  const outH = convOutSize(height, kernelH, padH, strideH, dilationH);
  const outW = convOutSize(width, kernelW, padW, strideW, dilationW);
  if (outH <= 0 || outW <= 0) return;
  let o = 0;
  for (let c = 0; c < channels; c++) {
    const cBase = c * plane;
    for (let kr = 0; kr < kernelH; kr++) {
      const rowOff = kr * dilationH - padH;
      const y0 = validLo(rowOff, strideH, outH);
      const y1 = validHi(rowOff, strideH, height, outH, y0);
      for (let kc = 0; kc < kernelW; kc++) {
        const colOff = kc * dilationW - padW;
        const x0 = validLo(colOff, strideW, outW);
        const x1 = validHi(colOff, strideW, width, outW, x0);
        for (let y = y0; y < y1; y++) {
          const dst = cBase + (y * strideH + rowOff) * width + colOff;
          addScatter(col, o + y * outW + x0, data, dst + x0 * strideW, strideW, x1 - x0);
        }
        o += outH * outW;
      }
    }
  }
}

/** Kernel, pad, stride and dilation per spatial axis. */
export interface ConvWindow {
  kernel: ArrayLike<number>;
  pad: ArrayLike<number>;
  stride: ArrayLike<number>;
  dilation: ArrayLike<number>;
}

/**
 * im2col (toCol) or col2im of one image (imShape = [channels, ...spatial]) and its colShape
 * buffer, by the routine Caffe picks: the 2-D one for two spatial axes unless forceNd
 * (force_nd_im2col), else the N-D one.
 */
export function im2colAuto(
  toCol: boolean, im: Float32Array, col: Float32Array, imShape: ArrayLike<number>, colShape: ArrayLike<number>,
  g: ConvWindow, forceNd: boolean,
): void {
  const { kernel: k, pad: p, stride: s, dilation: d } = g;
  const n = imShape.length - 1;
  if (forceNd || n !== 2) ndCore(toCol, im, n, imShape, colShape, k, p, s, d, col);
  else if (toCol) im2col(im, imShape[0], imShape[1], imShape[2], k[0], k[1], p[0], p[1], s[0], s[1], d[0], d[1], col);
  else col2im(col, imShape[0], imShape[1], imShape[2], k[0], k[1], p[0], p[1], s[0], s[1], d[0], d[1], im);
}

/**
 * N-D im2col. imShape = [channels, ...spatial] (numSpatialAxes + 1 entries), colShape =
 * [channels * prod(kernel), ...output spatial]; kernel/pad/stride/dilation have numSpatialAxes
 * entries. Same layout as the 2-D version (which it equals for two spatial axes).
 */
export function im2colNd(
  data: Float32Array,
  numSpatialAxes: number,
  imShape: ArrayLike<number>,
  colShape: ArrayLike<number>,
  kernel: ArrayLike<number>,
  pad: ArrayLike<number>,
  stride: ArrayLike<number>,
  dilation: ArrayLike<number>,
  col: Float32Array,
): void {
  ndCore(true, data, numSpatialAxes, imShape, colShape, kernel, pad, stride, dilation, col);
}

/** N-D col2im (the adjoint of im2colNd): zeroes `data` and accumulates `col` into it. */
export function col2imNd(
  col: Float32Array,
  numSpatialAxes: number,
  imShape: ArrayLike<number>,
  colShape: ArrayLike<number>,
  kernel: ArrayLike<number>,
  pad: ArrayLike<number>,
  stride: ArrayLike<number>,
  dilation: ArrayLike<number>,
  data: Float32Array,
): void {
  ndCore(false, data, numSpatialAxes, imShape, colShape, kernel, pad, stride, dilation, col);
}

function ndCore(
  toCol: boolean,
  im: Float32Array,
  n: number,
  imShape: ArrayLike<number>,
  colShape: ArrayLike<number>,
  kernel: ArrayLike<number>,
  pad: ArrayLike<number>,
  stride: ArrayLike<number>,
  dilation: ArrayLike<number>,
  col: Float32Array,
): void {
  let imSpatial = 1;
  let colSpatial = 1;
  let kernelSize = 1;
  for (let i = 0; i < n; i++) {
    imSpatial *= imShape[i + 1];
    colSpatial *= colShape[i + 1];
    kernelSize *= kernel[i];
  }
  if (!toCol) im.fill(0, 0, imShape[0] * imSpatial);
  if (colSpatial <= 0 || n === 0) {
    if (n === 0) {
      // No spatial axes: the column buffer is the image itself (kernel of size 1).
      const c = colShape[0];
      if (toCol) for (let i = 0; i < c; i++) col[i] = im[i];
      else for (let i = 0; i < c; i++) im[i] += col[i];
    }
    return;
  }
  // Row-major strides of the image's spatial axes.
  const imStride = new Array<number>(n);
  let s = 1;
  for (let i = n - 1; i >= 0; i--) {
    imStride[i] = s;
    s *= imShape[i + 1];
  }
  const kOff = new Array<number>(n).fill(0); // current kernel offset per axis
  const oIdx = new Array<number>(n).fill(0); // current output position per axis
  const last = n - 1;
  const outLast = colShape[last + 1];
  const channelsCol = colShape[0];
  for (let cCol = 0; cCol < channelsCol; cCol++) {
    // Kernel offsets of this row: cCol = cIm * kernelSize + row-major(kOff).
    let rem = cCol;
    for (let i = last; i >= 0; i--) {
      kOff[i] = rem % kernel[i];
      rem = Math.floor(rem / kernel[i]);
    }
    const imBase = Math.floor(cCol / kernelSize) * imSpatial;
    let colIdx = cCol * colSpatial;
    oIdx.fill(0);
    // Walk the output positions; the innermost axis is handled as one strided run.
    const offLast = kOff[last] * dilation[last] - pad[last];
    const [x0, x1] = validRange(offLast, stride[last], imShape[last + 1], outLast);
    for (;;) {
      // Image offset of the outer axes, or -1 if any falls in the padding.
      let base = imBase;
      for (let i = 0; i < last; i++) {
        const p = oIdx[i] * stride[i] - pad[i] + kOff[i] * dilation[i];
        if (p < 0 || p >= imShape[i + 1]) {
          base = -1;
          break;
        }
        base += p * imStride[i];
      }
      if (base < 0) {
        if (toCol) col.fill(0, colIdx, colIdx + outLast);
      } else {
        const src = base + offLast;
        const st = stride[last];
        if (toCol) {
          if (x0 > 0) col.fill(0, colIdx, colIdx + x0);
          for (let x = x0; x < x1; x++) col[colIdx + x] = im[src + x * st];
          if (x1 < outLast) col.fill(0, colIdx + x1, colIdx + outLast);
        } else {
          for (let x = x0; x < x1; x++) im[src + x * st] += col[colIdx + x];
        }
      }
      colIdx += outLast;
      // Advance the outer output axes (odometer).
      let i = last - 1;
      for (; i >= 0; i--) {
        if (++oIdx[i] < colShape[i + 1]) break;
        oIdx[i] = 0;
      }
      if (i < 0) break;
    }
  }
}
