// How many threads the kernels may use: one setting for the API (`setThreads`) and every CLI
// command's --threads, instead of only the CAFFE_TS_THREADS environment variable. Today the GEMM's
// worker pool is what splits work; other kernels read the same setting when they grow threads.
import { gemmThreadInfo, setGemmThreads } from './gemm.js';

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
