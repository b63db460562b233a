// The WebAssembly SIMD GEMM kernel (wasm/gemm.wat), with Caffe's caffe_cpu_gemm argument order:
//   C = alpha * op(A) * op(B) + beta * C,  op(A) is M x K, op(B) is K x N, C is M x N, row-major.
// gemm.ts dispatches to it (wasmGemm) for every product but the tiniest (useWasm).
//
// One module, instantiated synchronously at import from wasm/gemm.wasm beside this file
// (src/kernels/wasm under vitest, dist/src/kernels/wasm once built; scripts/build-wasm.mjs
// assembles it). Its linear memory is this file's: operands are copied in (A, B, and C unless
// beta == 0), multiplied there, and C is copied back; a B that the caller wrote into the memory
// (gemmStage: im2col's column buffer) is read in place. Copying costs O(MK + KN + MN) against
// O(MNK) work. The memory grows as needed for up to 64 MiB of operands (setGemmWasmBudget);
// larger products are cut into row / column / K blocks that fit. Sums are float32 (as in Caffe's
// sgemm), so results differ from the JS kernel's in the last bits: error ~0.4 K 2^-24 relative,
// against ~0.02 for the JS one. Where the engine has relaxed SIMD the module is gemm-fma.wasm
// (wasm-fma.ts): the same kernel with fused multiply-adds, one rounding fewer per step, ~1.2x. Large products (from 2M multiply-adds) are shared between the
// calling thread and worker threads running the same kernel on a shared memory, with
// bit-identical results (gemm-threads.ts; CAFFE_TS_THREADS=1 keeps everything on the calling
// thread).
//
// Memory layout, in bytes of the linear memory, for T
// threads (thread 0 is the calling thread, 1 .. T-1 the gemm workers):
//   [t * WASM_SCRATCH, ...)       thread t's scratch: packed A' block (WASM_MC x WASM_KC floats),
//                                 packed B' block (WASM_KC x WASM_NC), a 2 x 16 edge tile
//   [T * WASM_SCRATCH, ...)       the staging region (gemmStage; unshared memory only, may be
//                                 empty), where callers write a B operand that gemm() reads in place
//   [after those, ...)            the operands of the current call: A block, B block, C block
// Blocking sizes were tuned on ResNet-50's products (bench/gemm.ts --conv; they matter little: MC
// 64-256, KC 192-384, NC 1024-2048 all within 2%).

import { readFileSync } from 'node:fs';
// First: it may turn on V8's relaxed SIMD, which must precede compiling the FMA module.
import { wasmFma } from './wasm-fma.js';
import {
  JOB_GEMM_BATCH,
  disallowThreads,
  evenBounds,
  gemmThreadCount,
  gemmThreadMinWork,
  registerSharedKernel,
  shouldSplit,
  splitCall,
  splitJob,
  threadsAllowed,
  type WasmEpilogueFn,
  type WasmGemmFn,
} from './gemm-threads.js';

const WASM_MR = 2;
const WASM_NR = 16;
const WASM_MC = 128;
const WASM_KC = 256;
const WASM_NC = 1024;
const WASM_PACK_A = 0;
const WASM_PACK_B = WASM_PACK_A + 4 * WASM_MC * WASM_KC;
const WASM_TILE = WASM_PACK_B + 4 * WASM_KC * WASM_NC;
const WASM_SCRATCH = WASM_TILE + 4 * WASM_MR * WASM_NR;
/**
 * Where the pack cache (packed A operands kept between calls, see GemmPackKey) starts in a
 * kernel's memory: above anything else it holds (scratch for 8 threads, a 24 MiB staging region,
 * 96 MiB of operands and, on the shared memory, one of them packed, at most). Memory in between
 * that no product uses is never touched.
 */
const CACHE_BASE = 256 << 20;
/** Most bytes the pack cache may take (setGemmPackCacheBudget; at most 768 MiB). */
let cacheBudget = 512 << 20;
/** The memory maximum, in 64 KiB pages: 1 GiB, the pack cache's end (gemm.wat allows 4 GiB). */
const WASM_MAX_PAGES = 16384;
/**
 * The shared memory's maximum, in 64 KiB pages: just under 2 GiB, so that byte addresses stay
 * positive int32s in JS (`at >> 2`). Above the pack cache's furthest end (CACHE_BASE + 768 MiB)
 * lie the blob arenas (sharedArena), from ARENA_BASE to the maximum.
 */
const SHARED_MAX_PAGES = 32767;
const ARENA_BASE = 1 << 30;
const ARENA_END = SHARED_MAX_PAGES * 65536;
/** The operands' end at most: copies, staging and scratch stay below it (and below the cache). */
const OPERANDS_MAX = 240 << 20;
/** Most bytes of operands copied into wasm memory at once; bigger products go in blocks. */
let wasmDataBudget = 64 << 20;
/** Deepest K block copied at once (a multiple of WASM_KC); deeper products add up K blocks in C. */
const WASM_KB = 4096;

interface WasmGemmExports {
  mr: WebAssembly.Global;
  nr: WebAssembly.Global;
  gemm: WasmGemmFn;
  pack(wide: number, src: number, si: number, sk: number, rows: number, K: number, kcb: number, dst: number): void;
  epilogue: WasmEpilogueFn;
}

/** An instance of the module, with its memory and a float32 view of it (renewed as it grows). */
interface WasmKernel {
  ex: WasmGemmExports;
  memory: WebAssembly.Memory;
  heap: Float32Array;
  /** The compiled module, for the workers, when the memory is shared; else null. */
  module: WebAssembly.Module | null;
  /** The staging region (gemmStage), byte address and size; 0 bytes: none yet. */
  stageAt: number;
  stageBytes: number;
  /** The M x N x K of the products that read the staging region (gemmStage), or ''. */
  stageShape: string;
  /** Bytes of the pack cache used (from CACHE_BASE); its generation (bumped when it is emptied). */
  cacheUsed: number;
  cacheGen: number;
  /** Memory the pack cache wants grown at the next gemmStage (it could not grow under a staged view). */
  cacheWant: number;
}

