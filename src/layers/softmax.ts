// Softmax: normalized exponentials along `softmax_param.axis` (default 1), as Caffe's
// SoftmaxLayer; one bottom, one top of the same shape; may run in place.
import type { Blob } from '../graph/blob.js';
import { softmaxBackward, softmaxForward } from '../kernels/softmax.js';
import { axisOf, Layer, paramOf } from './layer.js';
import { registerLayer } from './registry.js';

export class SoftmaxLayer extends Layer {
  private outer = 0;
  private channels = 0;
  private inner = 0;

  get type(): string {
    return 'Softmax';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    const sp = paramOf(this.param, 'softmax_param', 'SoftmaxParameter');
    const axis = axisOf(this, bottom[0], sp.axis, 'softmax_param.axis');
    if (top[0] !== bottom[0]) top[0].reshapeLike(bottom[0]);
    this.outer = bottom[0].countRange(0, axis);
    this.channels = bottom[0].shape[axis];
    this.inner = bottom[0].countRange(axis + 1);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    softmaxForward(bottom[0].data, top[0].data, this.outer, this.channels, this.inner);
  }

  // Caffe's Backward_cpu ignores propagate_down: the bottom diff is always written.
  protected override backwardCpu(top: Blob[], _propagateDown: boolean[], bottom: Blob[]): void {
    softmaxBackward(top[0].data, top[0].diff, bottom[0].diff, this.outer, this.channels, this.inner);
  }
}

registerLayer('Softmax', SoftmaxLayer);
