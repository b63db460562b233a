// Embed (Caffe's EmbedLayer): a lookup table. Every bottom value, truncated to an integer as
// Caffe's static_cast<int> does, is an index in [0, input_dim); the top has the bottom's shape plus a last axis of num_output holding that
// row of the input_dim x num_output weight matrix (plus the bias). No gradient flows to the
// indices; the weight gradient scatters the top diff back onto the looked-up rows.
import type { Blob } from '../graph/blob.js';
import { gemm, gemv } from '../kernels/gemm.js';
import { newMessage, type Message } from '../proto/schema.js';
import { Scratch } from './base-conv.js';
import { checkStoredCounts } from './inner-product.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class EmbedLayer extends Layer {
  private M = 0;
  private K = 0;
  private N = 0;
  private biasTerm = true;
  private ones = new Scratch();
  private biasMultiplier: Float32Array = new Float32Array(0);

  get type(): string {
    return 'Embed';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }
  override allowForceBackward(_bottomIndex: number): boolean {
    return false;
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    const p: Message = this.param.embed_param ?? newMessage('EmbedParameter');
    this.N = Number(p.num_output ?? 0);
    this.check(this.N > 0, `embed_param.num_output must be positive, got ${this.N}`);
    this.K = Number(p.input_dim ?? 0);
    this.check(this.K > 0, `embed_param.input_dim must be positive, got ${this.K}`);
    this.biasTerm = p.bias_term ?? true;
    const weightShape = [this.K, this.N];
    const biasShape = this.biasTerm ? [this.N] : null;
    this.setUpWeights(p, weightShape, biasShape, () => checkStoredCounts(this, weightShape, biasShape));
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    this.M = bottom[0].count;
    top[0].reshape([...bottom[0].shape, this.N]);
    if (this.biasTerm) {
      this.biasMultiplier = this.ones.get(this.M);
      this.biasMultiplier.fill(1);
    }
  }

  /**
   * The row index for bottom element i: static_cast<int> of the value as in Caffe (truncation
   * toward zero; Caffe's non-integer DCHECK is compiled out of release builds). An index outside
   * [0, input_dim), where Caffe would read out of bounds, is an error.
   */
  private index(bottom: Blob, i: number): number {
    const x = bottom.data[i];
    const v = Math.trunc(x);
    if (!(v >= 0 && v < this.K)) {
      throw this.error(`bottom ${bottom.shapeString()} element ${i} is ${x}: indices (truncated to integers) must be in [0, ${this.K}) (input_dim ${this.K})`);
    }
    return v | 0;
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const { M, N } = this;
    const w = this.blobs[0].data;
    const y = top[0].data;
    for (let n = 0; n < M; n++) {
      const row = this.index(bottom[0], n);
      y.set(w.subarray(row * N, (row + 1) * N), n * N);
    }
    if (this.biasTerm) gemm(false, false, M, N, 1, 1, this.biasMultiplier, this.blobs[1].data, 1, y);
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    this.check(!propagateDown[0], `cannot backpropagate to the indices (bottom ${bottom[0].shapeString()})`);
    const { M, N } = this;
    const dy = top[0].diff;
    if (this.paramPropagateDown(0)) {
      const dw = this.blobs[0].diff;
      for (let n = 0; n < M; n++) {
        const o = this.index(bottom[0], n) * N;
        const s = n * N;
        for (let d = 0; d < N; d++) dw[o + d] += dy[s + d];
      }
    }
    if (this.biasTerm && this.paramPropagateDown(1)) {
      gemv(true, M, N, 1, dy, this.biasMultiplier, 1, this.blobs[1].diff);
    }
  }
}

registerLayer('Embed', EmbedLayer);
