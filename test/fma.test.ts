// Fused multiply-add (relaxed SIMD): detection (src/kernels/wasm-fma.ts), the CAFFE_TS_FMA switch,
// and the FMA variant of the GEMM kernel (gemm-fma.wasm) against the JS kernel and the plain one.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeStandaloneGemm } from './standalone-gemm.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { gemmBackend, gemmJs, gemmWasm } from '../src/kernels/gemm.js';
import { detectRelaxedSimd, wasmFma } from '../src/kernels/wasm-fma.js';
import { rng } from './gradient-checker.js';
// @ts-expect-error: plain ESM build script, no type declarations
import { fuseMadd } from '../scripts/build-wasm.mjs';

type Gemm = typeof gemmJs;
const FLAG = '--experimental-wasm-relaxed-simd';
const nodeMajor = Number(process.versions.node.split('.')[0]);
/** Whether the environment turned FMA off (as .ci/run's plain path does). */
const envOff = process.env.CAFFE_TS_FMA === '0' || process.env.CAFFE_TS_PLAIN === '1';
const gemmOff = process.env.CAFFE_TS_GEMM === 'js';

describe('relaxed SIMD detection', () => {
  it('takes relaxed SIMD the engine has by default, without touching V8 flags', () => {
    const flags: string[] = [];
    expect(detectRelaxedSimd(() => true, (f) => flags.push(f))).toEqual({ how: 'default', reason: '' });
    expect(flags).toEqual([]);
  });

  it('sets V8\'s flag when relaxed SIMD is missing, and keeps FMA if it then validates', () => {
    let on = false;
    const flags: string[] = [];
    const r = detectRelaxedSimd(() => on, (f) => {
      flags.push(f);
      on = true;
    });
    expect(r).toEqual({ how: 'flag', reason: '' });
    expect(flags).toEqual([FLAG]);
  });

  it('gives up without throwing when the flag does not help, cannot be set, or validation throws', () => {
    expect(detectRelaxedSimd(() => false, () => {}).how).toBe('none');
    expect(detectRelaxedSimd(() => false, null)).toEqual({ how: 'none', reason: expect.stringMatching(/no V8 flags/) });
    const r = detectRelaxedSimd(() => false, () => {
      throw new Error('frozen flags');
    });
    expect(r).toEqual({ how: 'none', reason: expect.stringMatching(/frozen flags/) });
    expect(detectRelaxedSimd(() => {
      throw new Error('validate broke');
    }, () => {}).how).toBe('none');
  });

  it('finds relaxed SIMD in this Node (Node 20: by setting the flag at start)', () => {
    // With the real engine hooks; the flag, once set, stays set: this process has it either way.
    const r = detectRelaxedSimd((b) => WebAssembly.validate(b), () => {
      throw new Error('flag not set at start');
    });
    if (envOff) {
      expect(wasmFma).toEqual({ fma: false, how: 'none', reason: expect.stringMatching(/CAFFE_TS_/) });
      expect(r.how).toBe(nodeMajor >= 22 ? 'default' : 'none');
    } else {
      expect(r.how).toBe('default');
      expect(wasmFma.fma).toBe(true);
      expect(wasmFma.how).toBe(nodeMajor >= 22 ? 'default' : 'flag');
      if (!gemmOff) expect(gemmBackend.fma).toBe(true);
    }
  });
});

describe('fuseMadd (the generator of the FMA variants)', () => {
  it('fuses accumulations into relaxed_madd, operands first, and counts them', () => {
    const wat = '(local.set $c (f32x4.add (local.get $c) (f32x4.mul (local.get $a) (v128.load offset=16 (local.get $p)))))\n' +
      ';; (f32x4.add (local.get $x) (f32x4.mul (local.get $y) (local.get $z))) in a comment\n' +
      '(f32x4.add (f32x4.mul (local.get $vb) (local.get $b)) (local.get $lo))';
    // The comment's pattern is rewritten too (harmless); the mul-first add is not an accumulation.
    expect(fuseMadd(wat, 2)).toBe(
      '(local.set $c (f32x4.relaxed_madd (local.get $a) (v128.load offset=16 (local.get $p)) (local.get $c)))\n' +
        ';; (f32x4.relaxed_madd (local.get $y) (local.get $z) (local.get $x)) in a comment\n' +
        '(f32x4.add (f32x4.mul (local.get $vb) (local.get $b)) (local.get $lo))',
    );
    expect(() => fuseMadd(wat, 1)).toThrow(/2 multiply-adds fused, expected 1/);
    expect(() => fuseMadd('(f32x4.add (local.get $c) (f32x4.mul (local.tee $a (local.get $x)) (local.get $b)))', 1)).toThrow(/write locals/);
  });

  it('turns exactly the micro-kernel\'s 8 multiply-adds of gemm.wat into FMA', () => {
    const wat = readFileSync(new URL('../src/kernels/wasm/gemm.wat', import.meta.url), 'utf8');
    const fused = fuseMadd(wat, 8);
    const count = (text: string, op: string): number => text.split(op).length - 1;
    expect(count(fused, 'f32x4.relaxed_madd') - count(wat, 'f32x4.relaxed_madd')).toBe(8);
    expect(count(wat, 'f32x4.mul') - count(fused, 'f32x4.mul')).toBe(8);
  });
});

