// Worker threads for the WebAssembly GEMM kernel (gemm-wasm.ts), which registers its module and
// shared memory here (registerSharedKernel) and hands this module the products to split
// (splitCall). Large products are shared between the calling thread and T - 1 worker threads
// (T = min(os.availableParallelism(), CAFFE_TS_THREADS or 2, 8); CAFFE_TS_THREADS=1: one thread,
// no shared memory, no worker). All run the same wasm kernel on one shared WebAssembly.Memory:
// gemm-wasm.ts copies the operands in once, then each thread takes panels of C (column panels,
// or row panels when op(A) is the taller side) from a shared counter, computes them with its own
// packing scratch, and when all are done the caller copies C out: nothing is copied between
// threads. Only M or N is split, never K, and the kernel's result for an element does not depend
// on where its tile lies, so results are bit-identical to one thread's. Panels shrink as the
// product proceeds (guided scheduling) and are handed out dynamically, so a worker that is slow
// to wake or is descheduled (another process on its core) just takes fewer of them.
//
// Synchronisation: an Int32Array over a SharedArrayBuffer (ctrl), a Float64Array with the call's
// arguments and an Int32Array of panel bounds. Each worker has a state word: -1 starting, 0 idle,
// 1 job offered, 2 job taken, 3 job done, -2 dead. The caller writes the arguments, sets every
// idle worker's state to 1 and wakes it (Atomics.notify), computes panels itself, then takes back
// each offer no worker took (compareExchange 1 -> 0) and waits for the workers that took one to
// reach 3 (polling, then Atomics.wait). A worker polls its state for a while after a job, then
// sleeps in Atomics.wait until offered one (see WORKER_SPIN_MS), and takes it with
// compareExchange 1 -> 2, so an offer is either taken or withdrawn, never both.
//
// Workers start lazily (at the first product big enough to split), and gemm() never waits for
// them: until a worker is up, products run on the calling thread. They are unref'd (they never keep
// the process alive; a worker blocked in Atomics.wait does not delay exit), and any failure (no
// shared memory, a worker that cannot start) leaves gemm() on one thread, silently. A worker is
// plain JS run with `eval: true` (WORKER_BODY's serve(data), started by spawnWorker), given the
// compiled modules, the memory and the control arrays in that one argument: there is no worker
// file to find from src/ (vitest) or dist/, and nothing to build.
//
// Other kernels use the same pool (splitJob): a module registered with registerPoolModule
// (depthwise.ts's, simd.ts's) is instantiated by every worker on the same shared memory, and a job
// of its kind is split into chunks of independent outputs (channels, planes, positions), handed
// out from the same counter.
//
// When it pays (2 cores, wall time, bench/gemm.ts): 1.5-1.8x from ~16M multiply-adds (256^3,
// 64x3136x576, 1024x1024x256), ~1.3x at 2M (128^3), break-even near 1M (wake-up of the worker,
// cache traffic between cores, repacking of the unsplit operand per panel). Hence parMinWork = 2M.
// Forward passes (wall): ResNet-50 1.25-1.4x, GoogLeNet 1.25x, SqueezeNet 1.1-1.25x, LeNet ~1.0x.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const MAX_THREADS = 8;
/** The narrowest panel (columns or rows), and the most panels of one split product. */
const PANEL_MIN = 32;
const MAX_PANELS = 64;
const C_NEXT = 0; // next panel to hand out
const C_PANELS = 1; // panels computed by workers (statistics, for tests)
const C_ERROR = 2; // 1 when a worker failed during a job
const C_STATE = 4; // state of worker w at C_STATE + w
const S_DEAD = -2;
const S_STARTING = -1;
const S_IDLE = 0;
const S_OFFERED = 1;
const S_TAKEN = 2;
const S_DONE = 3;
const P_KIND = 19; // which job: JOB_GEMM or another kernel's (see splitJob)
const P_ARGS = 20; // a non-GEMM job's arguments start here
const P_EPI = 20; // a GEMM job's epilogue (flags, pa, pb, pS, lds; see splitCall)
const P_COUNT = 48;
/** Job kinds: the GEMM panels of splitCall, or chunks of another kernel (splitJob). */
const JOB_GEMM = 0;
export const JOB_DEPTHWISE = 1;
export const JOB_MAXPOOL = 2;
export const JOB_AVEPOOL = 3;
export const JOB_LRN = 4;
/** Whole products of one shape, each taken by one thread (gemmBatch in gemm-wasm.ts). */
export const JOB_GEMM_BATCH = 5;
/** Winograd's input transform by channels, its output transform by output channels (winograd.ts). */
export const JOB_WINOGRAD_IN = 6;
export const JOB_WINOGRAD_OUT = 7;
/** The module (registerPoolModule's name) each job kind runs. */
const JOB_MODULES = ['gemm', 'depthwise', 'simd', 'simd', 'simd', 'gemm', 'winograd', 'winograd'];
/**
 * How long an idle worker polls for its next job before it sleeps in Atomics.wait, and how long
 * the caller polls for the workers' end of a job: waking a thread from Atomics.wait costs tens of
 * microseconds, and in a net the next large product often follows within a millisecond. Forward
 * passes (2 cores, batch 1, interleaved runs): a few percent faster than waiting at once.
 */
