// HDF5Output: writes its two bottoms to an HDF5 file as float32 datasets `data` and `label`
// (Caffe's HDF5OutputLayer), with Caffe's legacy 4-D shapes (num, channels, height, width).
//
//   hdf5_output_param.file_name  the file, relative to the working directory; created (truncated)
//                                at setup, as Caffe's H5Fcreate
//
// Each forward writes the batch it was given. Caffe can only do this once per file (a second
// forward fails because the datasets exist); here every forward rewrites the file, so it holds the
// latest batch. The bottoms get no gradient.
import { resolve } from 'node:path';
import type { Blob } from '../graph/blob.js';
import { newMessage, type Message } from '../proto/schema.js';
import { writeHdf5 } from '../data/hdf5.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class HDF5OutputLayer extends Layer {
  private file = '';

  override get type(): string {
    return 'HDF5Output';
  }
  override exactNumBottomBlobs(): number {
    return 2;
  }
  override exactNumTopBlobs(): number {
    return 0;
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    const p: Message = this.param.hdf5_output_param ?? newMessage('HDF5OutputParameter');
    const name: string = p.file_name ?? '';
    this.check(name !== '', 'hdf5_output_param.file_name is not set');
    this.file = resolve(name);
    try {
      writeHdf5(this.file, []);
    } catch (e) {
      throw this.error(`failed to create HDF5 file '${name}': ${(e as Error).message}`);
    }
  }

  override reshape(_bottom: Blob[], _top: Blob[]): void {}

  protected override forwardCpu(bottom: Blob[], _top: Blob[]): void {
    const [data, label] = bottom;
    this.check(data.numAxes <= 4 && label.numAxes <= 4,
      () => `bottoms must have at most 4 axes (Caffe writes num, channels, height, width); got ${data.shapeString()} and ${label.shapeString()}`);
    this.check(data.num === label.num, () => `data blob and label blob must have the same batch size: ${data.num} vs ${label.num}`);
    const legacy = (b: Blob) => [b.num, b.channels, b.height, b.width];
    try {
      writeHdf5(this.file, [
        { name: 'data', shape: legacy(data), data: data.data },
        { name: 'label', shape: legacy(label), data: label.data },
      ]);
    } catch (e) {
      throw this.error(`failed to write HDF5 file '${this.file}': ${(e as Error).message}`);
    }
  }

  protected override backwardCpu(): void {}
}

registerLayer('HDF5Output', HDF5OutputLayer);
