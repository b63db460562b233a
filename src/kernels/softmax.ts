// Softmax along one axis of a tensor viewed as (outer, channels, inner), row-major: element
// (o, c, i) lives at (o * channels + c) * inner + i. As Caffe, the per-position maximum over the
// channels is subtracted before exponentiating, so large inputs do not overflow.
// Used by the Softmax layer and by the loss layers that apply a softmax internally
// (SoftmaxWithLoss, InfogainLoss).

/** Scratch space reused across calls (grown on demand). */
let scratch = new Float64Array(64);
function buffer(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, 2 * scratch.length));
  return scratch;
}

/**
 * y = softmax(x) over the channel axis. x and y may be the same array (in place).
 */
export function softmaxForward(
  x: Float32Array,
  y: Float32Array,
  outer: number,
  channels: number,
  inner: number,
): void {
  const dim = channels * inner;
  const buf = buffer(2 * inner);
  for (let o = 0; o < outer; o++) {
    const base = o * dim;
    // Per-position maximum over the channels.
    for (let i = 0; i < inner; i++) buf[i] = x[base + i];
    for (let c = 1; c < channels; c++) {
      const off = base + c * inner;
      for (let i = 0; i < inner; i++) {
        const v = x[off + i];
        if (v > buf[i]) buf[i] = v;
      }
    }
    // Shifted exponentials and their sums.
    for (let i = 0; i < inner; i++) buf[inner + i] = 0;
    for (let c = 0; c < channels; c++) {
      const off = base + c * inner;
      for (let i = 0; i < inner; i++) {
        // Caffe subtracts in float, then exponentiates.
        const e = Math.fround(Math.exp(Math.fround(x[off + i] - buf[i])));
        y[off + i] = e;
        buf[inner + i] += e;
      }
    }
    for (let c = 0; c < channels; c++) {
      const off = base + c * inner;
      for (let i = 0; i < inner; i++) y[off + i] = y[off + i] / buf[inner + i];
    }
  }
}

/**
 * Gradient of the softmax: dx = (dy - <dy, y>_channels) * y, with y the forward output.
 * dx and dy may be the same array.
 */
export function softmaxBackward(
  y: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  outer: number,
  channels: number,
  inner: number,
): void {
  const dim = channels * inner;
  const dot = buffer(inner);
  for (let o = 0; o < outer; o++) {
    const base = o * dim;
    for (let i = 0; i < inner; i++) dot[i] = 0;
    for (let c = 0; c < channels; c++) {
      const off = base + c * inner;
      for (let i = 0; i < inner; i++) dot[i] += dy[off + i] * y[off + i];
    }
    for (let c = 0; c < channels; c++) {
      const off = base + c * inner;
      for (let i = 0; i < inner; i++) dx[off + i] = (dy[off + i] - dot[i]) * y[off + i];
    }
  }
}