const WORKER_SPIN_MS = 1;
const SETTLE_SPIN_MS = 2;

/**
 * Threads from the environment: `threads` = min(cores, CAFFE_TS_THREADS or 2, 8) is the default;
 * `allowed` is false with CAFFE_TS_THREADS=1 (then no shared memory and no worker, ever).
 */
function readThreadConfig(): { threads: number; allowed: boolean; reason: string } {
  let cores = 1;
  try {
    cores = availableParallelism();
  } catch {
    // keep 1
  }
  // Browsers give SharedArrayBuffer only to cross-origin isolated pages: no threads elsewhere.
  if (typeof SharedArrayBuffer !== 'function') return { threads: 1, allowed: false, reason: 'no SharedArrayBuffer (in a browser: the page is not cross-origin isolated)' };
  const env = typeof process === 'object' ? process.env?.CAFFE_TS_THREADS : undefined;
  let want = 2;
  if (env !== undefined && env.trim() !== '') {
    const n = Number(env);
    if (n === 1) return { threads: 1, allowed: false, reason: 'CAFFE_TS_THREADS=1' };
    if (Number.isInteger(n) && n > 1) want = n;
  }
  const threads = Math.max(1, Math.min(want, cores, MAX_THREADS));
  return { threads, allowed: true, reason: threads === 1 ? 'one core' : '' };
}

let threadConfig = readThreadConfig();

/** Whether threads may be used (not CAFFE_TS_THREADS=1): gemm-wasm.ts then sets up a shared memory. */
export function threadsAllowed(): boolean {
  return threadConfig.allowed;
}

/** No threads after all (no shared memory in this engine): gemm() stays on one thread. */
export function disallowThreads(reason: string): void {
  threadConfig = { threads: 1, allowed: false, reason };
}

/** The exported `gemm` of gemm.wat (see there for the arguments). */
export type WasmGemmFn = (
  flags: number, M: number, N: number, K: number, alpha: number,
  pA: number, lda: number, pB: number, ldb: number, beta: number, pC: number, ldc: number, offA: number, offB: number,
  packA: number, packB: number, tile: number, mcb: number, kcb: number, ncb: number,
) => void;

/** The exported `epilogue` of gemm.wat. */
export type WasmEpilogueFn = (flags: number, pC: number, ldc: number, m: number, n: number, pa: number, pb: number, pS: number, lds: number) => void;

/** The exported `pack` of gemm.wat. */
export type WasmPackFn = (wide: number, src: number, si: number, sk: number, rows: number, K: number, kcb: number, dst: number) => void;

/** What the pool needs of the wasm kernel on shared memory, registered by gemm-wasm.ts. */
export interface SharedKernel {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Byte addresses of thread t's packing scratch (t = 0: the calling thread, 1 ..: the workers). */
  scratch(t: number): { packA: number; packB: number; tile: number };
  /** The kernel's cache blocking (gemm.wat's mcb, kcb, ncb). */
  mcb: number;
  kcb: number;
  ncb: number;
  /** Panels of a split product start at multiples of this (the kernel's wide tile side). */
  unit: number;
  /**
   * The byte address of `bytes` free bytes of the shared memory (grown to hold them) for one
   * splitJob's operands, above every thread's GEMM scratch; null when they do not fit.
   */
  region(bytes: number): number | null;
}

/** The kernel on shared memory (null: none, gemm() on one thread). */
let shared: SharedKernel | null = null;
/** Why there is no wasm kernel at all ('' when there is one). */
let noKernel = '';

/**
 * Called once by gemm-wasm.ts when it has loaded: its kernel on shared memory (null when threads
 * are not allowed or the engine has no shared memory), and why there is no kernel at all, if so.
 */
export function registerSharedKernel(kernel: SharedKernel | null, noKernelReason: string): void {
  shared = kernel;
  noKernel = noKernelReason;
  parThreads = shared ? threadConfig.threads : 1;
}

/** Products (m n k of one operand block) from this many multiply-adds are split between threads. */
let parMinWork = 1 << 21;
/** Threads a product is shared between (1: single-threaded). */
let parThreads = 1;

/** Threads large products are shared between now (1: single-threaded). */
export function gemmThreadCount(): number {
  return parThreads;
}

/** Multiply-adds (m n k of one operand block) from which products are split between threads. */
export function gemmThreadMinWork(): number {
  return parMinWork;
}

/** Testing: the calling thread leaves every panel to the workers. */
let parWorkersOnly = false;

interface Pool {
  workers: Worker[];
  ctrl: Int32Array;
  params: Float64Array;
  /** Panel c of the current job covers rows or columns bounds[c] .. bounds[c + 1]. */
  bounds: Int32Array;
  /** Set when a worker failed during a job: the pool is no longer used. */
  broken: string;
  /** The modules the workers instantiated (registerPoolModule's and 'gemm'). */
  modules: Set<string>;
}

let pool: Pool | null = null;
let poolFailure = '';

