// CAFFE_TS_PLAIN=1: the plain path everywhere (no fused layers, no Winograd, no memory arena), so
// CI can check Caffe's cases on it as well as on the fast path.
export function plainForced(): boolean {
  return typeof process === 'object' && process.env?.CAFFE_TS_PLAIN === '1';
}