let wasmUnavailable = '';

/**
 * The module bytes with the imported memory declared unshared: the limits flag of the memory
 * import goes from 3 (shared, with maximum) to 1 (maximum). For engines or settings without
 * shared memory, and for CAFFE_TS_THREADS=1, which then need no SharedArrayBuffer at all.
 */
export function unsharedMemory(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes);
  let p = 8; // magic, version
  const leb = (): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const b = out[p++];
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
  };
  while (p < out.length) {
    const id = out[p++];
    const size = leb();
    const end = p + size;
    if (id === 2) {
      for (let count = leb(); count > 0; count--) {
        for (let name = 0; name < 2; name++) {
          const len = leb(); // module name, then field name
          p += len;
        }
        const kind = out[p++];
        if (kind === 2) {
          if (out[p] === 3) out[p] = 1;
          return out;
        }
        if (kind === 0) leb(); // function: type index
        else if (kind === 1) {
          // table: reference type, limits (flags, minimum, maximum if flags & 1)
          const flags = out[p + 1];
          p += 2;
          leb();
          if (flags & 1) leb();
        }
        else if (kind === 3) p += 2; // global: valtype, mutability
        else break;
      }
    }
    p = end;
  }
  throw new Error('caffe-ts: the module imports no memory');
}

/**
 * The wasm kernel: an instance on an unshared memory (`single`), and when threads may be used one
 * on a shared memory (`shared`). Products too small to split go to the unshared one: copies into
 * a SharedArrayBuffer are slower (V8 copies with relaxed atomics: ~19 GB/s against 35-90 GB/s for
 * cache-resident blocks, 2-5% of a small product). With threads on, those products are below
 * SHARED_MIN_WORK multiply-adds, and so is each of their operands: that memory stays < 26 MiB,
 * plus the staging region (gemmStage, at most 24 MiB).
 */
function loadWasm(): { single: WasmKernel; shared: WasmKernel | null } | null {
  if (typeof process === 'object' && process.env?.CAFFE_TS_GEMM === 'js') {
    wasmUnavailable = 'CAFFE_TS_GEMM=js';
    return null;
  }
  if (typeof WebAssembly !== 'object') {
    wasmUnavailable = 'no WebAssembly in this runtime';
    return null;
  }
  // The FMA variant (gemm.wat with fused multiply-adds, same tile and packing) when the engine
  // has relaxed SIMD (wasm-fma.ts).
  const url = wasmFma.fma ? new URL('./wasm/gemm-fma.wasm', import.meta.url) : new URL('./wasm/gemm.wasm', import.meta.url);
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(readFileSync(url));
  } catch (e) {
    wasmUnavailable = `cannot read ${url.pathname}: ${(e as Error).message}`;
    return null;
  }
  const unshared = unsharedMemory(bytes);
  // validate() is false when the engine lacks an instruction the module uses (SIMD).
  if (!WebAssembly.validate(unshared)) {
    wasmUnavailable = 'this runtime has no WebAssembly SIMD';
    return null;
  }
  const memory = new WebAssembly.Memory({ initial: 1, maximum: WASM_MAX_PAGES });
  let ex: WasmGemmExports;
  try {
    ex = new WebAssembly.Instance(new WebAssembly.Module(unshared), { env: { memory } }).exports as unknown as WasmGemmExports;
  } catch (e) {
    // A page's main thread may refuse to compile synchronously: the JS kernel runs there.
    wasmUnavailable = `cannot compile ${url.pathname}: ${(e as Error).message}`;
    return null;
  }
  if (ex.mr.value !== WASM_MR || ex.nr.value !== WASM_NR) {
    throw new Error(`caffe-ts: ${url.pathname} has a ${ex.mr.value} x ${ex.nr.value} micro-kernel, gemm-wasm.ts expects ${WASM_MR} x ${WASM_NR}`);
  }
  const single: WasmKernel = { ex, memory, heap: new Float32Array(0), module: null, stageAt: 0, stageBytes: 0, stageShape: '', cacheUsed: 0, cacheGen: 0, cacheWant: 0 };
  // Shared memory when threads may be used (setGemmThreads can turn them on even on one core) and
  // the engine has it.
  let shared: WasmKernel | null = null;
  if (threadsAllowed()) {
    try {
      const module = new WebAssembly.Module(bytes);
      const memory = new WebAssembly.Memory({ initial: 1, maximum: SHARED_MAX_PAGES, shared: true });
      const ex = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as WasmGemmExports;
      shared = { ex, memory, heap: new Float32Array(0), module, stageAt: 0, stageBytes: 0, stageShape: '', cacheUsed: 0, cacheGen: 0, cacheWant: 0 };
    } catch (e) {
      disallowThreads(`no shared WebAssembly memory (${(e as Error).message})`);
    }
  }
  return { single, shared };
}

const kernels = loadWasm();
/** The single-threaded kernel (null: no wasm, gemm() runs the JS kernel). */
const wasm = kernels?.single ?? null;
/** The kernel on shared memory, for products that may be split (null: one thread only). */
const wasmShared = kernels?.shared ?? null;

/**
 * Which kernel gemm() uses for products that are not tiny, and why not wasm when it is 'js'; fma:
 * whether it is the fused multiply-add variant (relaxed SIMD, see wasm-fma.ts).
 */
