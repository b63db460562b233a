// Bias: top = bottom[0] + b, with b broadcast over the axes of bottom[0] outside
// [axis, axis + b.numAxes). b is a learned blob (bias_param: axis, num_axes, filler) or the second
// bottom, whose own shape then decides the axes. May run in place.
import { Blob } from '../graph/blob.js';
import { fillBlob } from '../graph/filler.js';
import type { Message } from '../proto/schema.js';
import { axisOf, Layer, paramOf } from './layer.js';
import { sumRange } from '../kernels/loops.js';
import { ROW_ADD, rowMap } from '../kernels/rows.js';
import { f32 } from './neuron.js';
import { registerLayer } from './registry.js';

/** The learned-blob shape for Scale/Bias: bottom's axes [axis, axis + numAxes), -1 = to the end. */
function broadcastBlobShape(layer: Layer, bottom: Blob, axisParam: number, numAxes: number, what: string): number[] {
  const axis = axisOf(layer, bottom, axisParam);
  layer.check(numAxes >= -1, () => `num_axes must be -1 (to the last axis) or non-negative, got ${numAxes}`);
  if (numAxes >= 0) {
    layer.check(bottom.numAxes >= axis + numAxes,
      () => `${what} of ${numAxes} axes starting at axis ${axis} extends past the ${bottom.numAxes}-D input ${bottom.shapeString()}`);
  }
  return bottom.shape.slice(axis, numAxes === -1 ? undefined : axis + numAxes);
}

/** outer/inner sizes for broadcasting `b` over `bottom` from `axisParam` (scalars use axis 0). */
function broadcastDims(layer: Layer, bottom: Blob, b: Blob, axisParam: number, what: string): { outer: number; dim: number; inner: number } {
  const axis = b.numAxes === 0 ? 0 : axisOf(layer, bottom, axisParam);
  layer.check(bottom.numAxes >= axis + b.numAxes,
    () => `${what} of shape ${b.shapeString()} applied from axis ${axis} extends past the input ${bottom.shapeString()}`);
  for (let i = 0; i < b.numAxes; i++) {
    layer.check(bottom.shape[axis + i] === b.shape[i],
      () => `${what} of shape ${b.shapeString()} does not match the input ${bottom.shapeString()} at axis ${axis + i}`);
  }
  return { outer: bottom.countRange(0, axis), dim: b.count, inner: bottom.countRange(axis + b.numAxes) };
}

/**
 * What Bias and Scale share: one or two bottoms, a blob broadcast over bottom[0] (a learned one
 * made from the layer's axis/num_axes/filler, or bottom[1]) and the outer x dim x inner split.
 */
export abstract class BroadcastLayer extends Layer {
  protected outer = 0;
  protected dim = 0;
  protected inner = 0;

  override minBottomBlobs(): number {
    return 1;
  }
  override maxBottomBlobs(): number {
    return 2;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  /** The broadcast blob: bottom[1] when given, else the learned one. */
  protected operand(bottom: Blob[]): Blob {
    return bottom.length > 1 ? bottom[1] : this.blobs[0];
  }

  /** With one bottom and no stored blob, creates the learned blob (`what`: "bias", "scale"). */
  protected setUpOperand(bottom: Blob[], p: Message, filler: Message | null, what: string): void {
    if (bottom.length === 1 && this.blobs.length === 0) {
      const shape = broadcastBlobShape(this, bottom[0], p.axis, p.num_axes, `the ${what}`);
      const b = new Blob();
      b.reshape(shape);
      fillBlob(b, filler);
      this.blobs = [b];
    }
  }

  /** Sets outer/dim/inner for broadcasting the operand over bottom[0]. */
  protected reshapeOperand(bottom: Blob[], axis: number, what: string): void {
    const b = this.operand(bottom);
    this.check(b !== undefined, `has no ${what} blob`);
    const d = broadcastDims(this, bottom[0], b, axis, `the ${what}`);
    this.outer = d.outer;
    this.dim = d.dim;
    this.inner = d.inner;
  }
}

export class BiasLayer extends BroadcastLayer {
  get type(): string {
    return 'Bias';
  }

  override layerSetUp(bottom: Blob[], _top: Blob[]): void {
    const p = paramOf(this.param, 'bias_param', 'BiasParameter');
    this.setUpOperand(bottom, p, p.filler, 'bias');
    for (let i = 0; i < this.blobs.length; i++) this.setParamPropagateDown(i, true);
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    this.reshapeOperand(bottom, paramOf(this.param, 'bias_param', 'BiasParameter').axis, 'bias');
    if (top[0] !== bottom[0]) top[0].reshapeLike(bottom[0]);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const b = this.operand(bottom).data;
    const x = bottom[0].data;
    const y = top[0].data;
    rowMap(ROW_ADD, x, y, this.outer * this.dim, this.inner, this.dim, null, b);
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const dy = top[0].diff;
    if (propagateDown[0] && bottom[0] !== top[0]) bottom[0].diff.set(dy);
    const isParam = bottom.length === 1;
    if (isParam ? !this.paramPropagateDown(0) : !propagateDown[1]) return;
    const db = (isParam ? this.blobs[0] : bottom[1]).diff;
    const inner = this.inner;
    const dim = this.dim;
    // The learned blob accumulates; a bias bottom is overwritten (then summed over `outer`).
    let accumulate = isParam;
    let k = 0;
    for (let n = 0; n < this.outer; n++) {
      for (let d = 0; d < dim; d++, k += inner) {
        const s = sumRange(dy, k, k + inner);
        db[d] = accumulate ? f32(db[d] + f32(s)) : f32(s);
      }
      accumulate = true;
    }
  }
}

registerLayer('Bias', BiasLayer);
