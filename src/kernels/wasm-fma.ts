// Whether the WebAssembly kernels may use fused multiply-add (f32x4.relaxed_madd, from the relaxed
// SIMD proposal): FMA variants of the kernels (gemm-fma.wasm, generated from gemm.wat by
// scripts/build-wasm.mjs) run when the engine has relaxed SIMD, ~20% faster in GEMM on x86 cores
// whose FP ports cap separate mul + add (bench/gemm.ts).
//
// Node 22+ has relaxed SIMD by default. Node 20 (V8 11.3) has it behind
// --experimental-wasm-relaxed-simd, which V8 reads at each compile: setting it at run time, before
// the first FMA module is compiled, turns it on (verified on Node 20.20). Kernels import this file
// before compiling anything, so detection runs first.
//
// FMA rounds once where mul + add rounds twice, so results differ from the plain kernels in the
// last bits (within the same error bound, and every fixture's tolerance). Off with CAFFE_TS_FMA=0,
// and on the plain path (CAFFE_TS_PLAIN=1): then V8's flags are left alone too.

import { createRequire } from 'node:module';

/**
 * A minimal module using relaxed SIMD: (func (param v128 v128 v128) (result v128)
 * (f32x4.relaxed_madd (local.get 0) (local.get 1) (local.get 2))), exported as f, assembled by wabt.
 */
const PROBE: Uint8Array<ArrayBuffer> = Uint8Array.from('0061736d0100000001080160037b7b7b017b03020100070501016600000a0d010b00200020012002fd85020b'.match(/../g)!, (x) => parseInt(x, 16));

/** How relaxed SIMD came to be available: by default, by setting V8's flag, or not at all. */
export type RelaxedSimdHow = 'default' | 'flag' | 'none';

/**
 * Detects relaxed SIMD: validates the probe; if that fails, tries enabling V8's flag and validates
 * again. Never throws. The engine hooks are parameters so that tests can play other engines.
 */
export function detectRelaxedSimd(
  validate: (bytes: Uint8Array<ArrayBuffer>) => boolean,
  setV8Flag: ((flag: string) => void) | null,
): { how: RelaxedSimdHow; reason: string } {
  const ok = (): boolean => {
    try {
      return validate(PROBE) === true;
    } catch {
      return false;
    }
  };
  if (ok()) return { how: 'default', reason: '' };
  if (setV8Flag === null) return { how: 'none', reason: 'no relaxed SIMD, and no V8 flags to turn it on' };
  try {
    setV8Flag('--experimental-wasm-relaxed-simd');
  } catch (e) {
    return { how: 'none', reason: `no relaxed SIMD (setting V8's flag failed: ${(e as Error).message})` };
  }
  return ok() ? { how: 'flag', reason: '' } : { how: 'none', reason: 'no relaxed SIMD, even with --experimental-wasm-relaxed-simd' };
}

/** node:v8's setFlagsFromString, synchronously (a dynamic import would be too late), or null. */
function v8SetFlags(): ((flag: string) => void) | null {
  try {
    type V8 = { setFlagsFromString(flag: string): void };
    const getBuiltin = (process as unknown as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
    const v8 = (getBuiltin?.('node:v8') ?? createRequire(import.meta.url)('node:v8')) as V8;
    return typeof v8?.setFlagsFromString === 'function' ? (flag) => v8.setFlagsFromString(flag) : null;
  } catch {
    return null;
  }
}

function detect(): { fma: boolean; how: RelaxedSimdHow; reason: string } {
  if (typeof process === 'object' && process.env?.CAFFE_TS_FMA === '0') return { fma: false, how: 'none', reason: 'CAFFE_TS_FMA=0' };
  // util/plain.ts's plainForced(), inlined: the GEMM kernels import only node: modules and each other.
  if (typeof process === 'object' && process.env?.CAFFE_TS_PLAIN === '1') return { fma: false, how: 'none', reason: 'CAFFE_TS_PLAIN=1' };
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.validate !== 'function') return { fma: false, how: 'none', reason: 'no WebAssembly' };
  const r = detectRelaxedSimd((b) => WebAssembly.validate(b), v8SetFlags());
  return { fma: r.how !== 'none', ...r };
}

/**
 * Whether the kernels use their FMA variants, how relaxed SIMD was found ('flag': V8's flag was
 * set at start), and why not when `fma` is false.
 */
export const wasmFma: { readonly fma: boolean; readonly how: RelaxedSimdHow; readonly reason: string } = Object.freeze(detect());