// The worker body: serve(data) instantiates the modules on the shared memory, then serves jobs
// forever. Its GEMM panel loop is the twin of the one in splitCall, its depthwise chunk loop the
// twin of depthwise.ts's, its pooling and LRN loops those of pooling.ts, ave-pooling.ts and
// lrn.ts (keep them alike). Everything it needs comes in the one `data` argument,
// so the same body runs wherever spawnWorker can start it.
const WORKER_BODY = `
function serve(data) {
  const { modules, memory, ctrl, params: P, bounds, slot, packA, packB, tile } = data;
  const S = ${C_STATE} + slot;
  const SPIN_MS = ${WORKER_SPIN_MS};
  const ex = {};
  try {
    for (const name of Object.keys(modules)) ex[name] = new WebAssembly.Instance(modules[name], { env: { memory } }).exports;
  } catch (e) {
    Atomics.store(ctrl, S, ${S_DEAD});
    Atomics.notify(ctrl, S);
    throw e;
  }
  const gemm = ex.gemm.gemm;
  Atomics.store(ctrl, S, ${S_IDLE});
  Atomics.notify(ctrl, S);
  for (;;) {
    let s = Atomics.load(ctrl, S);
    if (s !== ${S_OFFERED}) {
      // Poll a while before sleeping (see WORKER_SPIN_MS).
      const end = performance.now() + SPIN_MS;
      for (let i = 1; s !== ${S_OFFERED}; i++) {
        if ((i & 255) === 0 && performance.now() > end) break;
        s = Atomics.load(ctrl, S);
      }
      if (s !== ${S_OFFERED}) {
        Atomics.wait(ctrl, S, s);
        continue;
      }
    }
    if (Atomics.compareExchange(ctrl, S, ${S_OFFERED}, ${S_TAKEN}) !== ${S_OFFERED}) continue;
    try {
      if (P[${P_KIND}] === ${JOB_WINOGRAD_IN} || P[${P_KIND}] === ${JOB_WINOGRAD_OUT}) {
        // The twin of winograd.ts's sharedChunk loops: this thread's scratch (1152 bytes, then a
        // padded plane) is slot + 1 of the region's per-thread areas.
        const A = ${P_ARGS};
        const S = P[A] + (slot + 1) * P[A + 1], Pl = S + 1152, chunks = P[A + 2], nb = P[A + 3], tile = P[A + 4];
        const th = P[A + 5], tw = P[A + 6], T = P[A + 7], perImage = P[A + 8], w = ex.winograd;
        if (P[${P_KIND}] === ${JOB_WINOGRAD_IN}) {
          const X = P[A + 9], C = P[A + 10], H = P[A + 11], W = P[A + 12], pw = P[A + 13], padH = P[A + 14], padW = P[A + 15];
          const V = P[A + 16], vs4 = P[A + 17], planeFloats = P[A + 18];
          new Float32Array(memory.buffer, Pl, planeFloats).fill(0);
          for (let c = Atomics.add(ctrl, ${C_NEXT}, 1); c < chunks; c = Atomics.add(ctrl, ${C_NEXT}, 1)) {
            for (let s = 0; s < nb; s++) {
              for (let ch = bounds[c]; ch < bounds[c + 1]; ch++) {
                w.pad(X + 4 * (s * C + ch) * H * W, H, W, Pl, pw, padH, padW);
                if (tile === 4) w.input4(Pl, pw, th, tw, V + 4 * (ch * T + s * perImage), vs4, S);
                else w.input2(Pl, pw, th, tw, V + 4 * (ch * T + s * perImage), vs4, S);
              }
            }
            Atomics.add(ctrl, ${C_PANELS}, 1);
          }
        } else {
          const Mt = P[A + 9], ms4 = P[A + 10], Y = P[A + 11], M = P[A + 12], Ho = P[A + 13], Wo = P[A + 14];
          const pBias = P[A + 15], ef = P[A + 16], pa = P[A + 17], pb = P[A + 18];
          const f = new Float32Array(memory.buffer);
          for (let c = Atomics.add(ctrl, ${C_NEXT}, 1); c < chunks; c = Atomics.add(ctrl, ${C_NEXT}, 1)) {
            for (let s = 0; s < nb; s++) {
              for (let m = bounds[c]; m < bounds[c + 1]; m++) {
                const o = Mt + 4 * (m * T + s * perImage), q = Y + 4 * (s * M + m) * Ho * Wo;
                const bias = pBias ? f[(pBias >> 2) + m] : 0;
                if (tile === 4) w.output4(o, ms4, th, tw, q, Ho, Wo, bias, S);
                else w.output2(o, ms4, th, tw, q, Ho, Wo, bias, S);
                if (ef) ex.gemm.epilogue(ef, q, Ho * Wo, 1, Ho * Wo, pa + 4 * m, pb + 4 * m, 0, 0);
              }
            }
            Atomics.add(ctrl, ${C_PANELS}, 1);
          }
        }
      } else if (P[${P_KIND}] === ${JOB_GEMM_BATCH}) {
        // Products c of bounds[c] .. bounds[c + 1], each described by four int32s at desc + 16 i
        // (A', its leading dimension, B, C); the shape and flags are common (see gemmBatch).
        const A = ${P_ARGS};
        const desc = P[A], flags = P[A + 1], m = P[A + 2], n = P[A + 3], k = P[A + 4], ldb = P[A + 5], ldc = P[A + 6];
        const mcb = P[A + 7], kcb = P[A + 8], ncb = P[A + 9], chunks = P[A + 10];
        const d = new Int32Array(memory.buffer);
        for (let c = Atomics.add(ctrl, ${C_NEXT}, 1); c < chunks; c = Atomics.add(ctrl, ${C_NEXT}, 1)) {
          for (let i = bounds[c]; i < bounds[c + 1]; i++) {
            const q = (desc >> 2) + 4 * i;
            gemm(flags, m, n, k, 1, d[q], d[q + 1], d[q + 2], ldb, 0, d[q + 3], ldc, 0, 0, packA, packB, tile, mcb, kcb, ncb);
          }
          Atomics.add(ctrl, ${C_PANELS}, 1);
        }
      } else if (P[${P_KIND}] === ${JOB_DEPTHWISE}) {
        const A = ${P_ARGS};
        const pX = P[A], pY = P[A + 1], pW = P[A + 2], pA = P[A + 3], pB = P[A + 4], flags = P[A + 5], inPlane = P[A + 6];
        const outPlane = P[A + 7], taps = P[A + 8], pPad = P[A + 9] + (slot + 1) * P[A + 10], chunks = P[A + 11];
        const geo = [];
        for (let g = 0; g < 12; g++) geo.push(P[A + 12 + g]);
        const depthwise = ex.depthwise.depthwise;
        for (let c = Atomics.add(ctrl, ${C_NEXT}, 1); c < chunks; c = Atomics.add(ctrl, ${C_NEXT}, 1)) {
          const c0 = bounds[c], m = bounds[c + 1] - c0;
          depthwise(pX + 4 * c0 * inPlane, pY + 4 * c0 * outPlane, pW + 4 * c0 * taps, pA + 4 * c0, pB + 4 * c0, flags, m, ...geo, pPad);
          Atomics.add(ctrl, ${C_PANELS}, 1);
        }
      } else if (P[${P_KIND}] === ${JOB_MAXPOOL}) {
        const A = ${P_ARGS};
        const pIn = P[A], inPlane = P[A + 1], outPlane = P[A + 2], H = P[A + 3], W = P[A + 4], sW = P[A + 5], kW = P[A + 6];
        const padW = P[A + 7], L = P[A + 8], PH = P[A + 9], PW = P[A + 10], pHs = P[A + 11], pHe = P[A + 12], pY = P[A + 13];
        const pArg = P[A + 14], t = P[A + 15] + (slot + 1) * P[A + 16], chunks = P[A + 21];
        // P[A + 22]: values only (no argmax), as the calling thread's share (pooling.ts).
        const maxpool = P[A + 22] ? ex.simd.maxpool_values : ex.simd.maxpool;
        for (let c = Atomics.add(ctrl, ${C_NEXT}, 1); c < chunks; c = Atomics.add(ctrl, ${C_NEXT}, 1)) {
          const p0 = bounds[c];
          maxpool(pIn + 4 * p0 * inPlane, bounds[c + 1] - p0, H, W, sW, kW, padW, L, PH, PW, pHs, pHe, t + P[A + 17],
            pY + 4 * p0 * outPlane, pArg + 4 * p0 * outPlane, t + P[A + 18], t + P[A + 19], t + P[A + 20]);
          Atomics.add(ctrl, ${C_PANELS}, 1);
        }
      } else if (P[${P_KIND}] === ${JOB_AVEPOOL}) {
        const A = ${P_ARGS};
        const pIn = P[A], pY = P[A + 1], inPlane = P[A + 2], outPlane = P[A + 3], chunks = P[A + 14];
        const geo = [];
        for (let g = 0; g < 10; g++) geo.push(P[A + 4 + g]);
        const avepool = ex.simd.avepool;
        for (let c = Atomics.add(ctrl, ${C_NEXT}, 1); c < chunks; c = Atomics.add(ctrl, ${C_NEXT}, 1)) {
          const p0 = bounds[c];
          avepool(pIn + 4 * p0 * inPlane, bounds[c + 1] - p0, ...geo, pY + 4 * p0 * outPlane);
          Atomics.add(ctrl, ${C_PANELS}, 1);
        }
      } else if (P[${P_KIND}] === ${JOB_LRN}) {
        const A = ${P_ARGS};
        const pX = P[A], pY = P[A + 1], hw = P[A + 2], C = P[A + 3], size = P[A + 4], aos = P[A + 5], k = P[A + 6];
        const inPlace = P[A + 7], t = P[A + 8] + (slot + 1) * P[A + 9], pS = t + P[A + 10], bm = P[A + 11], chunks = P[A + 12];
        const lrn = ex.simd.lrn_across;
        for (let c = Atomics.add(ctrl, ${C_NEXT}, 1); c < chunks; c = Atomics.add(ctrl, ${C_NEXT}, 1)) {
          // Positions of the images one after another; a chunk may cross from one image to the next.
          for (let g = bounds[c], end = bounds[c + 1]; g < end;) {
            const n = Math.floor(g / hw), e = Math.min(end, (n + 1) * hw);
            lrn(pX + 4 * n * C * hw, pY + 4 * n * C * hw, hw, C, g - n * hw, e - n * hw, size, aos, k, inPlace, t, pS, 0, bm);
            g = e;
          }
          Atomics.add(ctrl, ${C_PANELS}, 1);
        }
      } else {
        const flags = P[0], offA = P[1], m = P[2], n = P[3], k = P[4], alpha = P[5], pA = P[6], lda = P[7];
        const pB = P[8], ldb = P[9], beta = P[10], pC = P[11], ldc = P[12], mcb = P[13], kcb = P[14];
        const ncb = P[15], rows = P[16], panels = P[17], offB = P[18];
        const ef = P[${P_EPI}], pa = P[${P_EPI} + 1], pb = P[${P_EPI} + 2], pS = P[${P_EPI} + 3], lds = P[${P_EPI} + 4];
        const epilogue = ex.gemm.epilogue;
        const swap = flags & 4, packedA = swap ? flags & 16 : flags & 8, packedB = swap ? flags & 8 : flags & 16;
        for (let c = Atomics.add(ctrl, ${C_NEXT}, 1); c < panels; c = Atomics.add(ctrl, ${C_NEXT}, 1)) {
          const s0 = bounds[c];
          const len = bounds[c + 1] - s0;
          if (rows) {
            const a = packedA ? pA : flags & 1 ? pA + 4 * s0 : pA + 4 * s0 * lda;
            const sA = packedA && !swap ? s0 : 0, sB = packedA && swap ? s0 : 0;
            gemm(flags, len, n, k, alpha, a, lda, pB, ldb, beta, pC + 4 * s0 * ldc, ldc, offA + sA, offB + sB,
              packA, packB, tile, mcb, kcb, ncb);
            if (ef) epilogue(ef, pC + 4 * s0 * ldc, ldc, len, n, pa + 4 * s0, pb + 4 * s0, pS + 4 * s0 * lds, lds);
          } else {
            const b = packedB ? pB : flags & 2 ? pB + 4 * s0 * ldb : pB + 4 * s0;
            const sA = packedB && swap ? s0 : 0, sB = packedB && !swap ? s0 : 0;
            gemm(flags, m, len, k, alpha, pA, lda, b, ldb, beta, pC + 4 * s0, ldc, offA + sA, offB + sB,
              packA, packB, tile, mcb, kcb, ncb);
            if (ef) epilogue(ef, pC + 4 * s0, ldc, m, len, pa, pb, pS + 4 * s0, lds);
          }
          Atomics.add(ctrl, ${C_PANELS}, 1);
        }
      }
    } catch (e) {
      Atomics.store(ctrl, ${C_ERROR}, 1);
    }
    Atomics.store(ctrl, S, ${S_DONE});
    Atomics.notify(ctrl, S);
  }
}
`;

