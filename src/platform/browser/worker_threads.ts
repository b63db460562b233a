// node:worker_threads in the browser bundle, for the GEMM thread pool (src/kernels/gemm-threads.ts):
// an eval'd worker source becomes a Web Worker made from a Blob URL, and its
// `require('node:worker_threads').workerData` is the first message the worker receives (the
// compiled wasm module, the shared WebAssembly.Memory and the control arrays, all of which a
// Web Worker can receive). The pool blocks in Atomics.wait, which a page's own thread may not
// do, so workers start only from inside a worker (where the demo page runs its nets) and only when
// the page is cross-origin isolated (no SharedArrayBuffer otherwise); the pool then stays on one
// thread, as it does under Node when workers cannot start.
import { PlatformError } from './errors.js';

type Listener = (arg: unknown) => void;

declare const document: unknown;
declare const crossOriginIsolated: boolean | undefined;

export const isMainThread = true;
export const parentPort = null;
export const workerData = undefined;

export class Worker {
  private readonly web: {
    postMessage(m: unknown): void;
    terminate(): void;
    addEventListener(t: string, f: (e: { message?: string }) => void): void;
  };
  private readonly listeners = new Map<string, Listener[]>();

  constructor(source: string, options: { eval?: boolean; workerData?: unknown } = {}) {
    if (!options.eval) throw new PlatformError("data layers and HDF5 files need Node's worker threads; in a browser, feed inputs directly");
    if (typeof document !== 'undefined') throw new PlatformError("a page's own thread cannot wait for workers: run the net in a Web Worker");
    if (typeof crossOriginIsolated !== 'undefined' && !crossOriginIsolated) {
      throw new PlatformError('threads need a cross-origin isolated page (COOP/COEP headers)');
    }
    const body =
      'self.onmessage = (event) => {\n' +
      '  self.onmessage = null;\n' +
      '  const data = event.data;\n' +
      "  const require = (m) => { if (m === 'node:worker_threads' || m === 'worker_threads') return { workerData: data, parentPort: null, isMainThread: false }; throw new Error('cannot require ' + m + ' in a Web Worker'); };\n" +
      `  (function (require) {\n${source}\n  })(require);\n` +
      '};\n';
    const url = URL.createObjectURL(new Blob([body], { type: 'text/javascript' }));
    const W = (globalThis as unknown as { Worker: new (u: string) => Worker['web'] }).Worker;
    if (typeof W !== 'function') throw new PlatformError('this browser context cannot start workers');
    this.web = new W(url);
    URL.revokeObjectURL(url);
    this.web.addEventListener('error', (e) => this.emit('error', new Error(e.message ?? 'worker error')));
    this.web.postMessage(options.workerData);
  }

  private emit(type: string, arg: unknown): void {
    for (const f of this.listeners.get(type) ?? []) f(arg);
  }

  on(type: string, f: Listener): this {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), f]);
    return this;
  }

  /** Web Workers never keep a page alive. */
  unref(): void {}

  ref(): void {}

  postMessage(m: unknown): void {
    this.web.postMessage(m);
  }

  terminate(): Promise<number> {
    this.web.terminate();
    this.emit('exit', 1);
    return Promise.resolve(1);
  }
}

const nodeOnly = (what: string) => (): never => {
  throw new PlatformError(`${what} needs Node's worker_threads (data layers read files through a worker)`);
};

export const receiveMessageOnPort = nodeOnly('receiveMessageOnPort');
export const MessageChannel = globalThis.MessageChannel;

export default { Worker, isMainThread, parentPort, workerData, receiveMessageOnPort, MessageChannel };
