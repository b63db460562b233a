// SPP: spatial pyramid pooling (Caffe's SPPLayer). Level l (0 <= l < pyramid_height) pools the
// (N, C, H, W) bottom into about 2^l x 2^l bins with kernel ceil(H / 2^l), stride = kernel and
// pad (kernel * 2^l - H + 1) / 2 (likewise for W), using the Pooling layer with all its rules;
// the levels are flattened to (N, C*bins) and concatenated along axis 1. With pyramid_height 1
// the single pooling output (N, C, 1, 1) is the top. Internally this is Caffe's
// split -> pooling -> flatten -> concat chain, built from the same layer classes.
import { Blob } from '../graph/blob.js';
import { fromObject, newMessage, type Message } from '../proto/schema.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';
import { PoolingLayer, POOL_AVE, POOL_MAX, POOL_STOCHASTIC } from './pooling.js';
import { SplitLayer } from './split.js';
import { FlattenLayer } from './flatten.js';
import { ConcatLayer } from './concat.js';

export class SPPLayer extends Layer {
  private pyramidHeight = 1;
  private bottomShape: number[] = [];
  private reshapedOnce = false;
  private single: PoolingLayer | null = null;
  private split: SplitLayer | null = null;
  private splitTops: Blob[] = [];
  private pools: PoolingLayer[] = [];
  private poolTops: Blob[] = [];
  private flattens: FlattenLayer[] = [];
  private flatTops: Blob[] = [];
  private concat: ConcatLayer | null = null;