export const gemmBackend: { readonly kernel: 'wasm-simd' | 'js'; readonly reason: string; readonly fma: boolean } = Object.freeze({
  kernel: wasm ? 'wasm-simd' : 'js',
  reason: wasm ? '' : wasmUnavailable,
  fma: wasm !== null && wasmFma.fma,
});

registerSharedKernel(
  wasmShared && {
    module: wasmShared.module!,
    memory: wasmShared.memory,
    scratch: (t) => ({ packA: t * WASM_SCRATCH + WASM_PACK_A, packB: t * WASM_SCRATCH + WASM_PACK_B, tile: t * WASM_SCRATCH + WASM_TILE }),
    mcb: WASM_MC,
    kcb: WASM_KC,
    ncb: WASM_NC,
    unit: WASM_NR,
    region: (bytes) => {
      const at = (operandBase(wasmShared) + 63) & ~63;
      if (at + bytes > OPERANDS_MAX) return null;
      wasmReserve(wasmShared, at + bytes);
      return at;
    },
  },
  wasm ? '' : wasmUnavailable,
);

/** Whether gemm() has the wasm kernel for this product: every product but the tiniest (see WASM_MIN_WORK). */
export function useWasm(M: number, N: number, K: number): boolean {
  return wasm !== null && M * N * K >= WASM_MIN_WORK;
}
/** Products below this many multiply-adds (and below parMinWork) stay on the unshared memory. */
const SHARED_MIN_WORK = 1 << 21;

/** The instance for a product: the shared one when the product may be split. */
function pickKernel(single: WasmKernel, M: number, N: number, K: number): WasmKernel {
  return wasmShared !== null && gemmThreadCount() > 1 && M * N * K >= Math.min(SHARED_MIN_WORK, gemmThreadMinWork()) ? wasmShared : single;
}

/**
 * Sets how many bytes of operands the wasm kernel copies into its memory at once (default 64 MiB,
 * clamped to [64 KiB, 96 MiB]); returns the previous value. Larger products are computed in
 * blocks. Memory already grown is kept. Mainly for tests.
 */
export function setGemmWasmBudget(bytes: number): number {
  const old = wasmDataBudget;
  wasmDataBudget = Math.min(96 << 20, Math.max(64 << 10, Math.floor(bytes)));
  return old;
}

/** Grows the kernel's memory to at least `bytes`; returns the float32 view of it. */
function wasmReserve(kernel: WasmKernel, bytes: number): Float32Array {
  const { memory } = kernel;
  const have = memory.buffer.byteLength;
  if (have < bytes) memory.grow(Math.ceil((bytes - have) / 65536));
  if (kernel.heap.buffer !== memory.buffer) {
    kernel.heap = new Float32Array(memory.buffer);
    if (kernel.module !== null) sharedBuffers.add(memory.buffer);
  }
  return kernel.heap;
}

// ---------------------------------------------------------------------------------------------
// Blob arenas in the shared memory. The inference memory plan (src/graph/memory-plan.ts) puts
// its arena here when there is a shared memory, so that the kernels read and write blobs where
// they lie: a product whose operands are views of this memory copies none of them in or out,
// its epilogue runs on each thread's panels in place, and the threads split it without a copy.
// Growing a shared memory never detaches it (views of its older, shorter buffers stay valid),
// which is why only the shared memory can hold blobs. Every buffer object the memory has handed
// out is remembered, so an operand is recognised by its buffer.

const sharedBuffers = new WeakSet<ArrayBufferLike>();
/** Free byte ranges [at, end) of the arena space, sorted, never adjacent. */
const arenaFree: { at: number; end: number }[] = [{ at: ARENA_BASE, end: ARENA_END }];
const arenaRegistry = typeof FinalizationRegistry === 'function' ? new FinalizationRegistry<{ at: number; bytes: number }>((r) => arenaRelease(r.at, r.bytes)) : null;

function arenaRelease(at: number, bytes: number): void {
  const end = at + bytes;
  let i = 0;
  while (i < arenaFree.length && arenaFree[i].at < at) i++;
  arenaFree.splice(i, 0, { at, end });
  if (i + 1 < arenaFree.length && arenaFree[i + 1].at === end) arenaFree[i].end = arenaFree.splice(i + 1, 1)[0].end;
  if (i > 0 && arenaFree[i - 1].end === at) arenaFree[i - 1].end = arenaFree.splice(i, 1)[0].end;
}

/**
 * `floats` zeroed floats in the shared memory, for blobs the kernels then read and write in
 * place; null when there is no shared memory (one thread by configuration, no SharedArrayBuffer,
 * no wasm) or the arena space is full: use a JS buffer then. The region is given back when
 * `owner` is garbage collected: whoever keeps a view of `data` must keep `owner` too (Blob does).
 */
export function sharedArena(floats: number): { data: Float32Array; owner: object } | null {
  if (wasmShared === null || arenaRegistry === null || floats <= 0) return null;
  const bytes = Math.ceil((4 * floats) / 64) * 64;
  const i = arenaFree.findIndex((r) => r.end - r.at >= bytes);
  if (i < 0) return null;
  const at = arenaFree[i].at;
  try {
    wasmReserve(wasmShared, at + bytes);
  } catch {
    return null; // the engine refused to grow the memory: not fatal, the caller has a JS buffer
  }
  if (arenaFree[i].end - at === bytes) arenaFree.splice(i, 1);
  else arenaFree[i].at += bytes;
  const data = new Float32Array(wasmShared.memory.buffer, at, floats);
  data.fill(0);
  const owner = {};
  arenaRegistry.register(owner, { at, bytes }, owner);
  arenaRegions.set(owner, { at, bytes });
  return { data, owner };
}

const arenaRegions = new WeakMap<object, { at: number; bytes: number }>();