/** float32 inputs where a1*b1 + acc differs by one rounding: fused gives 2^-24, mul then add 0. */
function roundingCase(): [Float32Array, Float32Array] {
  const e = 2 ** -12;
  return [new Float32Array([1, 1 + e]), new Float32Array([-(1 + 2 * e), 1 + e])];
}

function rand(n: number, r: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = 2 * r() - 1;
  return a;
}

describe.skipIf(envOff || gemmOff)('the FMA GEMM kernel', () => {
  // The plain kernel (gemm.wasm) in the same process: the module graph loaded again with
  // CAFFE_TS_FMA=0.
  let plain: Gemm;
  beforeAll(async () => {
    process.env.CAFFE_TS_FMA = '0';
    try {
      vi.resetModules();
      const mod = await import('../src/kernels/gemm.js');
      expect(mod.gemmBackend).toEqual({ kernel: 'wasm-simd', reason: '', fma: false });
      plain = mod.gemmWasm;
    } finally {
      delete process.env.CAFFE_TS_FMA;
      vi.resetModules();
    }
  });

  it('rounds once per multiply-add where the plain kernel rounds twice', () => {
    const [A, B] = roundingCase();
    const fused = new Float32Array(1);
    const twice = new Float32Array(1);
    gemmWasm(false, false, 1, 1, 2, 1, A, B, 0, fused);
    plain(false, false, 1, 1, 2, 1, A, B, 0, twice);
    expect(twice[0]).toBe(0);
    // relaxed_madd may also be unfused (engines without FMA hardware); x64 and arm64 V8 fuse.
    if (process.arch === 'x64' || process.arch === 'arm64') expect(fused[0]).toBe(2 ** -24);
    else expect([0, 2 ** -24]).toContain(fused[0]);
  });

  it('matches the JS kernel within float32 summation error (scaled by K), on many shapes', () => {
    const r = rng(7);
    const sizes = [1, 2, 3, 5, 8, 15, 16, 17, 31, 33, 49, 64, 130];
    const shapes: [number, number, number][] = [];
    for (let t = 0; t < 30; t++) shapes.push([sizes[Math.floor(r() * sizes.length)], sizes[Math.floor(r() * sizes.length)], sizes[Math.floor(r() * sizes.length)]]);
    // Block edges (128 rows, 256-deep K slices, 1024 columns), both orientations, deep K.
    shapes.push([129, 10, 257], [48, 49, 130], [5, 1025, 7], [1025, 5, 9], [64, 196, 576], [16, 16, 2304], [3, 2, 4097]);
    let differs = 0;
    for (const [M, N, K] of shapes) {
      for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        for (const [alpha, beta] of [[1, 0], [-1.5, 0.25], [0.5, 1]]) {
          const A = rand(M * K, r);
          const B = rand(K * N, r);
          const C0 = rand(M * N, r);
          const cf = C0.slice();
          const cp = C0.slice();
          const cj = C0.slice();
          gemmWasm(tA, tB, M, N, K, alpha, A, B, beta, cf);
          plain(tA, tB, M, N, K, alpha, A, B, beta, cp);
          gemmJs(tA, tB, M, N, K, alpha, A, B, beta, cj);
          // As test/gemm.test.ts allows the plain kernel: 2 K u relative (u = 2^-24), 1e-5 at least.
          const tol = Math.max(1e-5, 2 * K * 2 ** -24);
          let e = 0;
          for (let i = 0; i < cj.length; i++) {
            const d = Math.abs(cf[i] - cj[i]) / (1 + Math.abs(cj[i]) + Math.sqrt(K) * 1e-3);
            if (!(d <= e)) e = d;
            if (cf[i] !== cp[i]) differs++;
          }
          if (!(e <= tol)) expect.fail(`M=${M} N=${N} K=${K} tA=${tA} tB=${tB}: error ${e} > ${tol}`);
        }
      }
    }
    // The FMA kernel is really in use: its bits are not the plain kernel's.
    expect(differs).toBeGreaterThan(0);
  });
});

