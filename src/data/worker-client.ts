// The data worker: one worker thread per process that prepares batches in the background (the
// prefetch of Caffe's BasePrefetchingDataLayer) and does HDF5 I/O (h5wasm only loads
// asynchronously, while layer setup and forward are synchronous).
//
// The calling thread talks to it over a MessagePort it never listens on: replies are fetched with
// receiveMessageOnPort, and while nothing has arrived the caller sleeps in Atomics.wait on a
// shared counter that the worker bumps after every message it posts. So a synchronous
// Net.forward can wait for a batch the worker prepared while the previous iteration ran, and the
// worker thread never keeps the process alive (it is unref'd).
//
// Module loading: from the built package the worker runs dist/src/data/worker.js. When caffe-ts
// runs from its TypeScript sources (vitest), the worker is given module hooks that transpile .ts
// files with the `typescript` package (a dev dependency) as they load.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { CaffeError } from '../util/errors.js';

/** Messages from the worker: a reply to request `id`, a stream item, or a fatal error. */
export interface WorkerMessage {
  id?: number;
  ok?: boolean;
  value?: any;
  error?: string;
  stream?: number;
  seq?: number;
  fatal?: string;
}

const STARTUP_TIMEOUT_MS = 120_000;

function entry(): { url: string; hooks: string | null } {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return { url: new URL('./worker.js', here).href, hooks: null };
  const require = createRequire(here);
  let tsUrl: string;
  try {
    tsUrl = pathToFileURL(require.resolve('typescript')).href;
  } catch {
    throw new CaffeError('caffe-ts runs from its TypeScript sources but the `typescript` package is not installed, so the data worker cannot load; build the package (npm run build) or install the dev dependencies');
  }
  const hooks = `
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from ${JSON.stringify(tsUrl)};
export async function resolve(spec, ctx, next) {
  if (ctx.parentURL && ctx.parentURL.startsWith('file:') && ctx.parentURL.endsWith('.ts') && (spec.startsWith('./') || spec.startsWith('../')) && spec.endsWith('.js')) {
    const js = new URL(spec, ctx.parentURL);
    if (!existsSync(fileURLToPath(js))) {
      const tsu = new URL(spec.slice(0, -3) + '.ts', ctx.parentURL);
      if (existsSync(fileURLToPath(tsu))) return { url: tsu.href, shortCircuit: true };
    }
  }
  return next(spec, ctx);
}
export async function load(url, ctx, next) {
  if (url.startsWith('file:') && url.endsWith('.ts')) {
    const file = fileURLToPath(url);
    const out = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, sourceMap: false },
    });
    return { format: 'module', source: out.outputText, shortCircuit: true };
  }
  return next(url, ctx);
}`;
  return { url: new URL('./worker.ts', here).href, hooks: 'data:text/javascript,' + encodeURIComponent(hooks) };
}

// A CommonJS bootstrap: reports load failures and crashes through the shared counter, then
// imports the real worker module.
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
const { port, signal, entry, hooks } = workerData;
let dead = false;
function die(e) {
  if (dead) return;
  dead = true;
  try { port.postMessage({ fatal: String((e && e.stack) || e) }); } catch {}
  Atomics.store(signal, 1, 1);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
}
process.on('uncaughtException', die);
process.on('unhandledRejection', die);
try {
  if (hooks) require('node:module').register(hooks);
  import(entry).then((m) => m.start(port, signal), die);
} catch (e) {
  die(e);
}
`;

export class DataWorker {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly signal: Int32Array;
  private nextId = 1;
  private readonly inbox = new Map<string, WorkerMessage>();
  private fatal: string | null = null;
  private started = false;
  private readonly closedStreams = new Set<number>();
  private nextStream = 1;

  constructor() {
    const { url, hooks } = entry();
    const { port1, port2 } = new MessageChannel();
    this.signal = new Int32Array(new SharedArrayBuffer(8));
    this.worker = new Worker(BOOTSTRAP, {
      eval: true,
      execArgv: [],
      workerData: { port: port2, signal: this.signal, entry: url, hooks },
      transferList: [port2],
    });
    this.worker.unref();
    this.worker.on('error', (e) => {
      this.fatal ??= String(e?.stack ?? e);
    });
    this.port = port1;
    this.port.unref();
  }

  private key(m: WorkerMessage): string {
    return m.stream !== undefined ? `s${m.stream}:${m.seq}` : `r${m.id}`;
  }

  private drain(): boolean {
    let got = false;
    for (;;) {
      const r = receiveMessageOnPort(this.port);
      if (!r) return got;
      const m = r.message as WorkerMessage;
      got = true;
      if (m.fatal) this.fatal ??= m.fatal;
      else if (m.stream === undefined && m.id === 0) this.started = true;
      else if (m.stream !== undefined && this.closedStreams.has(m.stream)) continue;
      else this.inbox.set(this.key(m), m);
    }
  }

  /** Sends a request; returns its id (the reply, if any, is fetched with `wait`). */
  send(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): number {
    if (this.fatal) throw new CaffeError(`the caffe-ts data worker failed: ${this.fatal}`);
    const id = this.nextId++;
    this.port.postMessage({ ...msg, id }, transfer);
    return id;
  }

  /** Blocks until the message with `key` arrives (see `key`). */
  private waitKey(key: string, what: string): WorkerMessage {
    const t0 = Date.now();
    for (;;) {
      this.drain();
      const m = this.inbox.get(key);
      if (m) {
        this.inbox.delete(key);
        return m;
      }
      if (!this.fatal && Atomics.load(this.signal, 1) !== 0 && !this.drain()) this.fatal = 'the worker thread stopped';
      if (this.fatal) throw new CaffeError(`the caffe-ts data worker failed while ${what}: ${this.fatal}`);
      if (!this.started && Date.now() - t0 > STARTUP_TIMEOUT_MS) {
        throw new CaffeError(`the caffe-ts data worker did not start within ${STARTUP_TIMEOUT_MS / 1000} s (while ${what})`);
      }
      const seen = Atomics.load(this.signal, 0);
      if (this.drain()) continue;
      Atomics.wait(this.signal, 0, seen, 500);
    }
  }

  /** Waits for the reply to request `id`; throws its error. */
  wait(id: number, what: string): any {
    const m = this.waitKey(`r${id}`, what);
    if (!m.ok) throw new CaffeError(m.error ?? 'failed');
    return m.value;
  }

  /** Sends a request and waits for its reply. */
  call(msg: Record<string, unknown>, what: string, transfer: ArrayBuffer[] = []): any {
    return this.wait(this.send(msg, transfer), what);
  }

  /** Waits for item `seq` of stream `stream`. */
  waitStream(stream: number, seq: number, what: string): WorkerMessage {
    return this.waitKey(`s${stream}:${seq}`, what);
  }

  /** A new stream id. */
  newStream(): number {
    return this.nextStream++;
  }

  /** Stops a stream in the worker and drops the items of it that are on their way. */
  closeStream(stream: number): void {
    this.closedStreams.add(stream);
    const prefix = `s${stream}:`;
    for (const k of [...this.inbox.keys()]) if (k.startsWith(prefix)) this.inbox.delete(k);
    if (!this.fatal) this.port.postMessage({ op: 'close', stream });
  }

  /** Tells the worker one more item of `stream` may be prepared. */
  credit(stream: number): void {
    if (!this.fatal) this.port.postMessage({ op: 'credit', stream });
  }
}

let shared: DataWorker | null = null;

/** The process-wide data worker, started on first use. */
export function dataWorker(): DataWorker {
  shared ??= new DataWorker();
  return shared;
}