  override get type(): string {
    return 'SPP';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  private get sp(): Message {
    return this.param.spp_param ?? newMessage('SPPParameter');
  }

  private sub(suffix: string, type: string, extra: Record<string, unknown> = {}): Message {
    const p = fromObject('LayerParameter', { name: `${this.name}/${suffix}`, type, ...extra });
    p.phase = this.phase;
    return p;
  }

  private poolingParam(level: number, h: number, w: number): Message {
    const pool: number = this.sp.pool;
    this.check(pool === POOL_MAX || pool === POOL_AVE || pool === POOL_STOCHASTIC, () => `unknown pooling method ${pool}`);
    const bins = 2 ** level;
    const kernelH = Math.ceil(h / bins);
    const padH = Math.floor((kernelH * bins - h + 1) / 2);
    const kernelW = Math.ceil(w / bins);
    const padW = Math.floor((kernelW * bins - w + 1) / 2);
    return this.sub(`pool${level}`, 'Pooling', {
      pooling_param: {
        pool,
        kernel_h: kernelH,
        kernel_w: kernelW,
        pad_h: padH,
        pad_w: padW,
        stride_h: kernelH,
        stride_w: kernelW,
      },
    });
  }

  private checkBottom(b: Blob): void {
    this.check(b.numAxes === 4, () => `the bottom must be 4-D (num, channels, height, width), got ${b.shapeString()}`);
    this.check(b.shape[2] > 0 && b.shape[3] > 0, () => `the bottom ${b.shapeString()} has an empty spatial size`);
  }

  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    this.checkBottom(b);
    this.bottomShape = b.shape.slice();
    this.reshapedOnce = false;
    this.pyramidHeight = this.sp.pyramid_height;
    this.check(this.pyramidHeight >= 1, () => `pyramid_height must be at least 1, got ${this.pyramidHeight}`);
    const [, , h, w] = b.shape;
    // Caffe's Pooling refuses pad >= kernel, which every level with more bins than about twice
    // the input size has: find that level before making pyramid_height sub-layers (a hostile
    // pyramid_height of 2^31 would otherwise never finish).
    for (let l = 1; l < Math.min(this.pyramidHeight, 34); l++) {
      const pp = this.poolingParam(l, h, w).pooling_param;
      this.check(pp.pad_h < pp.kernel_h && pp.pad_w < pp.kernel_w, () =>
        `pyramid_height ${this.pyramidHeight} is too high for a ${h}x${w} input: level ${l} (${2 ** l} bins a side) needs padding ${pp.pad_h}x${pp.pad_w} for kernel ${pp.kernel_h}x${pp.kernel_w}, and Pooling needs padding < kernel`);
    }
    if (this.pyramidHeight === 1) {
      this.single = new PoolingLayer(this.poolingParam(0, h, w));
      this.single.setUp(bottom, top);
      return;
    }
    this.splitTops = Array.from({ length: this.pyramidHeight }, () => new Blob());
    this.split = new SplitLayer(this.sub('split', 'Split'));
    this.split.setUp(bottom, this.splitTops);
    this.pools = [];
    this.poolTops = [];
    this.flattens = [];
    this.flatTops = [];
    for (let l = 0; l < this.pyramidHeight; l++) {
      const pool = new PoolingLayer(this.poolingParam(l, h, w));
      const poolTop = new Blob();
      pool.setUp([this.splitTops[l]], [poolTop]);
      const flatten = new FlattenLayer(this.sub(`flatten${l}`, 'Flatten'));
      const flatTop = new Blob();
      flatten.setUp([poolTop], [flatTop]);
      this.pools.push(pool);
      this.poolTops.push(poolTop);
      this.flattens.push(flatten);
      this.flatTops.push(flatTop);
    }
    this.concat = new ConcatLayer(this.sub('concat', 'Concat'));
    this.concat.setUp(this.flatTops, top);
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    this.checkBottom(b);
    const same = b.shape.every((d, i) => d === this.bottomShape[i]);
    if (same && this.reshapedOnce) return;
    this.bottomShape = b.shape.slice();
    this.reshapedOnce = true;
    const [, , h, w] = b.shape;
    // Caffe's Pooling refuses pad >= kernel, which every level with more bins than about twice
    // the input size has: find that level before making pyramid_height sub-layers (a hostile
    // pyramid_height of 2^31 would otherwise never finish).
    for (let l = 1; l < Math.min(this.pyramidHeight, 34); l++) {
      const pp = this.poolingParam(l, h, w).pooling_param;
      this.check(pp.pad_h < pp.kernel_h && pp.pad_w < pp.kernel_w, () =>
        `pyramid_height ${this.pyramidHeight} is too high for a ${h}x${w} input: level ${l} (${2 ** l} bins a side) needs padding ${pp.pad_h}x${pp.pad_w} for kernel ${pp.kernel_h}x${pp.kernel_w}, and Pooling needs padding < kernel`);
    }
    if (this.pyramidHeight === 1) {
      this.single = new PoolingLayer(this.poolingParam(0, h, w));
      this.single.setUp(bottom, top);
      return;
    }
    this.split!.reshape(bottom, this.splitTops);
    for (let l = 0; l < this.pyramidHeight; l++) {
      this.pools[l] = new PoolingLayer(this.poolingParam(l, h, w));
      this.pools[l].setUp([this.splitTops[l]], [this.poolTops[l]]);
      this.flattens[l].reshape([this.poolTops[l]], [this.flatTops[l]]);
    }
    this.concat!.reshape(this.flatTops, top);
  }

  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    if (this.single) {
      this.single.forward(bottom, top);
      return;
    }
    this.split!.forward(bottom, this.splitTops);
    for (let l = 0; l < this.pyramidHeight; l++) {
      this.pools[l].forward([this.splitTops[l]], [this.poolTops[l]]);
      this.flattens[l].forward([this.poolTops[l]], [this.flatTops[l]]);
    }
    this.concat!.forward(this.flatTops, top);
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    if (this.single) {
      this.single.backward(top, propagateDown, bottom);
      return;
    }
    this.concat!.backward(top, this.flatTops.map(() => true), this.flatTops);
    for (let l = 0; l < this.pyramidHeight; l++) {
      this.flattens[l].backward([this.flatTops[l]], [true], [this.poolTops[l]]);
      this.pools[l].backward([this.poolTops[l]], [true], [this.splitTops[l]]);
    }
    this.split!.backward(this.splitTops, [true], bottom);
  }
}

registerLayer('SPP', SPPLayer);
