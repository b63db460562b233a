// Builds the browser side of caffe-ts with esbuild (a devDependency) into dist/web/:
//   caffe-ts.js       the core (formats, graph, layers, kernels, solvers, transformer, drawing) as
//                     one ES module with no Node APIs: src/web/index.ts
//   demo/             the demo page (src/web/demo: index.html, page.ts, worker.ts) and, under
//                     demo/lenet/, the shipped LeNet and digits it preloads
// Node's built-in modules resolve to src/platform/browser/* (file reads are served from the
// package files embedded here, anything else is a PlatformError), pngjs to its own browser build,
// h5wasm to a module that refuses HDF5 by name. The package files the core reads at run time
// (the .proto schemas, the WebAssembly kernels, libjpeg-turbo's .wasm) are embedded as the
// virtual module 'caffe-ts:assets'. The page and worker are type-checked with
// src/web/tsconfig.json first (esbuild only strips types).
//
// Usage: node scripts/build-web.mjs [--no-check]
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');
const shims = join(root, 'src', 'platform', 'browser');
const require = createRequire(import.meta.url);

/** name -> file for everything embedded (names are what the core's paths end with). */
function assetFiles() {
  const files = new Map();
  files.set('proto/caffe.proto', join(root, 'proto', 'caffe.proto'));
  files.set('proto/onnx.proto', join(root, 'proto', 'onnx.proto'));
  const forks = join(root, 'proto', 'forks');
  for (const f of readdirSync(forks).filter((f) => f.endsWith('.proto')).sort()) files.set(`proto/forks/${f}`, join(forks, f));
  const wasm = join(root, 'src', 'kernels', 'wasm');
  for (const f of readdirSync(wasm).filter((f) => f.endsWith('.wasm')).sort()) files.set(`wasm/${f}`, join(wasm, f));
  files.set('node_modules/@cwasm/jpeg-turbo/jpeg-turbo.wasm', require.resolve('@cwasm/jpeg-turbo/jpeg-turbo.wasm'));
  return files;
}

const BUILTINS = new Set(['fs', 'path', 'os', 'url', 'module', 'worker_threads', 'crypto', 'perf_hooks']);

const browserPlatform = {
  name: 'caffe-ts-browser',
  setup(build) {
    build.onResolve({ filter: /^(node:)?[a-z_]+$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      if (BUILTINS.has(name)) return { path: join(shims, `${name}.ts`) };
      if (args.path.startsWith('node:')) return { errors: [{ text: `${args.path} has no browser version (imported by ${args.importer})` }] };
      return undefined;
    });
    build.onResolve({ filter: /^pngjs$/ }, () => ({ path: join(root, 'node_modules', 'pngjs', 'browser.js') }));
    build.onResolve({ filter: /^h5wasm\/node$/ }, () => ({ path: join(shims, 'h5wasm.ts') }));
    build.onResolve({ filter: /^caffe-ts:assets$/ }, () => ({ path: 'assets', namespace: 'caffe-ts' }));
    build.onLoad({ filter: /.*/, namespace: 'caffe-ts' }, () => {
      const files = {};
      for (const [name, file] of assetFiles()) {
        const bytes = readFileSync(file);
        files[name] = name.endsWith('.wasm') ? { base64: bytes.toString('base64') } : { text: bytes.toString('utf8') };
      }
      return { contents: `export const files = ${JSON.stringify(files)};`, loader: 'js' };
    });
  },
};

const common = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  keepNames: true, // error classes name themselves from new.target.name
  sourcemap: true,
  logLevel: 'warning',
  inject: [join(shims, 'process.ts'), join(shims, 'buffer.ts')],
  plugins: [browserPlatform],
};

export async function buildWeb({ check = true } = {}) {
  if (check) {
    const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'src', 'web', 'tsconfig.json')], { stdio: 'inherit' });
    if (tsc.status !== 0) throw new Error('build-web: type errors (src/web/tsconfig.json)');
  }
  rmSync(out, { recursive: true, force: true });
  const lib = await esbuild.build({ ...common, metafile: true, entryPoints: { 'caffe-ts': join(root, 'src', 'web', 'index.ts') }, outdir: out });
  await esbuild.build({
    ...common,
    entryPoints: { page: join(root, 'src', 'web', 'demo', 'page.ts'), worker: join(root, 'src', 'web', 'demo', 'worker.ts') },
    outdir: join(out, 'demo'),
    // The worker loads the library bundle beside the demo rather than a second copy of it.
    plugins: [{ name: 'caffe-ts-lib', setup: (b) => b.onResolve({ filter: /^\.\.\/index\.js$/ }, () => ({ path: '../caffe-ts.js', external: true })) }, browserPlatform],
  });
  copyFileSync(join(root, 'src', 'web', 'demo', 'index.html'), join(out, 'demo', 'index.html'));
  const lenet = join(out, 'demo', 'lenet');
  mkdirSync(lenet, { recursive: true });
  for (const f of ['lenet.prototxt', 'lenet_iter_10000.caffemodel']) copyFileSync(join(root, 'fixtures', 'demo', f), join(lenet, f));
  cpSync(join(root, 'fixtures', 'demo', 'digits'), join(lenet, 'digits'), { recursive: true });
  const digits = readdirSync(join(lenet, 'digits')).filter((f) => f.endsWith('.png')).sort();
  writeFileSync(join(lenet, 'digits.json'), JSON.stringify(digits));
  // Nothing Node-only may have been bundled (the plugin above routes every built-in).
  const inputs = Object.keys(lib.metafile.inputs);
  const leak = inputs.find((f) => /node_modules\/(h5wasm|lmdb)\/|node_modules\/pngjs\/lib\//.test(f));
  if (leak) throw new Error(`build-web: ${leak} is Node-only but was bundled`);
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = await buildWeb({ check: !process.argv.includes('--no-check') });
  if (existsSync(dir)) console.log(`build-web: ${dir}`);
}
