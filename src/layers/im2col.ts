// Im2col (Caffe's Im2colLayer): exposes im2col as a layer. The top has the bottom's leading axes,
// channels * prod(kernel) channels, and the convolution output's spatial extent; backward is
// col2im of the top diff. Parameters come from convolution_param (kernel/pad/stride/dilation,
// axis, force_nd_im2col; num_output and the fillers are ignored).
import type { Blob } from '../graph/blob.js';
import { convOutSize, im2colAuto } from '../kernels/im2col.js';
import { convGeometry, convParam, type ConvGeometry } from './base-conv.js';
import { axisOf, Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class Im2colLayer extends Layer {
  private geom: ConvGeometry = { kernel: [], stride: [], pad: [], dilation: [] };
  private channelAxis = 1;
  private numSpatialAxes = 0;
  private forceNd = false;
  private channels = 0;
  private num = 0;
  private bottomDim = 0;
  private topDim = 0;
  private imShape: number[] = [];
  private colShape: number[] = [];

  get type(): string {
    return 'Im2col';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  override layerSetUp(bottom: Blob[], _top: Blob[]): void {
    const cp = convParam(this);
    this.forceNd = !!cp.force_nd_im2col;
    this.channelAxis = axisOf(this, bottom[0], cp.axis ?? 1, 'convolution_param.axis', 'bottom');
    this.numSpatialAxes = bottom[0].numAxes - this.channelAxis - 1;
    this.check(this.numSpatialAxes >= 1,
      () => `im2col needs at least one spatial axis after channel axis ${this.channelAxis}, bottom is ${bottom[0].shapeString()}`);
    this.geom = convGeometry(this, cp, this.numSpatialAxes, bottom[0]);
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    this.check(b.numAxes === this.channelAxis + 1 + this.numSpatialAxes,
      () => `bottom num_axes may not change: bottom ${b.shapeString()}, set up for ${this.channelAxis + 1 + this.numSpatialAxes} axes`);
    const { kernel, pad, stride, dilation } = this.geom;
    const shape = b.shape.slice();
    this.channels = b.shape[this.channelAxis];
    shape[this.channelAxis] = this.channels * kernel.reduce((x, y) => x * y, 1);
    for (let i = 0; i < this.numSpatialAxes; i++) {
      const input = b.shape[this.channelAxis + 1 + i];
      const extent = dilation[i] * (kernel[i] - 1) + 1;
      // Truncating division as Caffe's: an overhang shorter than the stride still gives one output.
      const out = convOutSize(input, kernel[i], pad[i], stride[i], dilation[i]);
      this.check(out > 0,
        () => `kernel extent ${extent} (kernel (${kernel.join(',')}), dilation (${dilation.join(',')})) is larger than the padded input ` +
          `${input} + 2*${pad[i]} along spatial axis ${i} (bottom ${b.shapeString()})`);
      shape[this.channelAxis + 1 + i] = out;
    }
    top[0].reshape(shape);
    this.num = b.countRange(0, this.channelAxis);
    this.bottomDim = b.countRange(this.channelAxis);
    this.topDim = top[0].countRange(this.channelAxis);
    this.imShape = b.shape.slice(this.channelAxis);
    this.colShape = top[0].shape.slice(this.channelAxis);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    for (let n = 0; n < this.num; n++) {
      const xn = x.subarray(n * this.bottomDim, (n + 1) * this.bottomDim);
      const yn = y.subarray(n * this.topDim, (n + 1) * this.topDim);
      im2colAuto(true, xn, yn, this.imShape, this.colShape, this.geom, this.forceNd);
    }
  }

  // Caffe's Backward_cpu ignores propagate_down: the bottom diff is always written.
  protected override backwardCpu(top: Blob[], _propagateDown: boolean[], bottom: Blob[]): void {
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    for (let n = 0; n < this.num; n++) {
      const dyn = dy.subarray(n * this.topDim, (n + 1) * this.topDim);
      const dxn = dx.subarray(n * this.bottomDim, (n + 1) * this.bottomDim);
      im2colAuto(false, dxn, dyn, this.imShape, this.colShape, this.geom, this.forceNd);
    }
  }
}

registerLayer('Im2col', Im2colLayer);
