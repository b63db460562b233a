// ShuffleChannel (ShuffleNet, farmingyard's layer): with G = shuffle_channel_param.group and the
// C channels seen as a G x (C/G) matrix, the output is its transpose: output channel j * G + i is
// input channel i * (C/G) + j. Backward applies the inverse permutation to the gradient.
import type { Blob } from '../graph/blob.js';
import { Layer, paramOf } from './layer.js';
import { registerLayer } from './registry.js';

/** out[(j * rows + i) * len ...] = in[(i * cols + j) * len ...] for every sample. */
function transposeChannels(src: Float32Array, dst: Float32Array, num: number, rows: number, cols: number, len: number): void {
  const sample = rows * cols * len;
  for (let n = 0; n < num; n++) {
    const base = n * sample;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        const s = base + (i * cols + j) * len;
        dst.set(src.subarray(s, s + len), base + (j * rows + i) * len);
      }
    }
  }
}

export class ShuffleChannelLayer extends Layer {
  private group = 1;

  get type(): string {
    return 'ShuffleChannel';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    this.group = paramOf(this.param, 'shuffle_channel_param', 'ShuffleChannelParameter').group;
    this.check(this.group > 0, () => `group must be positive, got ${this.group}`);
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    this.check(b.numAxes >= 2, () => `the bottom needs a channel axis, got ${b.shapeString()}`);
    this.check(b.shape[1] % this.group === 0, () => `the ${b.shape[1]} channels of ${b.shapeString()} are not a multiple of group ${this.group}`);
    this.check(top[0] !== b, 'cannot run in place');
    top[0].reshapeLike(b);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    transposeChannels(b.data, top[0].data, b.shape[0], this.group, b.shape[1] / this.group, b.countRange(2));
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const b = bottom[0];
    transposeChannels(top[0].diff, b.diff, b.shape[0], b.shape[1] / this.group, this.group, b.countRange(2));
  }
}

registerLayer('ShuffleChannel', ShuffleChannelLayer);