/**
 * Gives a sharedArena region back now, before its owner is collected; the caller guarantees that
 * nothing reads or writes its views any more. Unknown or already released owners are ignored.
 */
export function releaseSharedArena(owner: object): void {
  const r = arenaRegions.get(owner);
  if (r === undefined) return;
  arenaRegions.delete(owner);
  arenaRegistry?.unregister(owner);
  arenaRelease(r.at, r.bytes);
}

/** The byte address of x in the shared memory, or -1 when x is not a view of it. */
function sharedAt(x: Float32Array): number {
  return sharedBuffers.has(x.buffer) ? x.byteOffset : -1;
}

/** The GEMM's shared memory (which the worker pool and the blob arenas use), or null. */
export function sharedKernelMemory(): WebAssembly.Memory | null {
  return wasmShared?.memory ?? null;
}

let epiStore: { data: Float32Array; owner: object } | null = null;

/**
 * Applies `epi` in place to C (M rows of N, row stride N), a view of the shared memory, with
 * gemm.wat's epilogue on this thread: one pass, no copies (rows.ts's maps copy through their
 * module's memory). False when C or the shortcut is elsewhere: the caller applies it then.
 */
export function epilogueShared(C: Float32Array, M: number, N: number, epi: GemmEpilogue): boolean {
  if (wasmShared === null || M <= 0 || N <= 0 || !sharedBuffers.has(C.buffer)) return false;
  const inS = epi.shortcut ? sharedAt(epi.shortcut) : 0;
  if (inS < 0) return false;
  // The vectors in a region of their own: the operand area may hold a staged operand.
  if (epiStore === null || epiStore.data.length < 2 * M) {
    epiStore = sharedArena(Math.max(2 * M, 4096));
    if (epiStore === null) return false;
  }
  const v = epiStore.data;
  if (epi.a) v.set(epi.a.subarray(0, M));
  v.set(epi.b.subarray(0, M), M);
  const flags = 8 | (epi.a ? 1 : 0) | (epi.relu ? 2 : 0) | (epi.shortcut ? 4 : 0);
  wasmShared.ex.epilogue(flags, C.byteOffset, N, M, N, v.byteOffset, v.byteOffset + 4 * M, inS, N);
  return true;
}

/**
 * gemm.wat's epilogue (flags as there) on the n floats at byte address pC of the shared memory,
 * as one row taking a and b at pa and pb: a channel plane of a blob there (Winograd's output).
 */
export function epilogueAt(flags: number, pC: number, n: number, pa: number, pb: number): void {
  wasmShared!.ex.epilogue(flags, pC, n, 1, n, pa, pb, 0, 0);
}

/** Whether x is a view of the shared kernel memory (a blob of a sharedArena). */
export function inSharedMemory(x: Float32Array): boolean {
  return wasmShared !== null && sharedBuffers.has(x.buffer);
}

/**
 * Below this many multiply-adds gemm() takes the JS kernel. A wasm call costs ~0.5 us of fixed
 * overhead (copies, block set-up), which the JS direct loops beat only below ~128 multiply-adds
 * (4x4x8); from 4x4x16 up, including vector shapes (M or N = 1) and the K = 1 bias products,
 * wasm is 1.4-30x faster.
 */
const WASM_MIN_WORK = 128;

/** Room for the alignment padding of the three operand blocks (see wasmGemm). */
const ALIGN_SLACK = 32;
const align8 = (x: number): number => (x + 7) & ~7;

/** Bytes of per-thread scratch at the start of a kernel's memory. */
function scratchEnd(kernel: WasmKernel): number {
  return (kernel.module !== null ? gemmThreadCount() : 1) * WASM_SCRATCH;
}

/** Where the operands of a call start: after the scratch and the staging region. */
function operandBase(kernel: WasmKernel): number {
  return Math.max(scratchEnd(kernel), kernel.stageAt + kernel.stageBytes);
}

// Block sizes of the operand copies (set by blockSizes).
let blkM = 0;
let blkN = 0;
let blkK = 0;

/**
 * Block sizes for the copies: whole operands when they fit the budget, else halve the largest of
 * the block's sides until they do (each has a floor, at which any budget >= 64 KiB fits).
 * Operands read or written in place (staged, or in the shared memory) take no room. K blocks stay
 * multiples of WASM_KC, so blocking never changes the kernel's summation order.
 */
function blockSizes(M: number, N: number, K: number, copyA: boolean, copyB: boolean, copyC = true): void {
  let kb = K <= WASM_KB ? K : WASM_KB;
  let mb = M;
  let nb = N;
  const budget = wasmDataBudget / 4;
  while ((copyA ? mb * kb : 0) + (copyB ? kb * nb : 0) + (copyC ? mb * nb : 0) > budget) {
    if (kb > WASM_KC && kb >= mb && kb >= nb) kb = Math.max(WASM_KC, Math.ceil(kb / 2 / WASM_KC) * WASM_KC);
    else if (mb >= nb && mb > WASM_NR) mb = Math.max(WASM_NR, Math.ceil(mb / 2 / WASM_NR) * WASM_NR);
    else if (nb > WASM_NR) nb = Math.max(WASM_NR, Math.ceil(nb / 2 / WASM_NR) * WASM_NR);
    else if (kb > WASM_KC) kb = Math.max(WASM_KC, Math.ceil(kb / 2 / WASM_KC) * WASM_KC);
    else break;
  }
  blkM = mb;
  blkN = nb;
  blkK = kb;
}

let stageOn = true;
/** Largest staging region: the operands keep room for the copy budget below OPERANDS_MAX. */
const STAGE_MAX = 24 << 20;

