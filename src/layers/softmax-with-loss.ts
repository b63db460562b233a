// SoftmaxWithLoss: softmax over `softmax_param.axis` followed by the multinomial logistic loss of
// the integer labels, as Caffe's SoftmaxWithLossLayer.
//
// bottom[0] predictions (outer x C x inner), bottom[1] labels (outer * inner values in [0, C)).
// top[0] the scalar loss; optional top[1] the softmax probabilities.
// loss = -sum log(max(p[label], FLT_MIN)) / normalizer, normalizer from loss_param.normalization
// (or the legacy `normalize` bool), positions whose label equals ignore_label skipped.
//
// This file also holds the helpers shared by the loss layers of this group (normalization modes,
// label reading) and SoftmaxLossBase, the part InfogainLoss shares.
import { Blob } from '../graph/blob.js';
import { softmaxForward } from '../kernels/softmax.js';
import { axisOf, has, Layer, LossLayer, paramOf } from './layer.js';
import { registerLayer } from './registry.js';

/** LossParameter.NormalizationMode values (caffe.proto). */
export const FULL = 0;
export const VALID = 1;
export const BATCH_SIZE = 2;
export const NONE = 3;

/** Smallest positive normal float32 (C's FLT_MIN). */
export const FLT_MIN = 1.1754943508222875e-38;
/** Caffe's kLOG_THRESHOLD (a float constant). */
export const LOG_THRESHOLD = Math.fround(1e-20);

/**
 * The normalization mode of a loss layer: an explicit `normalization` wins; otherwise the legacy
 * `normalize` bool maps true -> VALID, false -> BATCH_SIZE; otherwise `fallback`.
 */
export function normalizationMode(layer: Layer, fallback: number): number {
  const lp = paramOf(layer.param, 'loss_param', 'LossParameter');
  let mode: number;
  if (has(lp, 'normalization')) mode = lp.normalization;
  else if (has(lp, 'normalize')) mode = lp.normalize ? VALID : BATCH_SIZE;
  else mode = fallback;
  if (mode !== FULL && mode !== VALID && mode !== BATCH_SIZE && mode !== NONE) {
    throw layer.error(`unknown loss_param.normalization mode ${mode}`);
  }
  return mode;
}

/**
 * Caffe's get_normalizer: FULL = outer*inner, VALID = the number of counted (non-ignored)
 * positions (outer*inner when validCount is -1), BATCH_SIZE = outer, NONE = 1; never below 1.
 */
export function getNormalizer(mode: number, outer: number, inner: number, validCount: number): number {
  let n: number;
  switch (mode) {
    case FULL:
      n = outer * inner;
      break;
    case VALID:
      n = validCount === -1 ? outer * inner : validCount;
      break;
    case BATCH_SIZE:
      n = outer;
      break;
    default:
      n = 1;
  }
  return Math.max(1, n);
}

/** ignore_label from loss_param, or null when unset. */
export function ignoreLabelOf(layer: Layer): number | null {
  const lp = paramOf(layer.param, 'loss_param', 'LossParameter');
  return has(lp, 'ignore_label') ? lp.ignore_label : null;
}

/**
 * Reads one label as Caffe does: static_cast<int> (truncation toward zero, so 1.7 is class 1 and
 * -0.5 is class 0), then -1 for the ignore label, else the class index. A value outside
 * [0, channels) (or NaN), where Caffe would read out of bounds, is an error.
 */
export function readLabel(layer: Layer, value: number, channels: number, ignore: number | null, where: number): number {
  const v = Math.trunc(value);
  if (ignore !== null && v === ignore) return -1;
  if (!(v >= 0 && v < channels)) {
    throw layer.error(`label ${value} at position ${where} is out of range: its integer part must be in [0, ${channels})` +
      (ignore !== null ? ` or be the ignore_label ${ignore}` : ''));
  }
  return v | 0;
}

/**
 * What SoftmaxWithLoss and InfogainLoss share: a softmax along an axis into `prob`, one integer
 * label per (outer, inner) position with ignore_label skipped, the normalizer, and the optional
 * probability top.
 */
export abstract class SoftmaxLossBase extends LossLayer {
  protected prob = new Blob();
  protected axis = 1;
  protected outer = 0;
  protected inner = 0;
  protected ignoreLabel: number | null = null;
  protected normalization = VALID;

