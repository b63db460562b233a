// How many threads the kernels may use: one setting for the API (`setThreads`) and every CLI
// command's --threads, instead of only the CAFFE_TS_THREADS environment variable. Today the GEMM's
// worker pool is what splits work; other kernels read the same setting when they grow threads.
import { gemmBackend, gemmThreadInfo, setGemmThreads } from './gemm.js';
import { simdKernel } from './simd.js';
import { winogradBackend } from './winograd.js';
import { depthwiseEnabled } from './depthwise.js';

/**
 * Sets the number of threads (1 = the calling thread only; at most 8, and at most what the
 * environment allows: CAFFE_TS_THREADS=1 or no SharedArrayBuffer keeps one). Returns the number
 * in effect.
 */
export function setThreads(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`threads must be a positive integer, got ${n}`);
  setGemmThreads(n);
  return getThreads();
}

/** The number of threads in effect. */
export function getThreads(): number {
  return gemmThreadInfo().threads;
}

/**
 * What the thread pool is doing: threads in effect, workers up, panels of split products the
 * workers computed so far (0 when nothing was split), and why there is one thread, if so.
 */
export function threadInfo(): { threads: number; workers: number; workerPanels: number; reason: string } {
  const i = gemmThreadInfo();
  return { threads: i.threads, workers: i.workers, workerPanels: i.workerPanels, reason: i.reason };
}

/**
 * Which kernels this runtime runs: the GEMM's (WebAssembly SIMD, with fused multiply-add or not,
 * or the JS fallback and why), the element-wise module's, Winograd's transforms' and whether
 * depthwise convolutions are computed directly.
 */
export function kernelInfo(): { gemm: 'wasm-simd' | 'js'; fma: boolean; reason: string; simd: boolean; winograd: 'wasm-simd' | 'js'; depthwise: boolean } {
  return {
    gemm: gemmBackend.kernel,
    fma: gemmBackend.fma,
    reason: gemmBackend.reason,
    simd: simdKernel() !== null,
    winograd: winogradBackend(),
    depthwise: depthwiseEnabled(),
  };
}