/**
 * A view of `count` floats inside the wasm kernel's memory, for the B operand of the products
 * gemm(transA, transB, M, N, K, ...) that follow: a B (or a subarray of it) lying there is read in
 * place instead of being copied in. Callers fill it (im2col writes the column buffer straight
 * into it) and pass it, or subarrays, as B. The view stays valid and its contents untouched until
 * the next gemmStage call, as long as only products of this M x N x K shape run in between (any
 * other product may grow the memory, which detaches the view). Null when gemm() would not take
 * the unshared wasm memory for this shape (tiny products, products that may be split between
 * threads), or it would not fit: use a JS buffer then. Conv layers with 1 thread: 3-6% faster.
 */
export function gemmStage(count: number, M: number, N: number, K: number): Float32Array | null {
  if (wasm === null || !stageOn || count <= 0 || M <= 0 || N <= 0 || K <= 0 || !useWasm(M, N, K)) return null;
  const bytes = Math.ceil((4 * count) / 64) * 64;
  if (bytes > STAGE_MAX) return null;
  const kernel = pickKernel(wasm, M, N, K);
  // Not on the shared memory: im2col's row copies pair sources and destinations that differ in
  // alignment mod 8 bytes, which V8 copies into a SharedArrayBuffer byte by byte (im2col of a
  // 64 x 56 x 56 image, 3x3: 2.4 ms there against 0.45 into an ArrayBuffer, where the aligned
  // copy in costs 0.7), so there filling a JS buffer and copying it in is faster.
  if (kernel.module !== null) return null;
  const start = scratchEnd(kernel);
  // A region overlapping the scratch (threads were added since) moves; a larger one is re-laid.
  let stageAt = kernel.stageAt;
  let stageBytes = kernel.stageBytes;
  if (stageAt < start || stageBytes < bytes) {
    stageAt = start;
    stageBytes = bytes;
  }
  // Reserve the products' operands now, so that they do not grow the memory under the view:
  // room for those that read B here, and for those that copy it in (B elsewhere).
  blockSizes(M, N, K, true, false);
  let room = blkM * blkK + blkM * blkN;
  blockSizes(M, N, K, true, true);
  room = Math.max(room, blkM * blkK + blkK * blkN + blkM * blkN);
  // (Plus an epilogue's vectors, see wasmGemmOn.)
  const end = Math.max(start, stageAt + stageBytes) + 4 * room + ALIGN_SLACK + ((8 * M + 63) & ~63);
  if (end > OPERANDS_MAX) return null;
  kernel.stageAt = stageAt;
  kernel.stageBytes = stageBytes;
  kernel.stageShape = `${M}x${N}x${K}`;
  // And room in the pack cache, once it is in use, for the A operands of as many products as
  // the region holds B operands (groups of a convolution), were none of them packed yet.
  let cacheEnd = kernel.cacheWant;
  if (kernel.cacheUsed > 0 || kernel.cacheWant > 0) {
    const groups = Math.max(1, Math.floor(count / (K * N)));
    cacheEnd = Math.max(cacheEnd, Math.min(CACHE_BASE + cacheBudget, CACHE_BASE + kernel.cacheUsed + groups * (4 * Math.ceil(M / WASM_NR) * WASM_NR * K + 64)));
  }
  const h = wasmReserve(kernel, Math.max(end, cacheEnd));
  kernel.cacheWant = 0;
  return h.subarray(kernel.stageAt >> 2, (kernel.stageAt >> 2) + count);
}

/** Testing: when false, gemmStage() returns null (callers use their JS buffers); returns the previous value. */
export function setGemmStaging(on: boolean): boolean {
  const old = stageOn;
  stageOn = on;
  return old;
}

/** Byte address of B in the kernel's staging region, or -1 when B is elsewhere (to be copied in). */
function stagedAt(kernel: WasmKernel, B: Float32Array, floats: number): number {
  if (kernel.stageBytes === 0 || B.buffer !== kernel.heap.buffer) return -1;
  const at = B.byteOffset;
  const stageAt = kernel.stageAt;
  if (stageAt < scratchEnd(kernel) || at < stageAt || at + 4 * floats > stageAt + kernel.stageBytes) return -1;
  return at;
}

/**
 * What a convolution does to its product's rows right after it, fused into the product (see the
 * `epilogue` export of gemm.wat): row i of C (an output channel) becomes
 * f32(c * a[i]) + b[i] (c + b[i] without a), plus the shortcut's element (laid out as C), then
 * ReLU when `relu`. The same float32 operations as rows.ts's maps after the product.
 */
export interface GemmEpilogue {
  a: Float32Array | null;
  b: Float32Array;
  shortcut: Float32Array | null;
  relu: boolean;
}

/**
 * C = alpha op(A) op(B) + beta C on the wasm kernel, for M, N, K >= 1 and alpha != 0 (gemm.ts
 * handles the rest); throws if the kernel is unavailable. With `epi`, returns whether it was
 * applied too (it is unless it has a shortcut outside the kernel's memory: the caller applies it
 * then).
 */
export function wasmGemm(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: Float32Array,
  B: Float32Array,
  beta: number,
  C: Float32Array,
  aKey?: GemmPackKey,
  epi?: GemmEpilogue,
): boolean {
  if (wasm === null) throw new Error(`caffe-ts: the WebAssembly gemm kernel is unavailable (${wasmUnavailable})`);
  // Operands in the shared memory (blobs of a sharedArena) are only addressable there.
  const kernel = wasmShared !== null && (sharedBuffers.has(C.buffer) || sharedBuffers.has(B.buffer) || sharedBuffers.has(A.buffer))
    ? wasmShared
    : pickKernel(wasm, M, N, K);
  return wasmGemmOn(kernel, transA, transB, M, N, K, alpha, A, B, beta, C, aKey, epi);
}

