// Batch sources for the prefetching data layers (Caffe's BasePrefetchingDataLayer): with
// `prefetch` > 0 (data_param.prefetch, default 4 as Caffe) a loader runs in the data worker and
// keeps up to `prefetch` batches ready ahead of the forward pass; with `prefetch` 0 the loader runs
// on the calling thread at each forward. Both produce exactly the same batches in the same order:
// the loader is the same deterministic object (loaders.ts) built from the same config.
import { CaffeError } from '../util/errors.js';
import { createLoader, type Batch, type BatchLoader, type LoaderConfig } from './loaders.js';
import { dataWorker, type DataWorker } from './worker-client.js';

const cleanup = new FinalizationRegistry<{ worker: DataWorker; stream: number }>((h) => {
  try {
    h.worker.closeStream(h.stream);
  } catch {
    // the worker is gone: nothing to release
  }
});

export class BatchSource {
  private loader: BatchLoader | null = null;
  private worker: DataWorker | null = null;
  private stream = 0;
  private openId = 0;
  private seq = 0;
  private closed = false;
  /** The error that stopped the stream; every later next() repeats it. */
  private failure: string | null = null;

  constructor(config: LoaderConfig, readonly prefetch: number) {
    if (prefetch <= 0) {
      this.loader = createLoader(config);
      return;
    }
    this.worker = dataWorker();
    this.stream = this.worker.newStream();
    this.openId = this.worker.send({ op: 'open', stream: this.stream, config, prefetch });
    cleanup.register(this, { worker: this.worker, stream: this.stream }, this);
  }

  /** Whether batches are prepared in the background. */
  get background(): boolean {
    return this.worker !== null;
  }

  next(): Batch {
    if (this.failure !== null) throw new CaffeError(this.failure);
    if (this.closed) throw new CaffeError('the data source is closed');
    if (this.loader) return this.loader.next();
    const w = this.worker!;
    try {
      if (this.openId) {
        const id = this.openId;
        this.openId = 0;
        w.wait(id, 'opening the data source');
      }
      const m = w.waitStream(this.stream, this.seq, `waiting for batch ${this.seq}`);
      this.seq++;
      if (!m.ok) throw new CaffeError(m.error ?? 'loading a batch failed');
      w.credit(this.stream);
      return m.value as Batch;
    } catch (e) {
      this.failure = (e as Error).message;
      this.close();
      throw e;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.loader) this.loader.close();
    if (this.worker) {
      cleanup.unregister(this);
      this.worker.closeStream(this.stream);
    }
  }
}
