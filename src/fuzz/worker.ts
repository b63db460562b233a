// The fuzz loop in a worker thread, so that the main thread can watch it: an input that runs past
// the time limit (an endless loop, say) is detected from outside and the worker terminated.
import { parentPort, workerData } from 'node:worker_threads';
import { Fuzzer, runRange } from './run.js';

interface Job {
  seed: number;
  readers?: string[];
  start: number;
  end: number;
  progress: SharedArrayBuffer;
  shrink: boolean;
}

const job = workerData as Job;
const progress = new Int32Array(job.progress);
const fuzzer = new Fuzzer(job.seed, job.readers);
try {
  const CHUNK = 2000;
  for (let s = job.start; s < job.end; s += CHUNK) {
    const stats = runRange(fuzzer, s, Math.min(job.end, s + CHUNK), (f) => parentPort!.postMessage({ type: 'failure', failure: f }), progress, job.shrink);
    parentPort!.postMessage({ type: 'stats', perReader: stats.perReader, end: Math.min(job.end, s + CHUNK) });
  }
} finally {
  fuzzer.close();
}