describe('CAFFE_TS_FMA and the engine, in a fresh process', () => {
  // A standalone copy of the GEMM kernels (they import only node: modules and each other),
  // transpiled, with the .wasm files, as test/gemm.test.ts does.
  let dir = '';
  beforeAll(() => {
    dir = writeStandaloneGemm('caffe-ts-fma-');
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const PROBE_HEX = '0061736d0100000001080160037b7b7b017b03020100070501016600000a0d010b00200020012002fd85020b';
  /** Runs a product split between 2 threads, and reports the backend, detection and whether V8 validates relaxed SIMD. */
  const run = (env: Record<string, string>, nodeArgs: string[] = []): { fma: boolean; how: string; reason: string; relaxed: boolean; c: number; split: number } => {
    const [A, B] = roundingCase();
    const script = `import * as g from ${JSON.stringify(join(dir, 'gemm.js'))};\n` +
      `import { wasmFma } from ${JSON.stringify(join(dir, 'wasm-fma.js'))};\n` +
      `const A = new Float32Array([${[...A].join(', ')}]), B = new Float32Array([${[...B].join(', ')}]), C = new Float32Array(1);\n` +
      'g.gemmWasm(false, false, 1, 1, 2, 1, A, B, 0, C);\n' +
      // A product computed by the worker alone: it must run the same module.
      'g.setGemmThreads(2); g.setGemmThreadMinWork(0); g.setGemmWorkersOnly(true); await g.gemmThreadsReady();\n' +
      'const [M, N, K] = [64, 64, 2]; const a = new Float32Array(M * K), b = new Float32Array(K * N), c = new Float32Array(M * N);\n' +
      'for (let i = 0; i < M; i++) a.set(A, i * K); for (let j = 0; j < N; j++) { b[j] = B[0]; b[N + j] = B[1]; }\n' +
      'g.gemm(false, false, M, N, K, 1, a, b, 0, c);\n' +
      `const relaxed = WebAssembly.validate(Uint8Array.from(${JSON.stringify(PROBE_HEX)}.match(/../g), (x) => parseInt(x, 16)));\n` +
      'console.log(JSON.stringify({ fma: g.gemmBackend.fma, how: wasmFma.how, reason: wasmFma.reason, relaxed, c: C[0], split: c.filter((x) => x === C[0]).length }));\n';
    const r = spawnSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, CAFFE_TS_FMA: '', CAFFE_TS_PLAIN: '', CAFFE_TS_GEMM: '', CAFFE_TS_THREADS: '', ...env },
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };
  const fusedHere = process.arch === 'x64' || process.arch === 'arm64';

  it('uses FMA by default, on the calling thread and in the workers', () => {
    const o = run({});
    expect(o).toMatchObject({ fma: true, how: nodeMajor >= 22 ? 'default' : 'flag', reason: '', relaxed: true });
    if (fusedHere) expect(o.c).toBe(2 ** -24);
    expect(o.split).toBe(64 * 64);
  });

  it('CAFFE_TS_FMA=0 and CAFFE_TS_PLAIN=1 keep the plain kernel and leave V8\'s flags alone', () => {
    for (const [env, reason] of [[{ CAFFE_TS_FMA: '0' }, 'CAFFE_TS_FMA=0'], [{ CAFFE_TS_PLAIN: '1' }, 'CAFFE_TS_PLAIN=1']] as const) {
      const o = run(env);
      expect(o).toMatchObject({ fma: false, how: 'none', reason, c: 0, split: 64 * 64 });
      // Node 20 has relaxed SIMD only when the flag is set: it was not.
      if (nodeMajor < 22) expect(o.relaxed).toBe(false);
    }
  });

  it('takes relaxed SIMD an engine has by default (node ' + FLAG + ', as Node 22+)', () => {
    const o = run({}, [FLAG]);
    expect(o).toMatchObject({ fma: true, how: 'default', reason: '', relaxed: true });
    if (fusedHere) expect(o.c).toBe(2 ** -24);
  });
});
