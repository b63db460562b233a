// ImageData: batches of image files listed in a text file (Caffe's ImageDataLayer).
//
//   image_data_param.source       list file, one `path label` per line (split at the last space),
//                                 relative to the working directory
//   image_data_param.root_folder  prepended to every path as written (Caffe concatenates strings)
//   new_height / new_width        resize every image (both or neither), bilinear as OpenCV's
//                                 cv::resize INTER_LINEAR (src/data/resize.ts)
//   is_color                      decode to BGR (default) or to one gray channel
//   shuffle                       shuffle the list at setup and at every pass (seeded stream)
//   batch_size (default 1), rand_skip (start at draw % rand_skip)
//   transform_param               crop / mirror / mean / scale
//   data_param.prefetch           batches prepared ahead in the background (default 4; 0 = none)
//
// Random draws at setup, in Caffe's order from the global generator: the transformer's seed
// (mirror, or crop in TRAIN), the shuffle seed, then the skip.
import { resolve } from 'node:path';
import type { Blob } from '../graph/blob.js';
import { globalRng } from '../kernels/rng.js';
import { newMessage, type Message } from '../proto/schema.js';
import { ImageLoader, readImageList, type ImageLoaderConfig } from '../data/loaders.js';
import { layerTransformConfig, PrefetchingDataLayer } from './data.js';
import { registerLayer } from './registry.js';

export class ImageDataLayer extends PrefetchingDataLayer {
  override get type(): string {
    return 'ImageData';
  }
  override exactNumTopBlobs(): number {
    return 2;
  }

  override layerSetUp(_bottom: Blob[], top: Blob[]): void {
    const p: Message = this.param.image_data_param ?? newMessage('ImageDataParameter');
    const newHeight: number = p.new_height;
    const newWidth: number = p.new_width;
    this.check((newHeight === 0 && newWidth === 0) || (newHeight > 0 && newWidth > 0),
      'new_height and new_width must be set together (or both left at 0)');
    const batchSize: number = p.batch_size;
    this.check(batchSize > 0, `image_data_param.batch_size must be positive, got ${batchSize}`);
    const sourcePath: string = p.source ?? '';
    this.check(sourcePath !== '', 'image_data_param.source is not set');
    let lines: [string, number][];
    try {
      lines = readImageList(resolve(sourcePath));
    } catch (e) {
      throw this.error((e as Error).message);
    }
    this.check(lines.length > 0, `the image list '${sourcePath}' is empty`);

    const transform = layerTransformConfig(this);
    const shuffleSeed = p.shuffle ? globalRng().nextUint32() : null;
    let start = 0;
    if (p.rand_skip > 0) {
      start = globalRng().nextUint32() % p.rand_skip;
      this.check(lines.length > start, `not enough images (${lines.length}) to skip ${start} (rand_skip ${p.rand_skip})`);
    }
    const config: ImageLoaderConfig = {
      kind: 'image',
      lines,
      rootFolder: p.root_folder ?? '',
      cwd: process.cwd(),
      newHeight,
      newWidth,
      isColor: p.is_color,
      batchSize,
      shuffleSeed,
      start,
      transform,
    };
    let shape: number[];
    try {
      shape = new ImageLoader(config).peekShape();
    } catch (e) {
      throw this.error((e as Error).message);
    }
    this.startSource(config, shape, batchSize, top);
  }
}

registerLayer('ImageData', ImageDataLayer);