  override exactNumTopBlobs(): number {
    return -1;
  }
  override minTopBlobs(): number {
    return 1;
  }
  override maxTopBlobs(): number {
    return 2;
  }

  /** The softmax axis: its value, its field's name, and what the label-count error calls it. */
  protected abstract softmaxAxis(): [axis: number, field: string, word: string];

  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    super.layerSetUp(bottom, top);
    this.ignoreLabel = ignoreLabelOf(this);
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    super.reshape(bottom, top);
    const [axis, field, word] = this.softmaxAxis();
    this.axis = axisOf(this, bottom[0], axis, field);
    this.prob.reshapeLike(bottom[0]);
    this.outer = bottom[0].countRange(0, this.axis);
    this.inner = bottom[0].countRange(this.axis + 1);
    this.check(this.outer * this.inner === bottom[1].count,
      () => `the number of labels (${bottom[1].count}, shape ${bottom[1].shapeString()}) must equal the number of ` +
        `predictions ${this.outer * this.inner}: for predictions ${bottom[0].shapeString()} with ${word} ` +
        `${this.axis}, labels hold one integer in [0, ${bottom[0].shape[this.axis]}) per position`);
    if (top.length >= 2) top[1].reshapeLike(bottom[0]);
  }

  /** prob = softmax(bottom[0]); returns the number of channels. */
  protected softmax(bottom: Blob[]): number {
    const channels = bottom[0].shape[this.axis];
    softmaxForward(bottom[0].data, this.prob.data, this.outer, channels, this.inner);
    return channels;
  }

  /**
   * Calls `fn(l, base)` for every position whose label l is not ignore_label (channel k of the
   * position is at base + k * inner) and returns how many; with `zero`, clears the channels of
   * the ignored positions in it.
   */
  protected forEachLabel(label: Float32Array, channels: number, fn: (l: number, base: number) => void, zero?: Float32Array): number {
    const inner = this.inner;
    const dim = channels * inner;
    let count = 0;
    for (let i = 0; i < this.outer; i++) {
      for (let j = 0; j < inner; j++) {
        const at = i * inner + j;
        const l = readLabel(this, label[at], channels, this.ignoreLabel, at);
        const base = i * dim + j;
        if (l < 0) {
          if (zero) for (let k = 0; k < channels; k++) zero[base + k * inner] = 0;
        } else {
          fn(l, base);
          count++;
        }
      }
    }
    return count;
  }

  /** Writes the normalized loss, and the probabilities to the optional second top. */
  protected setTops(top: Blob[], loss: number, count: number): void {
    top[0].data[0] = loss / getNormalizer(this.normalization, this.outer, this.inner, count);
    if (top.length === 2) top[1].data.set(this.prob.data);
  }

  /** Scales the bottom gradient by the top diff over the normalizer. */
  protected scaleDiff(top: Blob[], diff: Float32Array, count: number): void {
    const scale = top[0].diff[0] / getNormalizer(this.normalization, this.outer, this.inner, count);
    for (let k = 0; k < diff.length; k++) diff[k] *= scale;
  }
}

export class SoftmaxWithLossLayer extends SoftmaxLossBase {
  get type(): string {
    return 'SoftmaxWithLoss';
  }

  protected softmaxAxis(): [number, string, string] {
    return [paramOf(this.param, 'softmax_param', 'SoftmaxParameter').axis, 'softmax_param.axis', 'softmax axis'];
  }

  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    super.layerSetUp(bottom, top);
    this.normalization = normalizationMode(this, VALID);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const channels = this.softmax(bottom);
    const prob = this.prob.data;
    const inner = this.inner;
    let loss = 0;
    const count = this.forEachLabel(bottom[1].data, channels, (l, base) => {
      loss -= Math.log(Math.max(prob[base + l * inner], FLT_MIN));
    });
    this.setTops(top, loss, count);
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (propagateDown[1]) throw this.error('cannot backpropagate to the label input (bottom 1)');
    if (!propagateDown[0]) return;
    const channels = bottom[0].shape[this.axis];
    const diff = bottom[0].diff;
    const inner = this.inner;
    diff.set(this.prob.data);
    const count = this.forEachLabel(bottom[1].data, channels, (l, base) => {
      diff[base + l * inner] -= 1;
    }, diff);
    this.scaleDiff(top, diff, count);
  }
}

registerLayer('SoftmaxWithLoss', SoftmaxWithLossLayer);
