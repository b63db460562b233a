// Scale: top = bottom[0] * s (+ b), with s broadcast over the axes of bottom[0] outside
// [axis, axis + s.numAxes). s is a learned blob (scale_param: axis, num_axes, filler, default
// constant 1) or the second bottom, whose own shape then decides the axes. bias_term adds an
// inner Bias layer whose blob follows the scale's (bias_filler, default constant 0).
//
// Backward follows Caffe's ScaleLayer, including where it stores the element-wise product
// top_diff * bottom_data (bottom[0]'s diff when not in place) and when it overwrites rather than
// accumulates the scale diff (a scale as large as the input, or one spanning the leading axes).
//
// Speed: with bias_term, forward computes f32(s * x) + b in one pass (Caffe's two layers, the
// same roundings), and backward makes one pass per (outer, dim) row for the bias sum, the scale
// sum and the bottom diff together, where Caffe makes four over the whole blob; both through
// the SIMD kernels of kernels/rows.ts (rowMap, scaleGradRows).
import { Blob } from '../graph/blob.js';
import { has, newMessage } from '../proto/schema.js';
import { BiasLayer, BroadcastLayer } from './bias.js';
import { paramOf } from './layer.js';
import { mulArrays } from '../kernels/loops.js';
import { ROW_MUL, ROW_MUL_ADD, rowMap, scaleGradRows } from '../kernels/rows.js';
import { f32 } from './neuron.js';
import { registerLayer } from './registry.js';

export class ScaleLayer extends BroadcastLayer {
  private biasLayer: BiasLayer | null = null;
  private biasParamId = -1;
  /** In place: the input, kept for the scale gradient. */
  private temp = new Float32Array(0);
  private sumResult = new Float32Array(0);
  /** Fused backward: per-row double sums of dy * x and of dy. */
  private gradSums = new Float64Array(0);
  private biasSums = new Float64Array(0);

