// Per-row maps over a tensor seen as rows of S elements, row r taking its operands from
// a[r % dim] and b[r % dim]: the per-channel affine maps of Scale, Bias, BatchNorm and the
// convolution bias. One call for the whole tensor, so the SIMD kernel (src/kernels/simd.ts)
// streams it in large blocks however short the rows are (7 x 7 maps in ResNet's last stage);
// the JS loops of loops.ts are the fallback and give the same float32 results.
import { addArrays, centerScaleRange, reluArrays, scaleRange, scaleShiftRange, scaleShiftReluRange, shiftRange, sumRange } from './loops.js';
import { rowsShortcutSimd, rowsSimd, scaleGradRowsSimd, simdKernel, SIMD_MIN } from './simd.js';

const f32 = Math.fround;

/** y = x * a */
export const ROW_MUL = 0;
/** y = f32(x * a) + b (Scale with its bias: Caffe's two layers, rounded after each) */
export const ROW_MUL_ADD = 1;
/** y = x + b */
export const ROW_ADD = 2;
/** y = f32(x - a) / b (BatchNorm's (x - mean) / std) */
export const ROW_CENTER_DIV = 3;
/** y = x / b */
export const ROW_DIV = 4;
/** y = max(f32(x * a) + b, 0) (a convolution's fused BatchNorm/Scale/ReLU epilogue) */
export const ROW_MUL_ADD_RELU = 5;

/**
 * Applies `mode` to rows * S elements of x into y (in place when they are one array). a and b
 * are float32 operands (only those the mode reads are used; pass null for the other).
 */
export function rowMap(
  mode: number, x: Float32Array, y: Float32Array, rows: number, S: number, dim: number,
  a: Float32Array | null, b: Float32Array | null,
): void {
  if (rows * S >= SIMD_MIN) {
    const k = simdKernel();
    if (k && rowsSimd(k, mode, x, y, rows, S, dim, a, b)) return;
  }
  for (let r = 0, o = 0; r < rows; r++, o += S) {
    const d = r % dim;
    // A divide by a float is a multiply by its double reciprocal (see centerScaleRange).
    if (mode === ROW_MUL) scaleRange(x, y, o, o + S, a![d]);
    else if (mode === ROW_MUL_ADD) scaleShiftRange(x, y, o, o + S, a![d], b![d]);
    else if (mode === ROW_ADD) shiftRange(x, y, o, o + S, b![d]);
    else if (mode === ROW_CENTER_DIV) centerScaleRange(x, y, o, o + S, a![d], 1 / b![d]);
    else if (mode === ROW_MUL_ADD_RELU) scaleShiftReluRange(x, y, o, o + S, a![d], b![d]);
    else scaleRange(x, y, o, o + S, 1 / b![d]);
  }
}

/**
 * A convolution's epilogue with a residual Eltwise SUM folded in (src/graph/fusion.ts), rows of
 * S elements, row r on channel r % dim: y = f32(f32(x * a) + b) + s, then ReLU (slope 0) when
 * `relu`. The same float32 operations as ROW_MUL_ADD, addArrays and reluArrays one after the
 * other (Scale, Eltwise, ReLU), in one streamed pass when the SIMD kernels run.
 */
export function rowMapShortcut(
  x: Float32Array, y: Float32Array, rows: number, S: number, a: Float32Array, b: Float32Array, s: Float32Array, relu: boolean,
): void {
  const n = rows * S;
  if (n >= SIMD_MIN) {
    const k = simdKernel();
    if (k && rowsShortcutSimd(k, x, y, rows, S, rows, a, b, s, relu)) return;
  }
  rowMap(ROW_MUL_ADD, x, y, rows, S, rows, a, b);
  addArrays(y, s, y, n);
  if (relu) reluArrays(y, y, n, 0);
}

/**
 * Scale's backward over rows of S elements (row r scaled by s[r % dim]): dx = s * dy, with per
 * row the double sums of dy (into biasSums, when given; sumRange's order) and of f32(dy * x)
 * (into gradSums; scaleGradRow's order), each row's sums taken before its dx is written (dx may
 * be dy).
 */
export function scaleGradRows(
  dy: Float32Array, x: Float32Array, dx: Float32Array, rows: number, S: number, dim: number,
  s: Float32Array, biasSums: Float64Array | null, gradSums: Float64Array,
): void {
  if (rows * S >= SIMD_MIN) {
    const k = simdKernel();
    if (k && scaleGradRowsSimd(k, dy, x, dx, rows, S, dim, s, biasSums, gradSums)) return;
  }
  for (let r = 0, o = 0; r < rows; r++, o += S) {
    if (biasSums) biasSums[r] = sumRange(dy, o, o + S);
    gradSums[r] = scaleGradRow(dy, x, dx, o, o + S, s[r % dim]);
  }
}

/** Returns the double sum of f32(dy * x) over [start, end) and sets dx = f * dy there (dx may be dy). */
function scaleGradRow(dy: Float32Array, x: Float32Array, dx: Float32Array, start: number, end: number, f: number): number {
  let s0 = 0, s1 = 0;
  let i = start;
  for (; i + 2 <= end; i += 2) {
    const g0 = dy[i];
    const g1 = dy[i + 1];
    s0 += f32(g0 * x[i]);
    s1 += f32(g1 * x[i + 1]);
    dx[i] = f * g0;
    dx[i + 1] = f * g1;
  }
  for (; i < end; i++) {
    const g = dy[i];
    s0 += f32(g * x[i]);
    dx[i] = f * g;
  }
  return s0 + s1;
}
