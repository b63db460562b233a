// caffe-ts for browsers (built by scripts/build-web.mjs into dist/web/caffe-ts.js): the same core
// as under Node. Files come in as their contents (Net.fromBuffers, readNetParameterBytes,
// decodeMessage, decodeImage); a path-taking function throws a PlatformError. Kernels load from
// the bundle; GEMM threads are Web Workers when the net runs in a worker of a cross-origin
// isolated page, and one thread otherwise.
export * from '../index.js';
export { PlatformError } from '../platform/browser/errors.js';
