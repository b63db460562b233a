// Assembles the WebAssembly kernels (src/kernels/wasm/*.wat) with wabt, WebAssembly's own
// toolkit compiled to JS (a devDependency), into a .wasm beside each .wat, and copies each .wasm
// to the same place under dist/ where the compiled JS looks for it (new URL('./wasm/x.wasm',
// import.meta.url)). Run by `npm run build` before tsc.
//
// The generated .wasm files under src/ are committed too: vitest runs the TypeScript sources
// without a build, and they must find the same binary the build ships. test/gemm.test.ts
// re-assembles the .wat and fails if the committed .wasm is stale (run `npm run build`).
//
// FMA variants (VARIANTS below) are generated, not written by hand: the same .wat with every
// `(f32x4.add (local.get $acc) (f32x4.mul x y))` turned into `(f32x4.relaxed_madd x y (local.get
// $acc))` (fuseMadd), assembled into their own .wasm (committed and checked likewise). The kernels
// load them when the engine has relaxed SIMD (src/kernels/wasm-fma.ts). Keeping one source means
// the two cannot drift apart; the expected count of rewrites catches a .wat edit that changes them.
//
// Usage: node scripts/build-wasm.mjs [--check]   (--check: only verify the .wasm is current)
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'src', 'kernels', 'wasm');
const distDir = join(root, 'dist', 'src', 'kernels', 'wasm');
const check = process.argv.includes('--check');

/** FMA variants: output .wasm, its source .wat, and how many multiply-adds the rewrite must fuse. */
export const VARIANTS = [{ wasm: 'gemm-fma.wasm', wat: 'gemm.wat', fused: 8 }];

/** The end (exclusive) of the s-expression starting at text[i] === '('. */
function sexpEnd(text, i) {
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const c = text[j];
    if (c === ';' && text[j + 1] === ';') j = text.indexOf('\n', j) === -1 ? text.length : text.indexOf('\n', j);
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return j + 1;
  }
  throw new Error('fuseMadd: unbalanced parentheses');
}

/**
 * The .wat text with each `(f32x4.add (local.get $x) (f32x4.mul a b))` as
 * `(f32x4.relaxed_madd a b (local.get $x))` (a * b + x, one rounding); throws unless there are
 * exactly `expected` of them. a and b must not write locals (they are evaluated before x now).
 */
export function fuseMadd(text, expected) {
  const head = /\(f32x4\.add \(local\.get (\$[\w.]+)\) \(f32x4\.mul /g;
  let out = '';
  let last = 0;
  let count = 0;
  for (let m; (m = head.exec(text)) !== null; ) {
    const mulAt = m.index + m[0].length - '(f32x4.mul '.length;
    const mulEnd = sexpEnd(text, mulAt);
    const addEnd = sexpEnd(text, m.index);
    if (text.slice(mulEnd, addEnd).trim() !== ')') throw new Error(`fuseMadd: unexpected operand after ${m[0]}`);
    const operands = text.slice(mulAt + '(f32x4.mul '.length, mulEnd - 1);
    if (/local\.(set|tee)/.test(operands)) throw new Error(`fuseMadd: operands write locals: ${operands}`);
    out += text.slice(last, m.index) + `(f32x4.relaxed_madd ${operands} (local.get ${m[1]}))`;
    last = addEnd;
    head.lastIndex = addEnd;
    count++;
  }
  if (count !== expected) throw new Error(`fuseMadd: ${count} multiply-adds fused, expected ${expected}`);
  return out + text.slice(last);
}

/** The bytes of a variant, from its .wat in dir. */
export async function assembleVariant(dir, variant) {
  const watPath = join(dir, variant.wat);
  return assemble(watPath, fuseMadd(readFileSync(watPath, 'utf8'), variant.fused));
}

/** WAT text -> wasm bytes (SIMD, threads for shared memory, relaxed SIMD for FMA), validated. */
export async function assemble(file, text) {
  const wabt = await wabtInit();
  const features = { simd: true, threads: true, relaxed_simd: true };
  const mod = wabt.parseWat(file, text, features);
  try {
    mod.resolveNames();
    mod.validate(features);
    return Buffer.from(mod.toBinary({ log: false, write_debug_names: false }).buffer);
  } finally {
    mod.destroy();
  }
}

async function main() {
  let stale = 0;
  const jobs = readdirSync(srcDir).filter((f) => f.endsWith('.wat')).sort()
    .map((name) => ({ name, wasmName: name.replace(/\.wat$/, '.wasm'), bytes: () => assemble(join(srcDir, name), readFileSync(join(srcDir, name), 'utf8')) }));
  for (const v of VARIANTS) jobs.push({ name: `${v.wat} (FMA)`, wasmName: v.wasm, bytes: () => assembleVariant(srcDir, v) });
  for (const { name, wasmName, bytes: make } of jobs) {
    const wasmPath = join(srcDir, wasmName);
    const bytes = await make();
    const current = existsSync(wasmPath) && readFileSync(wasmPath).equals(bytes);
    if (check) {
      if (!current) {
        console.error(`${wasmPath} is stale: run npm run build`);
        stale++;
      }
      continue;
    }
    if (!current) writeFileSync(wasmPath, bytes);
    mkdirSync(distDir, { recursive: true });
    copyFileSync(wasmPath, join(distDir, wasmName));
    console.log(`build-wasm: ${name} -> ${wasmName} (${bytes.length} bytes${current ? ', unchanged' : ''})`);
  }
  if (stale) process.exitCode = 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