/**
 * Starts one worker running WORKER_BODY's serve(data); the only platform-specific code of the
 * pool (Node's worker_threads here; a Web Worker would call serve with the posted data).
 */
function spawnWorker(data: Record<string, unknown>, onDeath: () => void): Worker {
  const worker = new Worker(`${WORKER_BODY}\nserve(require('node:worker_threads').workerData);`, { eval: true, execArgv: [], workerData: data });
  worker.unref();
  // 'error' needs a listener (else it throws here).
  worker.on('error', onDeath);
  worker.on('exit', onDeath);
  return worker;
}

/** Modules besides the GEMM's that the workers instantiate on the shared memory (registerPoolModule). */
const poolModules: Record<string, WebAssembly.Module> = {};

/**
 * Registers another kernel module (importing env.memory, shared) for the workers to instantiate
 * on the GEMM's shared memory, so that splitJob can run its kind of job. Workers started before
 * the registration lack it (their pool then runs that kind on the calling thread only): register
 * at import.
 */
export function registerPoolModule(name: string, module: WebAssembly.Module): void {
  if (pool === null) poolModules[name] = module;
}

/**
 * Room for a splitJob's operands in the shared memory the workers run on: the memory and the byte
 * address of `bytes` free bytes (valid until the next product or job); null without one.
 */
