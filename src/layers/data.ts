// Data: batches of caffe.Datum records from an LMDB database (Caffe's DataLayer).
//
//   data_param.source     the LMDB folder (or data.mdb), relative to the working directory
//   data_param.backend    LMDB; LEVELDB (proto2's default when unset) is not supported
//   data_param.batch_size items per batch
//   data_param.rand_skip  ignored, as by BVLC master's DataLayer (only ImageData still skips)
//   data_param.prefetch   batches prepared ahead in the background (default 4; 0 = none: each
//                         batch is read on the calling thread during forward)
//   transform_param       crop / mirror / mean / scale (src/data/transformer.ts)
//
// Records are read in key order, wrapping to the first key after the last, as Caffe's cursor.
// Each batch is shaped by its first record ([batch, C, H, W]); the label top (when there are two
// tops) holds each Datum's label. The tops are sized at setup from the first record.
// Batches are prepared by the data worker while the net runs (see src/data/prefetch.ts); the
// worker's loader is a deterministic copy of the one set up here, so the batches and their order
// are those of a synchronous read.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Blob } from '../graph/blob.js';
import { has, newMessage, type Message } from '../proto/schema.js';
import { BatchSource } from '../data/prefetch.js';
import { DatumLoader, type DatumLoaderConfig, type LoaderConfig } from '../data/loaders.js';
import { makeTransformConfig } from '../data/transform-config.js';
import type { TransformConfig } from '../data/transformer.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

const LEVELDB = 0;
const LMDB = 1;

/** The transformer config of a data layer, with errors naming the layer. */
export function layerTransformConfig(layer: Layer): TransformConfig {
  try {
    return makeTransformConfig(has(layer.param, 'transform_param') ? layer.param.transform_param : null, layer.phase);
  } catch (e) {
    throw layer.error((e as Error).message);
  }
}

/** Caffe's prefetch count for a prefetching data layer (data_param.prefetch, default 4). */
export function prefetchCount(param: Message): number {
  return has(param, 'data_param') ? param.data_param.prefetch : 4;
}

/**
 * What Data and ImageData share (Caffe's BasePrefetchingDataLayer): tops sized from the first
 * item at setup, then filled from a BatchSource each forward; the labels go to the second top.
 */
export abstract class PrefetchingDataLayer extends Layer {
  protected source: BatchSource | null = null;

  override exactNumBottomBlobs(): number {
    return 0;
  }

  /** Sizes the tops for `batchSize` items of the first item's `shape`, and (re)starts the source. */
  protected startSource(config: LoaderConfig, shape: number[], batchSize: number, top: Blob[]): void {
    shape[0] = batchSize;
    top[0].reshape(shape);
    if (top.length > 1) top[1].reshape([batchSize]);
    this.source?.close();
    this.source = new BatchSource(config, prefetchCount(this.param));
  }

  // Tops are shaped by each batch in forward.
  override reshape(_bottom: Blob[], _top: Blob[]): void {}

  protected override forwardCpu(_bottom: Blob[], top: Blob[]): void {
    this.check(this.source, 'the layer was not set up');
    let batch;
    try {
      batch = this.source.next();
    } catch (e) {
      throw this.error((e as Error).message);
    }
    top[0].reshape(batch.shape);
    top[0].data.set(batch.data);
    if (top.length > 1 && batch.labels) {
      top[1].reshape([batch.labels.length]);
      top[1].data.set(batch.labels);
    }
  }

  protected override backwardCpu(): void {}

  /** Stops background prefetching and releases the source. */
  dispose(): void {
    this.source?.close();
    this.source = null;
  }
}

export class DataLayer extends PrefetchingDataLayer {
  override get type(): string {
    return 'Data';
  }
  override minTopBlobs(): number {
    return 1;
  }
  override maxTopBlobs(): number {
    return 2;
  }

  override layerSetUp(_bottom: Blob[], top: Blob[]): void {
    const dp: Message = this.param.data_param ?? newMessage('DataParameter');
    const outputLabels = top.length !== 1;
    const sourcePath: string = dp.source ?? '';
    this.check(sourcePath !== '', 'data_param.source is not set');
    const abs = resolve(sourcePath);
    if (dp.backend !== LMDB) {
      const looksLmdb = existsSync(abs) && (abs.endsWith('.mdb') || (statSync(abs).isDirectory() && existsSync(join(abs, 'data.mdb'))));
      const which = dp.backend === LEVELDB ? `LEVELDB${has(dp, 'backend') ? '' : ' (the default when data_param.backend is not set)'}` : String(dp.backend);
      throw this.error(
        `backend ${which} is not supported by caffe-ts: only LMDB databases can be read` +
          (looksLmdb ? `; '${sourcePath}' is an LMDB database: set data_param { backend: LMDB }` : '; convert the LevelDB database to LMDB (e.g. with Caffe\'s convert_imageset -backend lmdb) and set backend: LMDB'),
      );
    }
    const batchSize: number = dp.batch_size;
    this.check(batchSize > 0, `data_param.batch_size must be positive, got ${batchSize}`);
    const transform = layerTransformConfig(this);
    // Master's DataLayer reads from the first record whatever rand_skip says.
    const config: DatumLoaderConfig = { kind: 'datum', source: abs, batchSize, skip: 0, labels: outputLabels, transform };

    let shape: number[];
    try {
      const probe = new DatumLoader(config);
      try {
        shape = probe.peekShape();
      } finally {
        probe.close();
      }
    } catch (e) {
      throw this.error(`cannot read data_param.source '${sourcePath}': ${(e as Error).message}`);
    }
    this.startSource(config, shape, batchSize, top);
  }
}

registerLayer('Data', DataLayer);
