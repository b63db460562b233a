// LSTMUnit: one time step of the LSTM non-linearity (Caffe's LSTMUnitLayer), used by the LSTM
// layer's unrolled net.
//
// Bottoms: c_prev (1 x N x D), the gate pre-activations x (1 x N x 4D, laid out [i', f', o', g']
// per stream) and the continuation indicators cont (1 x N). Tops: c and h (both 1 x N x D):
//   i = sigmoid(i'), f = cont * sigmoid(f') (exactly 0 when cont is 0), o = sigmoid(o'),
//   g = tanh(g'), c = f * c_prev + i * g, h = o * tanh(c).
// No gradient flows into cont (Caffe rejects the request); the gradient of f' is Caffe's
// f * (1 - f) times the cell term, which is exact for the usual 0/1 indicators.
import type { Blob } from '../graph/blob.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** tanh through the sigmoid, as Caffe's LSTMUnit computes it. */
function tanhViaSigmoid(x: number): number {
  return 2 * sigmoid(2 * x) - 1;
}

/**
 * The gate activations of element d of a stream whose pre-activations start at x[xo], cont k
 * (backward recomputes them, as Caffe's CPU code does).
 */
function gates(x: Float32Array, xo: number, D: number, d: number, k: number): { i: number; f: number; o: number; g: number } {
  return {
    i: sigmoid(x[xo + d]),
    f: k === 0 ? 0 : k * sigmoid(x[xo + D + d]),
    o: sigmoid(x[xo + 2 * D + d]),
    g: tanhViaSigmoid(x[xo + 3 * D + d]),
  };
}

export class LSTMUnitLayer extends Layer {
  private hiddenDim = 0;

  override get type(): string {
    return 'LSTMUnit';
  }
  override exactNumBottomBlobs(): number {
    return 3;
  }
  override exactNumTopBlobs(): number {
    return 2;
  }
  override allowForceBackward(bottomIndex: number): boolean {
    // The continuation indicators take no gradient.
    return bottomIndex !== 2;
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const num = bottom[0].numAxes >= 2 ? bottom[0].shape[1] : -1;
    const names = ['c_prev', 'x', 'cont'];
    bottom.forEach((b, i) => {
      const axes = i === 2 ? 2 : 3;
      this.check(b.numAxes === axes, () => `bottom[${i}] (${names[i]}) must have ${axes} axes, got ${b.shapeString()}`);
      this.check(b.shape[0] === 1, () => `bottom[${i}] (${names[i]}) must hold a single time step (first axis 1), got ${b.shapeString()}`);
      this.check(b.shape[1] === num,
        () => `bottom[${i}] (${names[i]}) must have ${num} streams along axis 1 (as c_prev ${bottom[0].shapeString()}), got ${b.shapeString()}`);
    });
    this.hiddenDim = bottom[0].shape[2];
    this.check(bottom[1].shape[2] === 4 * this.hiddenDim,
      () => `bottom[1] (x) must hold 4 * ${this.hiddenDim} = ${4 * this.hiddenDim} gate inputs per stream, got ${bottom[1].shapeString()}`);
    top[0].reshapeLike(bottom[0]);
    top[1].reshapeLike(bottom[0]);
  }

  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    const D = this.hiddenDim;
    const num = bottom[0].shape[1];
    const cPrev = bottom[0].data;
    const x = bottom[1].data;
    const cont = bottom[2].data;
    const c = top[0].data;
    const h = top[1].data;
    for (let n = 0; n < num; n++) {
      const xo = n * 4 * D;
      const so = n * D;
      const k = cont[n];
      for (let d = 0; d < D; d++) {
        const { i, f, o, g } = gates(x, xo, D, d, k);
        const cv = f * cPrev[so + d] + i * g;
        c[so + d] = cv;
        h[so + d] = o * tanhViaSigmoid(Math.fround(cv));
      }
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (propagateDown[2]) throw this.error('cannot backpropagate to the sequence continuation indicators (bottom[2])');
    if (!propagateDown[0] && !propagateDown[1]) return;
    const D = this.hiddenDim;
    const num = bottom[0].shape[1];
    const cPrev = bottom[0].data;
    const x = bottom[1].data;
    const cont = bottom[2].data;
    const c = top[0].data;
    const cDiff = top[0].diff;
    const hDiff = top[1].diff;
    // As Caffe: once either input needs a gradient, both diffs are written.
    const cPrevDiff = bottom[0].diff;
    const xDiff = bottom[1].diff;
    for (let n = 0; n < num; n++) {
      const xo = n * 4 * D;
      const so = n * D;
      const k = cont[n];
      for (let d = 0; d < D; d++) {
        const { i, f, o, g } = gates(x, xo, D, d, k);
        const cp = cPrev[so + d];
        const tanhC = tanhViaSigmoid(c[so + d]);
        const cTerm = cDiff[so + d] + hDiff[so + d] * o * (1 - tanhC * tanhC);
        cPrevDiff[so + d] = cTerm * f;
        xDiff[xo + d] = cTerm * g * i * (1 - i);
        xDiff[xo + D + d] = cTerm * cp * f * (1 - f);
        xDiff[xo + 2 * D + d] = hDiff[so + d] * tanhC * o * (1 - o);
        xDiff[xo + 3 * D + d] = cTerm * i * (1 - g * g);
      }
    }
  }
}

registerLayer('LSTMUnit', LSTMUnitLayer);