export function poolRegion(bytes: number): { memory: WebAssembly.Memory; at: number } | null {
  const at = shared?.region(bytes) ?? null;
  return at === null ? null : { memory: shared!.memory, at };
}

/** Starts the worker threads (once; they start in the background); null if they cannot be. */
function startPool(threads: number): Pool | null {
  if (pool !== null) return pool;
  if (poolFailure || shared === null) return null;
  const n = threads - 1;
  const workers: Worker[] = [];
  try {
    const ctrl = new Int32Array(new SharedArrayBuffer(4 * (C_STATE + n)));
    const params = new Float64Array(new SharedArrayBuffer(8 * P_COUNT));
    const bounds = new Int32Array(new SharedArrayBuffer(4 * (MAX_PANELS + 1)));
    ctrl.fill(S_STARTING, C_STATE);
    const p: Pool = { workers, ctrl, params, bounds, broken: '', modules: new Set() };
    const modules = { ...poolModules, gemm: shared.module };
    p.modules = new Set(Object.keys(modules));
    for (let w = 0; w < n; w++) {
      // A worker that dies is never offered a job again.
      workers.push(spawnWorker({ modules, memory: shared.memory, ctrl, params, bounds, slot: w, ...shared.scratch(w + 1) }, () => {
        Atomics.store(ctrl, C_STATE + w, S_DEAD);
        Atomics.notify(ctrl, C_STATE + w);
      }));
    }
    pool = p;
    return p;
  } catch (e) {
    poolFailure = `cannot start worker threads (${(e as Error).message})`;
    for (const w of workers) void w.terminate();
    return null;
  }
}

