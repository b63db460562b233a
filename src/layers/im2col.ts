// Im2col (Caffe's Im2colLayer): exposes im2col as a layer. The top has the bottom's leading axes,
// channels * prod(kernel) channels, and the convolution output's spatial extent; backward is
// col2im of the top diff. Parameters come from convolution_param (kernel/pad/stride/dilation,
// axis, force_nd_im2col; num_output and the fillers are ignored).
import type { Blob } from '../graph/blob.js';
import { col2im, col2imNd, im2col, im2colNd } from '../kernels/im2col.js';
import { canonicalAxis, convGeometry, convParam, type ConvGeometry } from './base-conv.js';
import { Layer } from './layer.js';
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
    this.channelAxis = canonicalAxis(this, bottom[0], cp.axis ?? 1, 'convolution_param.axis');
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
      this.check(extent <= input + 2 * pad[i],
        () => `kernel extent ${extent} (kernel (${kernel.join(',')}), dilation (${dilation.join(',')})) is larger than the padded input ` +
          `${input} + 2*${pad[i]} along spatial axis ${i} (bottom ${b.shapeString()})`);
      shape[this.channelAxis + 1 + i] = Math.floor((input + 2 * pad[i] - extent) / stride[i]) + 1;
    }
    top[0].reshape(shape);
    this.num = b.countRange(0, this.channelAxis);
    this.bottomDim = b.countRange(this.channelAxis);
    this.topDim = top[0].countRange(this.channelAxis);
    this.imShape = b.shape.slice(this.channelAxis);
    this.colShape = top[0].shape.slice(this.channelAxis);
  }

  private use2d(): boolean {
    return !this.forceNd && this.numSpatialAxes === 2;
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const { kernel, pad, stride, dilation } = this.geom;
    const x = bottom[0].data;
    const y = top[0].data;
    for (let n = 0; n < this.num; n++) {
      const xn = x.subarray(n * this.bottomDim, (n + 1) * this.bottomDim);
      const yn = y.subarray(n * this.topDim, (n + 1) * this.topDim);
      if (this.use2d()) {
        im2col(xn, this.channels, this.imShape[1], this.imShape[2], kernel[0], kernel[1], pad[0], pad[1], stride[0], stride[1], dilation[0], dilation[1], yn);
      } else {
        im2colNd(xn, this.numSpatialAxes, this.imShape, this.colShape, kernel, pad, stride, dilation, yn);
      }
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const { kernel, pad, stride, dilation } = this.geom;
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    for (let n = 0; n < this.num; n++) {
      const dyn = dy.subarray(n * this.topDim, (n + 1) * this.topDim);
      const dxn = dx.subarray(n * this.bottomDim, (n + 1) * this.bottomDim);
      if (this.use2d()) {
        col2im(dyn, this.channels, this.imShape[1], this.imShape[2], kernel[0], kernel[1], pad[0], pad[1], stride[0], stride[1], dilation[0], dilation[1], dxn);
      } else {
        col2imNd(dyn, this.numSpatialAxes, this.imShape, this.colShape, kernel, pad, stride, dilation, dxn);
      }
    }
  }
}

registerLayer('Im2col', Im2colLayer);
