// MemoryData: batches from arrays the program hands over (Caffe's MemoryDataLayer).
//
//   memory_data_param { batch_size channels height width }   all required and positive
//
// Tops: data [batch_size, channels, height, width] and labels; after a forward the label top is
// [batch_size, 1, 1, 1], as in Caffe (it is [batch_size] right after setup).
//
// Feeding it from JavaScript (get the layer with `net.layer('name') as MemoryDataLayer`):
//
//   layer.reset(data, labels, n)
//       n items (a multiple of batch_size): data holds n * channels * height * width values (NCHW),
//       labels n values. Each forward copies the next batch_size items and wraps to the first
//       after the last. No transformation is applied (as Caffe's Reset). The arrays are read at
//       forward time, so refill them in place or call reset again.
//   layer.addDatums(datums) / layer.addImages(images, labels)
//       Datums (src/data/datum.ts) or HWC 8-bit images (BGR or gray), a multiple of batch_size,
//       go through transform_param (crop must give height x width) into a buffer the layer owns;
//       as Caffe's AddDatumVector / AddMatVector.
//   layer.setProvider((batchSize) => ({ data, labels }))
//       a callback asked for every batch (batch_size items) at forward; it takes precedence.
//   layer.setBatchSize(n)
//       changes batch_size; call net.reshape() afterwards.
//
// Nets with Input layers need no layer at all: `net.forward({ data: { shape: [n, c, h, w], data } })`
// (or `net.setInputs(...)`) copies the arrays into the input blobs, reshaping the net when the
// shape changed.
import type { Blob } from '../graph/blob.js';
import { newMessage, type Message } from '../proto/schema.js';
import type { Datum, PixelImage } from '../data/datum.js';
import { DataTransformer } from '../data/transformer.js';
import { Layer } from './layer.js';
import { layerTransformConfig } from './data.js';
import { registerLayer } from './registry.js';

export type MemoryDataProvider = (batchSize: number) => { data: ArrayLike<number>; labels: ArrayLike<number> };

export class MemoryDataLayer extends Layer {
  private batchSize = 0;
  private channels = 0;
  private height = 0;
  private width = 0;
  private size = 0;
  private data: ArrayLike<number> | null = null;
  private labels: ArrayLike<number> | null = null;
  private n = 0;
  private pos = 0;
  private provider: MemoryDataProvider | null = null;
  private transformer: DataTransformer | null = null;

  override get type(): string {
    return 'MemoryData';
  }
  override exactNumBottomBlobs(): number {
    return 0;
  }
  override exactNumTopBlobs(): number {
    return 2;
  }

  override layerSetUp(_bottom: Blob[], top: Blob[]): void {
    const p: Message = this.param.memory_data_param ?? newMessage('MemoryDataParameter');
    this.batchSize = p.batch_size;
    this.channels = p.channels;
    this.height = p.height;
    this.width = p.width;
    this.size = this.channels * this.height * this.width;
    this.check(this.batchSize * this.size > 0,
      `batch_size, channels, height and width must all be set and positive in memory_data_param (got ${this.batchSize}, ${this.channels}, ${this.height}, ${this.width})`);
    this.transformer = new DataTransformer(layerTransformConfig(this));
    top[0].reshape([this.batchSize, this.channels, this.height, this.width]);
    top[1].reshape([this.batchSize]);
  }

  /** Items per batch. */
  get batch(): number {
    return this.batchSize;
  }

  /** Hands over n items (n a multiple of batch_size) to be served batch by batch (Caffe's Reset). */
  reset(data: ArrayLike<number>, labels: ArrayLike<number>, n: number): void {
    this.check(data && labels, 'reset needs data and labels');
    this.check(Number.isInteger(n) && n > 0, `reset: n must be a positive integer, got ${n}`);
    this.check(n % this.batchSize === 0, `reset: n (${n}) must be a multiple of batch_size (${this.batchSize})`);
    this.check(data.length >= n * this.size, `reset: data holds ${data.length} values, ${n} items of ${this.channels}x${this.height}x${this.width} need ${n * this.size}`);
    this.check(labels.length >= n, `reset: labels holds ${labels.length} values, ${n} items need ${n}`);
    this.data = data;
    this.labels = labels;
    this.n = n;
    this.pos = 0;
  }

  /** Transforms Datums (transform_param applies) and serves them (Caffe's AddDatumVector). */
  addDatums(datums: Datum[]): void {
    const t = this.transformer!;
    const items = datums.map((d) => t.prepare(d));
    this.addPrepared(items, datums.map((d) => d.label));
  }

  /** Transforms HWC 8-bit images (BGR or gray) and serves them with the given labels (AddMatVector). */
  addImages(images: PixelImage[], labels: ArrayLike<number>): void {
    this.check(labels.length === images.length, `addImages: ${images.length} images but ${labels.length} labels`);
    this.addPrepared(images, Array.from(labels));
  }

  private addPrepared(items: (Datum | PixelImage)[], labels: number[]): void {
    const num = items.length;
    this.check(num > 0, 'there is no data to add');
    this.check(num % this.batchSize === 0, `the added data (${num} items) must be a multiple of the batch size (${this.batchSize})`);
    const out = new Float32Array(num * this.size);
    const shape = [1, this.channels, this.height, this.width];
    items.forEach((item, i) => {
      try {
        this.transformer!.transform(item, out, i * this.size, shape);
      } catch (e) {
        throw this.error(`item ${i}: ${(e as Error).message}`);
      }
    });
    this.reset(out, Float32Array.from(labels), num);
  }

  /** A callback asked for each batch at forward time (instead of arrays given to reset). */
  setProvider(provider: MemoryDataProvider | null): void {
    this.provider = provider;
  }

  /** Changes the batch size (Caffe's set_batch_size); reshape the net afterwards. */
  setBatchSize(n: number): void {
    this.check(Number.isInteger(n) && n > 0, `batch size must be a positive integer, got ${n}`);
    this.batchSize = n;
    this.data = null;
    this.labels = null;
    this.n = 0;
    this.pos = 0;
  }

  override reshape(_bottom: Blob[], top: Blob[]): void {
    if (top[0].shape[0] !== this.batchSize) {
      top[0].reshape([this.batchSize, this.channels, this.height, this.width]);
      top[1].reshape([this.batchSize, 1, 1, 1]);
    }
  }

  protected override forwardCpu(_bottom: Blob[], top: Blob[]): void {
    const b = this.batchSize;
    top[0].reshape([b, this.channels, this.height, this.width]);
    top[1].reshape([b, 1, 1, 1]);
    if (this.provider) {
      const { data, labels } = this.provider(b);
      this.check(data.length === b * this.size, () => `the provider gave ${data.length} data values; a batch needs ${b * this.size}`);
      this.check(labels.length === b, () => `the provider gave ${labels.length} labels; a batch needs ${b}`);
      top[0].data.set(data);
      top[1].data.set(labels);
      return;
    }
    this.check(this.data && this.labels, 'MemoryData needs data: call reset(data, labels, n), addDatums, addImages or setProvider before forward');
    const data = this.data;
    const labels = this.labels;
    const start = this.pos * this.size;
    const dst = top[0].data;
    if (ArrayBuffer.isView(data)) dst.set((data as unknown as Float32Array).subarray(start, start + b * this.size));
    else for (let i = 0; i < b * this.size; i++) dst[i] = data[start + i];
    const ldst = top[1].data;
    for (let i = 0; i < b; i++) ldst[i] = labels[this.pos + i];
    this.pos = (this.pos + b) % this.n;
  }

  protected override backwardCpu(): void {}
}

registerLayer('MemoryData', MemoryDataLayer);