/** Whether a block of a product is worth sharing between threads (see parMinWork). */
export function shouldSplit(m: number, n: number, k: number): boolean {
  return parThreads > 1 && m * n * k >= parMinWork && Math.max(m, n) >= 2 * PANEL_MIN;
}

/**
 * One call of the wasm kernel (gemm.wat's `gemm`, with the caller's scratch) on operands already
 * in the shared memory, shared between threads when the workers are up; else on this thread
 * alone. Returns false if a worker failed during the call (C is then unreliable; the pool is not
 * used again). With packTo >= 0 (a byte address with room for the larger operand, packed), the
 * operand that every panel would otherwise pack for itself is packed there once, first.
 */
export function splitCall(
  ex: { gemm: WasmGemmFn; pack: WasmPackFn; epilogue: WasmEpilogueFn }, flags: number, m: number, n: number, k: number, alpha: number,
  pA: number, lda: number, pB: number, ldb: number, beta: number, pC: number, ldc: number,
  offA: number, offB: number, packTo: number,
  ef = 0, pa = 0, pb = 0, pS = 0, lds = 0,
): boolean {
  const { gemm } = ex;
  // The epilogue (gemm.wat's, flags ef != 0; its vectors at pa, pb, the shortcut at pS with row
  // stride lds) on a block of C, after the product of that block.
  const epilogue = (c: number, r0: number, c0: number, rowsN: number, colsN: number): void => {
    if (ef !== 0) ex.epilogue(ef, c, ldc, rowsN, colsN, pa + 4 * r0, pb + 4 * r0, pS + 4 * (r0 * lds + c0), lds);
  };
  const kernel = shared!;
  const { packA, packB, tile } = kernel.scratch(0);
  const { mcb, kcb, ncb } = kernel;
  const p = startPool(parThreads);
  if (p === null || p.broken) {
    gemm(flags, m, n, k, alpha, pA, lda, pB, ldb, beta, pC, ldc, offA, offB, packA, packB, tile, mcb, kcb, ncb);
    epilogue(pC, 0, 0, m, n);
    return true;
  }
  const { ctrl, params: P, bounds } = p;
  const nWorkers = Math.min(p.workers.length, parThreads - 1);
  // Split the longer side of C into panels of decreasing size (guided scheduling): each is 1/(2 T)
  // of what is left, so the work balances, and a thread that is descheduled (a busy core) while
  // it holds the last panels keeps the others waiting only briefly.
  const rows = m > n;
  const dim = rows ? m : n;
  const unit = kernel.unit;
  const threads = nWorkers + 1;
  let panels = 0;
  for (let start = 0; start < dim; panels++) {
    bounds[panels] = start;
    const size = panels === MAX_PANELS - 1 ? dim : Math.max(PANEL_MIN, Math.ceil((dim - start) / (2 * threads) / unit) * unit);
    start = Math.min(dim, start + size);
  }
  bounds[panels] = dim;
  // Operand A is gemm.wat's B' side in the swapped orientation (flag 4), else its A' side; B the
  // other. A packed side (flags 8, 16) is not moved for a panel but entered at a row or column.
  const swap = flags & 4;
  let packedA = swap ? flags & 16 : flags & 8;
  let packedB = swap ? flags & 8 : flags & 16;
  // The operand along the side that is not split (the smaller) would be packed by every panel:
  // pack it here, once, and let the panels read it (alike bits: the layout is the kernel's own).
  const pad = (x: number, wide: number): number => (wide ? Math.ceil(x / unit) * unit : Math.ceil(x / 2) * 2);
  if (packTo >= 0 && panels > 1) {
    if (rows && !packedB) {
      // op(B)^T, N x K: the A' side when swapped, else B'.
      ex.pack(swap ? 0 : 1, pB, flags & 2 ? ldb : 1, flags & 2 ? 1 : ldb, n, k, kcb, packTo);
      pB = packTo;
      ldb = pad(n, swap ? 0 : 1);
      if (swap) offA = 0;
      else offB = 0;
      flags |= swap ? 8 : 16;
      packedB = 1;
    } else if (!rows && !packedA) {
      // op(A), M x K: the B' side when swapped, else A'.
      ex.pack(swap ? 1 : 0, pA, flags & 1 ? 1 : lda, flags & 1 ? lda : 1, m, k, kcb, packTo);
      pA = packTo;
      lda = pad(m, swap ? 1 : 0);
      if (swap) offB = 0;
      else offA = 0;
      flags |= swap ? 16 : 8;
      packedA = 1;
    }
  }
  P[0] = flags; P[1] = offA; P[2] = m; P[3] = n; P[4] = k; P[5] = alpha; P[6] = pA; P[7] = lda; P[8] = pB;
  P[9] = ldb; P[10] = beta; P[11] = pC; P[12] = ldc; P[13] = mcb; P[14] = kcb; P[15] = ncb;
  P[16] = rows ? 1 : 0; P[17] = panels; P[18] = offB; P[P_KIND] = JOB_GEMM;
  P[P_EPI] = ef; P[P_EPI + 1] = pa; P[P_EPI + 2] = pb; P[P_EPI + 3] = pS; P[P_EPI + 4] = lds;
  if (offerJob(p, nWorkers) === 0) {
    // No worker is up yet (they are starting), or none is left.
    gemm(flags, m, n, k, alpha, pA, lda, pB, ldb, beta, pC, ldc, offA, offB, packA, packB, tile, mcb, kcb, ncb);
    epilogue(pC, 0, 0, m, n);
    return true;
  }
  if (parWorkersOnly && !workersOnly(p, nWorkers)) return false;
  // The twin of the workers' panel loop (WORKER_BODY).
  for (let c = Atomics.add(ctrl, C_NEXT, 1); c < panels; c = Atomics.add(ctrl, C_NEXT, 1)) {
    const s0 = bounds[c];
    const len = bounds[c + 1] - s0;
    if (rows) {
      const a = packedA ? pA : flags & 1 ? pA + 4 * s0 : pA + 4 * s0 * lda;
      const sA = packedA && !swap ? s0 : 0, sB = packedA && swap ? s0 : 0;
      gemm(flags, len, n, k, alpha, a, lda, pB, ldb, beta, pC + 4 * s0 * ldc, ldc, offA + sA, offB + sB,
        packA, packB, tile, mcb, kcb, ncb);
      epilogue(pC + 4 * s0 * ldc, s0, 0, len, n);
    } else {
      const b = packedB ? pB : flags & 2 ? pB + 4 * s0 * ldb : pB + 4 * s0;
      const sA = packedB && swap ? s0 : 0, sB = packedB && !swap ? s0 : 0;
      gemm(flags, m, len, k, alpha, pA, lda, b, ldb, beta, pC + 4 * s0, ldc, offA + sA, offB + sB,
        packA, packB, tile, mcb, kcb, ncb);
      epilogue(pC + 4 * s0, 0, s0, m, len);
    }
  }
  return settle(p, nWorkers);
}

