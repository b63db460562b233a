// A standalone copy of the GEMM kernels (gemm.ts and the files it loads import only node: modules
// and each other), transpiled, with their .wasm files, in a fresh folder: tests run it in child
// processes to see how a process starts up with a given environment.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';

/** Writes the copy into a new temporary folder and returns its path (the caller removes it). */
export function writeStandaloneGemm(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
  for (const name of ['gemm', 'gemm-js', 'gemm-wasm', 'gemm-threads', 'wasm-fma']) {
    const src = new URL(`../src/kernels/${name}.ts`, import.meta.url);
    const out = ts.transpileModule(readFileSync(src, 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
    writeFileSync(join(dir, `${name}.js`), out.outputText);
  }
  mkdirSync(join(dir, 'wasm'));
  for (const wasm of ['gemm.wasm', 'gemm-fma.wasm']) copyFileSync(new URL(`../src/kernels/wasm/${wasm}`, import.meta.url), join(dir, 'wasm', wasm));
  return dir;
}
