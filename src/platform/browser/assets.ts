// The package files the core reads at run time (caffe.proto and the forks' .proto, onnx.proto, the
// WebAssembly kernels, libjpeg-turbo's .wasm), embedded in the browser bundle by
// scripts/build-web.mjs as the virtual module 'caffe-ts:assets' (base64 for binaries). The fs
// shim serves them by path suffix: the core asks for them relative to its own module URL, which in
// a bundle is wherever the page put it.
import { files } from 'caffe-ts:assets';

const decoded = new Map<string, Uint8Array>();

function bytesOf(name: string): Uint8Array {
  let b = decoded.get(name);
  if (!b) {
    const f = files[name];
    if (f.base64 !== undefined) {
      const bin = atob(f.base64);
      b = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) b[i] = bin.charCodeAt(i);
    } else {
      b = new TextEncoder().encode(f.text);
    }
    decoded.set(name, b);
  }
  return b;
}

/** The embedded file whose name `path` ends with (after a '/'), or undefined. */
export function assetName(path: string): string | undefined {
  const p = '/' + path.replace(/^[a-z-]+:\/*/i, '');
  for (const name of Object.keys(files)) if (p.endsWith('/' + name)) return name;
  return undefined;
}

/** The bytes of an embedded file (a fresh copy, as a read gives). */
export function assetBytes(name: string): Uint8Array {
  return bytesOf(name).slice();
}

/** Names of the embedded files directly inside `dir` (matched by suffix, as assetName). */
export function assetDir(dir: string): string[] | undefined {
  const p = '/' + dir.replace(/^[a-z-]+:\/*/i, '').replace(/\/+$/, '') + '/';
  const out = new Set<string>();
  for (const name of Object.keys(files)) {
    const slash = name.lastIndexOf('/');
    const parent = '/' + name.slice(0, slash + 1);
    if (slash >= 0 && p.endsWith(parent)) out.add(name.slice(slash + 1));
  }
  return out.size ? [...out].sort() : undefined;
}