/** Offers the job in the pool's params and bounds to every idle worker; returns how many were offered it. */
function offerJob(p: Pool, nWorkers: number): number {
  const { ctrl } = p;
  Atomics.store(ctrl, C_NEXT, 0);
  let offered = 0;
  for (let w = 0; w < nWorkers; w++) {
    if (Atomics.compareExchange(ctrl, C_STATE + w, S_IDLE, S_OFFERED) === S_IDLE) {
      Atomics.notify(ctrl, C_STATE + w);
      offered++;
    }
  }
  return offered;
}

/** Testing (setGemmWorkersOnly): lets the workers take the job and every part of it (a bounded wait), then settles. */
function workersOnly(p: Pool, nWorkers: number): boolean {
  for (let w = 0; w < nWorkers; w++) {
    for (let t = 0; t < 100 && Atomics.load(p.ctrl, C_STATE + w) === S_OFFERED; t++) Atomics.wait(p.ctrl, C_STATE + w, S_OFFERED, 100);
  }
  return settle(p, nWorkers);
}

/**
 * Runs a job of another kernel (kind: JOB_DEPTHWISE, JOB_MAXPOOL, ...; its module registered with
 * registerPoolModule) split into chunks: chunk c covers bounds[c] .. bounds[c + 1] of what the
 * kernel splits (channels for the depthwise one), each computed by whichever thread takes it:
 * the workers from `args` (their switch in WORKER_BODY reads them), this thread by run(c, c0, c1)
 * after `first` (work of its own, outside the chunks, done while the workers start on them).
 * The chunks must be independent (disjoint outputs, the same operations whoever computes them),
 * so results do not depend on the split. Returns false when the pool did not run it all (no
 * workers up, not that module, a worker failed before or during it; the pool is then not used
 * again): the caller then computes everything itself.
 */
export function splitJob(
  kind: number, args: number[], bounds: number[], run: (c: number, c0: number, c1: number) => void, first?: () => void,
): boolean {
  const p = parThreads > 1 ? startPool(parThreads) : null;
  if (p === null || p.broken || !p.modules.has(JOB_MODULES[kind]) || bounds.length < 2) return false;
  const nWorkers = Math.min(p.workers.length, parThreads - 1);
  const { ctrl, params: P } = p;
  const chunks = bounds.length - 1;
  if (chunks > MAX_PANELS) return false;
  for (let i = 0; i < args.length; i++) P[P_ARGS + i] = args[i];
  p.bounds.set(bounds);
  P[P_KIND] = kind;
  if (offerJob(p, nWorkers) === 0) return false;
  if (parWorkersOnly && !workersOnly(p, nWorkers)) return false;
  first?.();
  for (let c = Atomics.add(ctrl, C_NEXT, 1); c < chunks; c = Atomics.add(ctrl, C_NEXT, 1)) run(c, bounds[c], bounds[c + 1]);
  return settle(p, nWorkers);
}

