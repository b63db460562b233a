// Assembles the WebAssembly kernels (src/kernels/wasm/*.wat) with wabt, WebAssembly's own
// toolkit compiled to JS (a devDependency), into a .wasm beside each .wat, and copies each .wasm
// to the same place under dist/ where the compiled JS looks for it (new URL('./wasm/x.wasm',
// import.meta.url)). Run by `npm run build` before tsc.
//
// The generated .wasm files under src/ are committed too: vitest runs the TypeScript sources
// without a build, and they must find the same binary the build ships. test/gemm.test.ts
// re-assembles the .wat and fails if the committed .wasm is stale (run `npm run build`).
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

/** WAT text -> wasm bytes (SIMD, and threads for shared memory), validated. */
export async function assemble(file, text) {
  const wabt = await wabtInit();
  const features = { simd: true, threads: true };
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
  for (const name of readdirSync(srcDir).filter((f) => f.endsWith('.wat')).sort()) {
    const watPath = join(srcDir, name);
    const wasmName = name.replace(/\.wat$/, '.wasm');
    const wasmPath = join(srcDir, wasmName);
    const bytes = await assemble(watPath, readFileSync(watPath, 'utf8'));
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
