// Scale: top = bottom[0] * s (+ b), with s broadcast over the axes of bottom[0] outside
// [axis, axis + s.numAxes). s is a learned blob (scale_param: axis, num_axes, filler, default
// constant 1) or the second bottom, whose own shape then decides the axes. bias_term adds an
// inner Bias layer whose blob follows the scale's (bias_filler, default constant 0).
//
// Backward follows Caffe's ScaleLayer, including where it stores the element-wise product
// top_diff * bottom_data (bottom[0]'s diff when not in place) and when it overwrites rather than
// accumulates the scale diff (a scale as large as the input, or one spanning the leading axes).
import { Blob } from '../graph/blob.js';
import { has, newMessage } from '../proto/schema.js';
import { BiasLayer, BroadcastLayer } from './bias.js';
import { paramOf } from './layer.js';
import { f32 } from './neuron.js';
import { registerLayer } from './registry.js';

export class ScaleLayer extends BroadcastLayer {
  private biasLayer: BiasLayer | null = null;
  private biasParamId = -1;
  /** In place: the input, kept for the scale gradient. */
  private temp = new Float32Array(0);
  private sumResult = new Float32Array(0);

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
    if (bottom[0] === top[0]) {
      if (this.temp.length !== bottom[0].count) this.temp = new Float32Array(bottom[0].count);
    } else {
      top[0].reshapeLike(bottom[0]);
    }
    const sums = this.outer * this.dim;
    if (this.sumResult.length !== sums) this.sumResult = new Float32Array(sums);
    if (this.biasLayer) {
      this.biasLayer.blobs[0] = this.blobs[this.biasParamId];
      this.biasLayer.reshape([top[0]], top);
    }
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    if (bottom[0] === top[0]) this.temp.set(bottom[0].data);
    const x = bottom[0].data;
    const y = top[0].data;
    const s = this.operand(bottom).data;
    const inner = this.inner;
    let k = 0;
    for (let n = 0; n < this.outer; n++) {
      for (let d = 0; d < this.dim; d++) {
        const f = s[d];
        for (let j = 0; j < inner; j++, k++) y[k] = f * x[k];
      }
    }
    if (this.biasLayer) {
      this.biasLayer.blobs[0] = this.blobs[this.biasParamId];
      this.biasLayer.forward([top[0]], top);
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (this.biasLayer && this.paramPropagateDown(this.blobs.length - 1)) {
      this.biasLayer.blobs[0] = this.blobs[this.biasParamId];
      this.biasLayer.backward(top, [false], [top[0]]);
    }
    const isParam = bottom.length === 1;
    const scale = this.operand(bottom);
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
      for (let i = 0; i < top[0].count; i++) product[i] = dy[i] * x[i];
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
    if (propagateDown[0]) {
      const dy = top[0].diff;
      const dx = bottom[0].diff;
      const s = scale.data;
      let k = 0;
      for (let n = 0; n < outer; n++) {
        for (let d = 0; d < dim; d++) {
          const f = s[d];
          for (let j = 0; j < inner; j++, k++) dx[k] = f * dy[k];
        }
      }
    }
  }
}

registerLayer('Scale', ScaleLayer);