/** Bounds of `chunks` near-equal chunks of n items, for splitJob: chunk c is [b[c], b[c + 1]). */
export function evenBounds(n: number, chunks: number): number[] {
  const bounds: number[] = [];
  for (let c = 0; c <= chunks; c++) bounds.push(Math.round((c * n) / chunks));
  return bounds;
}

/** Threads a kernel other than GEMM may split its work between now (1: the calling thread only). */
export function poolThreads(): number {
  return shared ? parThreads : 1;
}

/**
 * Withdraws the offers no worker took, and waits for the workers that took one. Returns false
 * if one failed during the job (then the pool is marked broken).
 */
function settle(p: Pool, nWorkers: number): boolean {
  const { ctrl } = p;
  let ok = true;
  for (let w = 0; w < nWorkers; w++) {
    const i = C_STATE + w;
    if (Atomics.compareExchange(ctrl, i, S_OFFERED, S_IDLE) === S_OFFERED) continue;
    let spinEnd = 0;
    for (let polls = 0; ; polls++) {
      const s = Atomics.load(ctrl, i);
      if (s === S_TAKEN) {
        // Poll first (see SETTLE_SPIN_MS): the worker is usually within a panel of its end.
        if (polls === 0) spinEnd = performance.now() + SETTLE_SPIN_MS;
        else if ((polls & 63) !== 0 || performance.now() < spinEnd) continue;
        else Atomics.wait(ctrl, i, S_TAKEN, 1000);
      }
      else if (s === S_DONE) {
        Atomics.compareExchange(ctrl, i, S_DONE, S_IDLE);
        break;
      } else {
        // S_DEAD: stopped during the job, its panels may be half written. (S_IDLE: already
        // settled by the testing path.)
        if (s === S_DEAD) ok = false;
        break;
      }
    }
  }
  if (Atomics.load(ctrl, C_ERROR) !== 0) ok = false;
  if (!ok) p.broken = 'a gemm worker thread failed';
  return ok;
}

/**
 * Sets how many threads gemm() shares large products between (1: single-threaded, exactly the
 * one-thread kernel; at most 8), whatever the number of cores; returns the previous value.
 * Without shared memory or workers, or with CAFFE_TS_THREADS=1 in the environment, gemm() stays
 * on one thread whatever this says. Workers are started once, never stopped: after the first
 * split product the count cannot exceed the workers started + 1; lowering it leaves some idle.
 */
export function setGemmThreads(threads: number): number {
  const old = parThreads;
  parThreads = Math.max(1, Math.min(MAX_THREADS, Math.floor(threads) || 1));
  if (shared === null || poolFailure) parThreads = 1;
  else if (pool !== null && pool.workers.length < parThreads - 1) parThreads = pool.workers.length + 1;
  return old;
}

/** Sets the size (multiply-adds of one block, m n k) from which products are split; returns the previous one. */
export function setGemmThreadMinWork(work: number): number {
  const old = parMinWork;
  parMinWork = Math.max(0, work);
  return old;
}

/** Testing: when true, the calling thread leaves the panels of split products to the workers. */
export function setGemmWorkersOnly(on: boolean): boolean {
  const old = parWorkersOnly;
  parWorkersOnly = on;
  return old;
}

/**
 * Starts the worker threads now (gemm() starts them at the first large product, without waiting)
 * and waits until they run, or timeoutMs; returns the number of threads large products will use.
 */
export function gemmThreadsReady(timeoutMs = 10_000): number {
  if (parThreads <= 1) return 1;
  const p = startPool(parThreads);
  if (p === null) return 1;
  const end = Date.now() + timeoutMs;
  let up = 1;
  for (let w = 0; w < Math.min(p.workers.length, parThreads - 1); w++) {
    for (;;) {
      const s = Atomics.load(p.ctrl, C_STATE + w);
      const left = end - Date.now();
      if (s !== S_STARTING || left <= 0) {
        if (s >= S_IDLE) up++;
        break;
      }
      Atomics.wait(p.ctrl, C_STATE + w, S_STARTING, left);
    }
  }
  return p.broken ? 1 : up;
}

/** How gemm() uses threads: the configured count, the workers running, why one thread, statistics. */
export function gemmThreadInfo(): { threads: number; workers: number; minWork: number; reason: string; workerPanels: number } {
  const p = pool;
  let workers = 0;
  if (p) for (let w = 0; w < p.workers.length; w++) if (Atomics.load(p.ctrl, C_STATE + w) >= S_IDLE) workers++;
  let reason = '';
  if (noKernel) reason = `no wasm kernel (${noKernel})`;
  else if (shared === null) reason = threadConfig.reason || 'no shared memory';
  else if (poolFailure) reason = poolFailure;
  else if (p?.broken) reason = p.broken;
  else if (parThreads === 1) reason = threadConfig.threads === 1 && threadConfig.reason ? threadConfig.reason : 'setGemmThreads(1)';
  return { threads: reason ? 1 : parThreads, workers, minWork: parMinWork, reason, workerPanels: p ? Atomics.load(p.ctrl, C_PANELS) : 0 };
}

