// InnerProduct (Caffe's InnerProductLayer): a fully connected layer. The bottom is viewed as
// M x K with M = product of the axes before inner_product_param.axis and K = the product from it
// on; top = M x num_output (shape: the leading axes, then num_output).
// Weights are N x K, or K x N with transpose: true; the bias has N values.
import type { Blob } from '../graph/blob.js';
import { gemm, gemv } from '../kernels/gemm.js';
import { FrozenWeights } from './frozen-weights.js';
import { addArrays } from '../kernels/loops.js';
import { newMessage, type Message } from '../proto/schema.js';
import { Scratch } from './base-conv.js';
import { axisOf, Layer } from './layer.js';
import { registerLayer } from './registry.js';

/** Stored InnerProduct/Embed blobs need only the right counts (2-D weight, 1-D bias or none). */
export function checkStoredCounts(layer: Layer, weightShape: number[], biasShape: number[] | null, where = ''): void {
  const [w, b] = layer.blobs;
  layer.check(w.count === weightShape[0] * weightShape[1],
    () => `weight blob ${w.shapeString()} does not match (${weightShape.join(',')})${where}`);
  if (biasShape) layer.check(b.count === biasShape[0], () => `bias blob ${b.shapeString()} does not hold ${biasShape[0]} values`);
}

/** Forward passes with at most this many rows take the weights as gemm's packed A (see forwardCpu). */
const SWAP_MAX_ROWS = 16;

export class InnerProductLayer extends Layer {
  private M = 0;
  private K = 0;
  private N = 0;
  private biasTerm = true;
  private transpose = false;
  private ones = new Scratch();
  private biasMultiplier: Float32Array = new Float32Array(0);
  private swapped = new Scratch();
  /** The weights' pack key while frozen (Net.freezeWeights), as Convolution's. */
  private readonly frozen = new FrozenWeights();

  override setWeightsFrozen(frozen: boolean): void {
    this.frozen.set(frozen);
  }

  get type(): string {
    return 'InnerProduct';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  private ip(): Message {
    return this.param.inner_product_param ?? newMessage('InnerProductParameter');
  }

  override layerSetUp(bottom: Blob[], _top: Blob[]): void {
    const p = this.ip();
    this.N = Number(p.num_output ?? 0);
    this.check(this.N > 0, `num_output must be positive, got ${this.N}`);
    this.biasTerm = p.bias_term ?? true;
    this.transpose = !!p.transpose;
    const axis = axisOf(this, bottom[0], p.axis ?? 1, 'inner_product_param.axis', 'bottom');
    this.K = bottom[0].countRange(axis);
    const weightShape = this.transpose ? [this.K, this.N] : [this.N, this.K];
    const biasShape = this.biasTerm ? [this.N] : null;
    this.setUpWeights(p, weightShape, biasShape,
      () => checkStoredCounts(this, weightShape, biasShape, ` for bottom ${bottom[0].shapeString()}`));
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    const axis = axisOf(this, bottom[0], this.ip().axis ?? 1, 'inner_product_param.axis', 'bottom');
    const k = bottom[0].countRange(axis);
    this.check(k === this.K,
      () => `input size incompatible with inner product parameters: bottom ${bottom[0].shapeString()} gives ${k} inputs from axis ${axis}, the weights expect ${this.K}`);
    this.M = bottom[0].countRange(0, axis);
    top[0].reshape([...bottom[0].shape.slice(0, axis), this.N]);
    if (this.biasTerm) {
      this.biasMultiplier = this.ones.get(this.M);
      this.biasMultiplier.fill(1);
    }
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const { M, N, K } = this;
    const key = this.frozen.key;
    if (key && M <= SWAP_MAX_ROWS) {
      // Few rows (a classifier at a small batch): the weights are the big operand, so they go in
      // as gemm's A, which it keeps packed while they are frozen, and the product is computed
      // transposed: top^T (N x M) = W (N x K) x bottom^T. Each element is the same dot product.
      const y = top[0].data;
      const t = M === 1 ? y : this.swapped.get(N * M);
      gemm(this.transpose, true, N, M, K, 1, this.blobs[0].data, bottom[0].data, 0, t, key);
      if (M > 1) for (let n = 0; n < N; n++) for (let m = 0; m < M; m++) y[m * N + n] = t[n * M + m];
    } else {
      gemm(false, !this.transpose, M, N, K, 1, bottom[0].data, this.blobs[0].data, 0, top[0].data);
    }
    if (this.biasTerm) {
      // Caffe's K = 1 GEMM (ones x bias) adds bias[n] to each row: f32(y + b) per element, as here.
      const y = top[0].data;
      const b = this.blobs[1].data;
      for (let m = 0; m < M; m++) addArrays(y.subarray(m * N, (m + 1) * N), b, y.subarray(m * N, (m + 1) * N), N);
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const { M, N, K } = this;
    const dy = top[0].diff;
    if (this.paramPropagateDown(0)) {
      // dW += dy^T x (N x K), or x^T dy (K x N) when transposed.
      if (this.transpose) gemm(true, false, K, N, M, 1, bottom[0].data, dy, 1, this.blobs[0].diff);
      else gemm(true, false, N, K, M, 1, dy, bottom[0].data, 1, this.blobs[0].diff);
    }
    if (this.biasTerm && this.paramPropagateDown(1)) {
      gemv(true, M, N, 1, dy, this.biasMultiplier, 1, this.blobs[1].diff);
    }
    if (propagateDown[0]) {
      gemm(false, this.transpose, M, K, N, 1, dy, this.blobs[0].data, 0, bottom[0].diff);
    }
  }
}

registerLayer('InnerProduct', InnerProductLayer);