/** Whether byte ranges [a, a + an) and [b, b + bn) overlap. */
const overlaps = (a: number, an: number, b: number, bn: number): boolean => a < b + bn && b < a + an;

function wasmGemmOn(
  kernel: WasmKernel,
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: Float32Array,
  B: Float32Array,
  beta: number,
  C: Float32Array,
  aKey: GemmPackKey | undefined,
  epi: GemmEpilogue | undefined,
): boolean {
  const shared = kernel.module !== null;
  // Operands read (A, B) and written (C) where they lie, when they are views of this memory: a
  // staged B, or on the shared memory any blob of a sharedArena. C is not written in place over
  // an operand (a caller passing overlapping arrays gets the copying path's result).
  let inB = stagedAt(kernel, B, K * N);
  if (inB < 0 && shared) inB = sharedAt(B);
  const inA = shared ? sharedAt(A) : -1;
  // (C in place only when beta == 0: a block that must be recomputed after a worker failed then
  // never reads what the failed attempt half wrote.)
  let inC = shared && beta === 0 ? sharedAt(C) : -1;
  if (inC >= 0 && ((inA >= 0 && overlaps(inC, 4 * M * N, inA, 4 * M * K)) || (inB >= 0 && overlaps(inC, 4 * M * N, inB, 4 * K * N)))) inC = -1;
  const inS = epi?.shortcut ? (shared ? sharedAt(epi.shortcut) : -1) : -1;
  const fuse = epi !== undefined && (epi.shortcut === null || inS >= 0);
  blockSizes(M, N, K, inA < 0, inB < 0, inC < 0);
  const mb = blkM;
  const nb = blkN;
  const kb = blkK;
  // Scratch for every thread that may take part, the staging region, the epilogue's vectors,
  // then the copied operands. A staging region that leaves too little room for them is dropped.
  // On the shared memory, after C: room for the operand a split product packs once (splitCall).
  const packRoom = shared ? 4 * Math.ceil(Math.max(mb, nb) / WASM_NR) * WASM_NR * kb + 64 : 0;
  const epiBytes = fuse ? (8 * M + 63) & ~63 : 0;
  const copied = epiBytes + 4 * ((inA < 0 ? mb * kb : 0) + (inB < 0 ? kb * nb : 0) + (inC < 0 ? mb * nb : 0)) + packRoom + ALIGN_SLACK;
  if (inB < 0 && operandBase(kernel) + copied > OPERANDS_MAX) {
    kernel.stageBytes = 0;
    kernel.stageShape = '';
  }
  // Each block starts 8-byte aligned, plus 4 bytes when its JS array starts at an odd float:
  // V8 copies to and from a SharedArrayBuffer word by word only when both sides have the same
  // alignment mod 8, else byte by byte (4x slower). Addresses never change the results.
  const pE = operandBase(kernel);
  const pA = pE + epiBytes + ((A.byteOffset >> 2) & 1) * 4;
  const pB = align8(pA + (inA < 0 ? 4 * mb * kb : 0)) + ((B.byteOffset >> 2) & 1) * 4;
  const pC = align8(inB < 0 ? pB + 4 * kb * nb : pB) + ((C.byteOffset >> 2) & 1) * 4;
  const cEnd = inC < 0 ? pC + 4 * mb * nb : pC;
  const pP = shared ? (cEnd + 63) & ~63 : -1;
  let h = wasmReserve(kernel, shared ? pP + packRoom : cEnd);
  const { ex } = kernel;
  const tA = transA ? 1 : 0;
  const tB = transB ? 1 : 0;
  // A packed in the cache, when the caller keys it and its rows come in one block.
  let packed: PackEntry | null = null;
  if (aKey !== undefined && mb === M) {
    packed = packedA(kernel, aKey, transA, M, N, K, A, pA, inB < 0 && kernel.stageShape !== `${M}x${N}x${K}`);
    h = kernel.heap;
  }
  // The epilogue's vectors; its flags for gemm.wat (1: a, 2: ReLU, 4: shortcut; 8, which it
  // ignores: there is an epilogue, so that a bias alone is not 0).
  let epiFlags = 0;
  const pa = pE;
  const pb = pE + 4 * M;
  if (fuse) {
    if (epi.a) h.set(epi.a.subarray(0, M), pa >> 2);
    h.set(epi.b.subarray(0, M), pb >> 2);
    epiFlags = 8 | (epi.a ? 1 : 0) | (epi.relu ? 2 : 0) | (inS >= 0 ? 4 : 0);
  }
  for (let i0 = 0; i0 < M; i0 += mb) {
    const m = Math.min(mb, M - i0);
    for (let j0 = 0; j0 < N; j0 += nb) {
      const n = Math.min(nb, N - j0);
      // C block: in place (row stride N), or m x n copied (row stride n).
      const c = inC >= 0 ? inC + 4 * (i0 * N + j0) : pC;
      const ldc = inC >= 0 ? N : n;
      // If a worker fails during the block (never seen: it would take an engine failure), the
      // block is computed again on this thread: C has not been written yet, and the pool is
      // retired. (A C written in place has beta == 0: the retry overwrites the failed attempt.)
      for (let ok = false; !ok; ) {
        ok = true;
        // beta == 0 never reads C.
        if (beta !== 0 && inC < 0) copyIn(h, pC >> 2, C, i0 * N + j0, N, m, n);
        for (let k0 = 0; k0 < K && ok; k0 += kb) {
          const k = Math.min(kb, K - k0);
          // op(A)[i0 .. i0+m, k0 .. k0+k]: m rows of A (M x K), or k rows of A (K x M) when
          // transposed; packed in the cache, or in place, it is read where it is.
          let a = pA;
          let lda = transA ? m : k;
          if (inA >= 0 && packed === null) {
            a = inA + 4 * (transA ? k0 * M + i0 : i0 * K + k0);
            lda = transA ? M : K;
          } else if (packed === null) {
            if (transA) copyIn(h, pA >> 2, A, k0 * M + i0, M, k, m);
            else copyIn(h, pA >> 2, A, i0 * K + k0, K, m, k);
          }
          // op(B)[k0 .. k0+k, j0 .. j0+n]: k rows of B (K x N), or n rows of B (N x K) when
          // transposed; staged or in place, it is read where it is, with its own row stride.
          let b = pB;
          let ldb = transB ? k : n;
          if (inB >= 0) {
            b = inB + 4 * (transB ? j0 * K + k0 : k0 * N + j0);
            ldb = transB ? K : N;
          } else if (transB) copyIn(h, pB >> 2, B, j0 * K + k0, K, n, k);
          else copyIn(h, pB >> 2, B, k0 * N + j0, N, k, n);
          let flags = tA | (tB << 1) | (swapped(m, n) ? 4 : 0);
          if (packed !== null) {
            // The whole of A, in the orientation it was packed for: A' (flag 8) or B' (4 | 16).
            a = packed.at + 4 * k0 * packed.rows;
            lda = packed.rows;
            flags = tA | (tB << 1) | (packed.wide ? 4 | 16 : 8);
          }
          const bt = k0 === 0 ? beta : 1;
          // The epilogue with the last K block, on this block's rows and columns.
          const ef = k0 + k >= K ? epiFlags : 0;
          const s = inS + 4 * (i0 * N + j0);
          if (shared && shouldSplit(m, n, k)) {
            ok = splitCall(ex, flags, m, n, k, alpha, a, lda, b, ldb, bt, c, ldc, 0, 0, pP, ef, pa + 4 * i0, pb + 4 * i0, s, N);
          } else {
            ex.gemm(flags, m, n, k, alpha, a, lda, b, ldb, bt, c, ldc, 0, 0, WASM_PACK_A, WASM_PACK_B, WASM_TILE, WASM_MC, WASM_KC, WASM_NC);
            if (ef !== 0) ex.epilogue(ef, c, ldc, m, n, pa + 4 * i0, pb + 4 * i0, s, N);
          }
        }
      }
      if (inC < 0) copyOut(C, i0 * N + j0, N, h, pC >> 2, m, n);
    }
  }
  return fuse;
}

