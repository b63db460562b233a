// Split: copies one bottom to several tops (Caffe's SplitLayer, inserted by the Net where a blob
// feeds more than one consumer). The tops share the bottom's data; backward sums the top diffs
// into the bottom diff.
import type { Blob } from '../graph/blob.js';
import { addArrays } from '../kernels/loops.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class SplitLayer extends Layer {
  override get type(): string {
    return 'Split';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override minTopBlobs(): number {
    return 1;
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    top.forEach((t, i) => {
      this.check(t !== b, () => `top[${i}] is the bottom blob: Split cannot work in place`);
      t.reshapeLike(b);
      t.shareData(b);
    });
  }

  protected override forwardCpu(_bottom: Blob[], _top: Blob[]): void {}

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const dst = bottom[0].diff;
    dst.set(top[0].diff);
    for (let t = 1; t < top.length; t++) addArrays(dst, top[t].diff, dst, dst.length);
  }
}

registerLayer('Split', SplitLayer);