  get type(): string {
    return 'Scale';
  }

  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    const p = paramOf(this.param, 'scale_param', 'ScaleParameter');
    let filler = p.filler;
    if (!has(p, 'filler')) {
      filler = newMessage('FillerParameter');
      filler.type = 'constant';
      filler.value = 1;
    }
    this.setUpOperand(bottom, p, filler, 'scale');
    if (p.bias_term) {
      const lp = newMessage('LayerParameter');
      lp.name = this.name;
      lp.type = 'Bias';
      lp.phase = this.phase;
      const bp = newMessage('BiasParameter');
      bp.axis = p.axis;
      bp.num_axes = bottom.length > 1 ? bottom[1].numAxes : p.num_axes;
      bp.filler = has(p, 'bias_filler') ? p.bias_filler : newMessage('FillerParameter');
      lp.bias_param = bp;
      const bias = new BiasLayer(lp);
      bias.setUp([bottom[0]], top);
      if (this.blobs.length + bottom.length < 3) {
        this.biasParamId = this.blobs.length;
        this.blobs.push(bias.blobs[0]);
      } else {
        // The bias came with the stored blobs.
        this.biasParamId = this.blobs.length - 1;
        bias.blobs[0] = this.blobs[this.biasParamId];
      }
      this.biasLayer = bias;
    }
    for (let i = 0; i < this.blobs.length; i++) this.setParamPropagateDown(i, true);
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    this.reshapeOperand(bottom, paramOf(this.param, 'scale_param', 'ScaleParameter').axis, 'scale');
    if (bottom[0] !== top[0]) top[0].reshapeLike(bottom[0]);
    const sums = this.outer * this.dim;
    if (this.sumResult.length !== sums) this.sumResult = new Float32Array(sums);
    if (this.biasLayer) {
      this.biasLayer.blobs[0] = this.blobs[this.biasParamId];
      this.biasLayer.reshape([top[0]], top);
    }
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    // In place, backward needs the input that forward overwrites: keep a copy, unless the net
    // will never run this layer's backward (inference).
    if (bottom[0] === top[0] && this.backwardPlanned) {
      if (this.temp.length !== bottom[0].count) this.temp = new Float32Array(bottom[0].count);
      this.temp.set(bottom[0].data);
    }
    const x = bottom[0].data;
    const y = top[0].data;
    const s = this.operand(bottom).data;
    const { outer, dim, inner } = this;
    const bias = this.biasLayer ? this.blobs[this.biasParamId].data : null;
    if (bias && bias.length !== dim) {
      // Not expected (the bias follows the scale's axes); Caffe's two steps then.
      this.scaleForward(x, y, s);
      this.biasLayer!.blobs[0] = this.blobs[this.biasParamId];
      this.biasLayer!.forward([top[0]], top);
      return;
    }
    if (!bias) {
      this.scaleForward(x, y, s);
      return;
    }
    rowMap(ROW_MUL_ADD, x, y, outer * dim, inner, dim, s, bias);
  }

  /** y = s * x, s broadcast over the outer and inner axes. */
  private scaleForward(x: Float32Array, y: Float32Array, s: Float32Array): void {
    rowMap(ROW_MUL, x, y, this.outer * this.dim, this.inner, this.dim, s, null);
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const scale = this.operand(bottom);
    const isParam = bottom.length === 1;
    const scaleGrad = isParam ? this.paramPropagateDown(0) : propagateDown[1];
    const biasGrad = this.biasLayer !== null && this.paramPropagateDown(this.blobs.length - 1);
    const bias = biasGrad ? this.blobs[this.biasParamId] : null;
    if (propagateDown[0] && scaleGrad && bottom[0].count !== scale.count && (!bias || bias.count === this.dim)) {
      this.fusedBackward(top[0], bottom[0], scale, isParam, bias);
      return;
    }
    if (this.biasLayer && this.paramPropagateDown(this.blobs.length - 1)) {
      this.biasLayer.blobs[0] = this.blobs[this.biasParamId];
      this.biasLayer.backward(top, [false], [top[0]]);
    }
    const outer = this.outer;
    const inner = this.inner;
    const dim = this.dim;
    if (isParam ? this.paramPropagateDown(0) : propagateDown[1]) {
      const dy = top[0].diff;
      const inPlace = bottom[0] === top[0];
      const x = inPlace ? this.temp : bottom[0].data;
      const sd = scale.diff;
      const eltwise = bottom[0].count === scale.count;
      const product = eltwise ? sd : inPlace ? this.temp : bottom[0].diff;
      mulArrays(dy, x, product, top[0].count);
      if (!eltwise) {
        let sums: Float32Array | null = null;
        if (inner === 1) {
          sums = product;
        } else if (outer * dim === 1) {
          let r = 0;
          for (let j = 0; j < inner; j++) r += product[j];
          sd[0] = isParam ? f32(sd[0] + f32(r)) : f32(r);
        } else {
          sums = outer === 1 ? sd : this.sumResult;
          for (let k = 0; k < outer * dim; k++) {
            let r = 0;
            const o = k * inner;
            for (let j = 0; j < inner; j++) r += product[o + j];
            sums[k] = r;
          }
        }
        if (outer !== 1 && sums) {
          for (let d = 0; d < dim; d++) {
            let r = 0;
            for (let n = 0; n < outer; n++) r += sums[n * dim + d];
            sd[d] = isParam ? f32(sd[d] + f32(r)) : f32(r);
          }
        }
      }
    }
    if (propagateDown[0]) this.scaleForward(top[0].diff, bottom[0].diff, scale.data);
  }

  /**
   * The whole backward in one pass per (n, d) row: the bias diff (accumulated, as the inner Bias
   * layer does), the row sums of top_diff * bottom_data (Caffe's product, here never stored) and
   * bottom_diff = s * top_diff; then the row sums become the scale diff exactly as in the
   * general path. Only when the bottom diff is wanted (Caffe leaves the product in it otherwise)
   * and the scale is smaller than the input.
   */
  private fusedBackward(top: Blob, bottom: Blob, scale: Blob, isParam: boolean, bias: Blob | null): void {
    const { outer, dim, inner } = this;
    const dy = top.diff;
    const dx = bottom.diff;
    const x = bottom === top ? this.temp : bottom.data;
    const s = scale.data;
    const sd = scale.diff;
    const db = bias ? bias.diff : null;
    // Where the row sums go: the scale diff itself when it spans the rows (outer == 1).
    const single = outer * dim === 1;
    const rows = inner === 1 || outer !== 1 ? this.sumResult : sd;
    const n = outer * dim;
    if (this.gradSums.length < n) {
      this.gradSums = new Float64Array(n);
      this.biasSums = new Float64Array(n);
    }
    const { gradSums, biasSums } = this;
    scaleGradRows(dy, x, dx, n, inner, dim, s, db ? biasSums : null, gradSums);
    for (let k = 0; k < n; k++) {
      if (db) db[k % dim] = f32(db[k % dim] + f32(biasSums[k]));
      const r = gradSums[k];
      if (single) sd[0] = isParam ? f32(sd[0] + f32(r)) : f32(r);
      else rows[k] = r;
    }
    if (outer !== 1 && !single) {
      for (let d = 0; d < dim; d++) {
        let r = 0;
        for (let n = 0; n < outer; n++) r += rows[n * dim + d];
        sd[d] = isParam ? f32(sd[d] + f32(r)) : f32(r);
      }
    }
  }
}

registerLayer('Scale', ScaleLayer);