let batchDesc: { data: Float32Array; owner: object } | null = null;

/**
 * C_i = A_i B_i for i < count (no transposes, alpha 1, beta 0), all of one M x N x K shape: the
 * products of one Winograd layer (16 or 36 of them, each too small to split between threads).
 * With every B_i and C_i a view of the shared memory and every A_i keyed (kept packed), each
 * product goes whole to one thread; else they run one after the other through gemm(). Each
 * product is the same kernel call either way: the same bits.
 */
export function wasmGemmBatch(M: number, N: number, K: number, A: Float32Array[], B: Float32Array[], C: Float32Array[], keys: (GemmPackKey | undefined)[]): boolean {
  const count = A.length;
  const kernel = wasmShared;
  if (kernel === null || gemmThreadCount() < 2 || count < 2 || M * N * K < WASM_MIN_WORK || K > WASM_KB) return false;
  blockSizes(M, N, K, true, false, false);
  if (blkM !== M) return false;
  const inB = B.map(sharedAt);
  const inC = C.map(sharedAt);
  if (inB.some((x) => x < 0) || inC.some((x) => x < 0) || keys.some((k) => k === undefined)) return false;
  if (batchDesc === null || batchDesc.data.length < 4 * count) {
    batchDesc = sharedArena(Math.max(4 * count, 256));
    if (batchDesc === null) return false;
  }
  const pA = operandBase(kernel);
  const entries: PackEntry[] = [];
  for (let i = 0; i < count; i++) {
    const e = packedA(kernel, keys[i]!, false, M, N, K, A[i], pA, true);
    if (e === null) return false;
    entries.push(e);
  }
  // Packing a later operand may have emptied the cache under an earlier one.
  if (entries.some((e) => e.gen !== kernel.cacheGen)) return false;
  const desc = new Int32Array(batchDesc.data.buffer, batchDesc.data.byteOffset, 4 * count);
  for (let i = 0; i < count; i++) {
    desc[4 * i] = entries[i].at;
    desc[4 * i + 1] = entries[i].rows;
    desc[4 * i + 2] = inB[i];
    desc[4 * i + 3] = inC[i];
  }
  const flags = entries[0].wide ? 4 | 16 : 8;
  const ex = kernel.ex;
  const one = (i: number): void => {
    ex.gemm(flags, M, N, K, 1, desc[4 * i], desc[4 * i + 1], desc[4 * i + 2], N, 0, desc[4 * i + 3], N, 0, 0, WASM_PACK_A, WASM_PACK_B, WASM_TILE, WASM_MC, WASM_KC, WASM_NC);
  };
  const bounds = evenBounds(count, Math.min(count, 64));
  const ok = splitJob(JOB_GEMM_BATCH, [desc.byteOffset, flags, M, N, K, N, N, WASM_MC, WASM_KC, WASM_NC, bounds.length - 1], bounds, (_c, i0, i1) => {
    for (let i = i0; i < i1; i++) one(i);
  });
  // No pool to share them (or it failed during the job: every product is recomputed here).
  if (!ok) for (let i = 0; i < count; i++) one(i);
  return true;
}

