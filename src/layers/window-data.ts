// WindowData (Caffe's R-CNN window sampler) is not implemented: the layer type is known, and
// setting it up fails with a clear error instead of "unknown layer type".
import type { Blob } from '../graph/blob.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class WindowDataLayer extends Layer {
  override get type(): string {
    return 'WindowData';
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    throw this.error(
      'WindowData is not supported by caffe-ts (it samples R-CNN windows from a window file with OpenCV); ' +
        'crop the windows beforehand and feed them through ImageData, Data (LMDB), HDF5Data or MemoryData',
    );
  }

  override reshape(_bottom: Blob[], _top: Blob[]): void {}
  protected override forwardCpu(_bottom: Blob[], _top: Blob[]): void {}
}

registerLayer('WindowData', WindowDataLayer);
