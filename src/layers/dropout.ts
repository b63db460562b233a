// Dropout: in TRAIN, keeps each element with probability 1 - dropout_ratio and scales the kept
// ones by 1 / (1 - ratio) (Caffe's scale_); in TEST, passes the input through. The mask comes
// from the process-wide generator (Caffe's rng stream, seeded by random_seed), or from `this.rng`
// when one is set (tests reseed it to get the same mask on every pass), drawn in one call
// (Rng.fillBernoulliBytes: the same draws as per-element bernoulli, through the SIMD module).
import type { Blob } from '../graph/blob.js';
import { globalRng, type Rng } from '../kernels/rng.js';
import { paramOf, TRAIN } from './layer.js';
import { NeuronLayer, f32 } from './neuron.js';
import { registerLayer } from './registry.js';

export class DropoutLayer extends NeuronLayer {
  private ratio = 0.5;
  private scale = 2;
  /** Scale at train time (Caffe's default) rather than at test time; forks' scale_train. */
  private scaleTrain = true;
  private mask = new Uint8Array(0);
  /** The generator for the mask; null = the process-wide one. */
  rng: Rng | null = null;

  get type(): string {
    return 'Dropout';
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    const p = paramOf(this.param, 'dropout_param', 'DropoutParameter');
    const ratio: number = p.dropout_ratio;
    this.check(ratio >= 0 && ratio <= 1, () => `dropout_ratio must lie in [0, 1], got ${ratio}`);
    this.ratio = ratio;
    this.scale = f32(1 / (1 - ratio));
    this.scaleTrain = p.scale_train ?? true;
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    super.reshape(bottom, top);
    if (this.mask.length !== bottom[0].count) this.mask = new Uint8Array(bottom[0].count);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    if (this.phase === TRAIN) {
      const keep = 1 - this.ratio;
      const rng = this.rng ?? globalRng();
      const m = this.mask;
      const s = this.scaleTrain ? this.scale : 1;
      rng.fillBernoulliBytes(m, x.length, keep);
      const f = maskFactors(s);
      for (let i = 0; i < x.length; i++) y[i] = x[i] * f[m[i]];
    } else {
      if (y !== x) y.set(x);
      if (!this.scaleTrain) {
        const f = f32(1 / this.scale);
        for (let i = 0; i < y.length; i++) y[i] *= f;
      }
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const dy = top[0].diff;
    const dx = bottom[0].diff;
    if (this.phase === TRAIN) {
      const m = this.mask;
      const s = this.scaleTrain ? this.scale : 1;
      const f = maskFactors(s);
      for (let i = 0; i < dy.length; i++) dx[i] = dy[i] * f[m[i]];
    } else {
      if (dx !== dy) dx.set(dy);
      if (!this.scaleTrain) {
        const f = f32(1 / this.scale);
        for (let i = 0; i < dx.length; i++) dx[i] *= f;
      }
    }
  }
}

/**
 * The factor for mask value 0 and 1: x * f[m] is x * s, or x * (0 * s), which equals Caffe's
 * x * 0 * s for every x and s > 0 (a signed zero, or NaN when x or s is infinite or x is NaN).
 * A lookup, not a branch that mispredicts on every other element (nor m * s, which V8 compiles
 * 3x slower).
 */
function maskFactors(s: number): Float64Array {
  return Float64Array.of(0 * s, s);
}

registerLayer('Dropout', DropoutLayer);
