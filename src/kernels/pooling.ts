// Pooling window geometry along one spatial axis, as Caffe's pooling loops compute it (Pooling and
// LRN's WITHIN_CHANNEL average pooling share it).

/**
 * The windows of `pooled` outputs: window i reads input cells [start[i], end[i]); span[i] is its
 * extent clipped to the padded input (AVE's divisor factor), padding cells included.
 */
export interface PoolWindows {
  start: Int32Array;
  end: Int32Array;
  span: Int32Array;
}

export function poolWindows(pooled: number, stride: number, pad: number, kernel: number, size: number): PoolWindows {
  const w: PoolWindows = { start: new Int32Array(pooled), end: new Int32Array(pooled), span: new Int32Array(pooled) };
  for (let i = 0; i < pooled; i++) {
    const a = i * stride - pad;
    const b = Math.min(a + kernel, size + pad);
    w.start[i] = Math.max(a, 0);
    w.end[i] = Math.min(b, size);
    w.span[i] = b - a;
  }
  return w;
}