// ---------------------------------------------------------------------------------------------
// The pack cache: A operands (a layer's weights) packed once in the layout the kernel reads (the
// `pack` export), kept in the kernel's memory from CACHE_BASE, and reused by later products with
// the same key: neither copied in nor packed again. Entries are found by key, then by A's place
// (buffer, offset, length), transA, M, K, orientation and memory; one is valid while its key's
// version is the one it was packed at. The cache is a bump allocator: when full it is emptied
// (a new generation) and fills again. Under a staged view (unshared memory, gemmStage) the
// memory must not grow: a product of the staged shape that would grow it skips the cache this
// time, and the next gemmStage grows it.

/**
 * A key under which gemm() may keep its A operand packed between calls (see gemm()): the caller
 * owns it and increments `version` whenever A's contents may have changed.
 */
export interface GemmPackKey {
  version: number;
}

interface PackEntry {
  buffer: ArrayBufferLike;
  version: number;
  kernel: WasmKernel;
  gen: number;
  /** Byte address of the packed operand, its padded row count, and its orientation (B', swapped). */
  at: number;
  rows: number;
  wide: boolean;
}

const packCache = new WeakMap<GemmPackKey, Map<string, PackEntry>>();
/** Statistics: operands packed into the cache, products that read one from it. */
const cacheStats = { packs: 0, hits: 0 };

/** The pack cache's statistics: operands packed into it, products that found theirs there. */
export function gemmPackCacheInfo(): { packs: number; hits: number } {
  return { ...cacheStats };
}

/**
 * Sets the most bytes of packed operands the pack cache keeps in each kernel memory (default
 * 512 MiB, clamped to [0, 768 MiB]; 0 turns it off); returns the previous value. Memory already
 * grown is kept. Mainly for tests.
 */
export function setGemmPackCacheBudget(bytes: number): number {
  const old = cacheBudget;
  cacheBudget = Math.min(768 << 20, Math.max(0, Math.floor(bytes)));
  return old;
}

/**
 * The cache entry of A (M x K after op) under `key`, packing it now if it has none (A is copied
 * to pA first, the operand area); null when it does not fit, or would grow the memory where
 * that is not allowed (mayGrow false: under a staged view).
 */
function packedA(kernel: WasmKernel, key: GemmPackKey, transA: boolean, M: number, N: number, K: number,
  A: Float32Array, pA: number, mayGrow: boolean): PackEntry | null {
  const wide = swapped(M, N);
  let entries = packCache.get(key);
  if (entries === undefined) packCache.set(key, (entries = new Map()));
  const id = `${A.byteOffset} ${A.length} ${transA ? 'T' : 'N'} ${M} ${K} ${wide ? 'w' : 'n'} ${kernel.module !== null ? 's' : 'u'}`;
  const e = entries.get(id);
  if (e !== undefined && e.buffer === A.buffer && e.version === key.version && e.kernel === kernel && e.gen === kernel.cacheGen) {
    cacheStats.hits++;
    return e;
  }
  const rows = wide ? Math.ceil(M / WASM_NR) * WASM_NR : Math.ceil(M / WASM_MR) * WASM_MR;
  const bytes = Math.ceil((4 * rows * K) / 64) * 64;
  if (bytes > cacheBudget) return null;
  if (kernel.cacheUsed + bytes > cacheBudget) {
    kernel.cacheGen++;
    kernel.cacheUsed = 0;
  }
  const at = CACHE_BASE + kernel.cacheUsed;
  if (pA + 4 * M * K > OPERANDS_MAX) return null;
  if (Math.max(at + bytes, pA + 4 * M * K) > kernel.memory.buffer.byteLength && !mayGrow && kernel.module === null) {
    kernel.cacheWant = Math.max(kernel.cacheWant, at + bytes);
    return null;
  }
  const h = wasmReserve(kernel, Math.max(at + bytes, pA + 4 * M * K));
  if (transA) copyIn(h, pA >> 2, A, 0, M, K, M);
  else copyIn(h, pA >> 2, A, 0, K, M, K);
  kernel.ex.pack(wide ? 1 : 0, pA, transA ? 1 : K, transA ? M : 1, M, K, WASM_KC, at);
  kernel.cacheUsed += bytes;
  cacheStats.packs++;
  const entry: PackEntry = { buffer: A.buffer, version: key.version, kernel, gen: kernel.cacheGen, at, rows, wide };
  entries.set(id, entry);
  return entry;
}

/**
 * Whether the kernel takes a product in its swapped orientation (C^T = op(B)^T op(A)^T, see
 * gemm.wat): when that pads less, i.e. when its 16-wide tiles lie better along M than along N
 * (ResNet-50's N = 49 and 196 against M = 256 .. 2048). Either way gives the same bits.
 */
function swapped(m: number, n: number): boolean {
  const pad = (x: number, w: number): number => Math.ceil(x / w) * w;
  return pad(n, WASM_MR) * pad(m, WASM_NR) < pad(m, WASM_MR) * pad(n, WASM_NR);
}

/** Copy a rows x cols block (row stride ld) of src from offset off to h[dst..], packed (stride cols). */
function copyIn(h: Float32Array, dst: number, src: Float32Array, off: number, ld: number, rows: number, cols: number): void {
  if (cols === ld) {
    h.set(src.subarray(off, off + rows * cols), dst);
    return;
  }
  for (let r = 0; r < rows; r++, off += ld, dst += cols) h.set(src.subarray(off, off + cols), dst);
}

/** Copy a packed rows x cols block h[src..] into C at offset off with row stride ld. */
function copyOut(C: Float32Array, off: number, ld: number, h: Float32Array, src: number, rows: number, cols: number): void {
  if (cols === ld) {
    C.set(h.subarray(src, src + rows * cols), off);
    return;
  }
  for (let r = 0; r < rows; r++, off += ld, src += cols) C.set(h.subarray(src, src + cols), off);
}
