// Layer: the base of every layer type, with Caffe's life cycle:
//   constructor(param)  -> parameter blobs from param.blobs if present
//   setUp(bottom, top)  -> checkBlobCounts, layerSetUp, reshape, setLossWeights
//   forward(bottom,top) -> reshape, forwardCpu, loss = sum(top.data * top.diff) over loss tops
//   backward(top, propagateDown, bottom) -> backwardCpu
// Subclasses override layerSetUp/reshape/forwardCpu/backwardCpu and the blob-count hints.
// Like Caffe, backwardCpu writes bottom diffs (overwrite) and *accumulates* parameter diffs.
import { Blob } from '../graph/blob.js';
import { deferFill, fillerFor } from '../graph/filler.js';
import { CaffeError, LayerError } from '../util/errors.js';
import { has, newMessage, type Message } from '../proto/schema.js';

export const TRAIN = 0;
export const TEST = 1;
export type Phase = typeof TRAIN | typeof TEST;

export abstract class Layer {
  /** Learnable (or stored) parameter blobs, in Caffe's order. */
  blobs: Blob[] = [];
  readonly phase: Phase;
  /** Per-top loss weights; 0 for tops that are not losses. */
  protected lossWeights: number[] = [];
  private paramPropagate: boolean[] = [];
  /**
   * False once a Net has decided it will never run this layer's backward (Caffe's
   * layer_need_backward_): forward may then skip saving what only backward reads.
   */
  backwardPlanned = true;

  /**
   * Net.freezeWeights(): the caller promises the parameters stay as they are until thawed (false),
   * so a layer may keep derived copies of them (Convolution: its weights packed for the GEMM
   * kernel). Called again with true after the parameters changed (new copies). No-op by default.
   */
  setWeightsFrozen(_frozen: boolean): void {}

  constructor(readonly param: Message) {
    this.phase = param.phase as Phase;
    const stored: Message[] = param.blobs ?? [];
    if (stored.length > 0) {
      this.blobs = stored.map((b, i) => {
        try {
          const blob = new Blob(Blob.shapeFromProto(b));
          copyProtoData(b, blob);
          return blob;
        } catch (e) {
          // A declared shape too large to allocate, or data that does not fit it: name the layer.
          throw new LayerError(param.name, param.type, `stored blob ${i}: ${(e as Error).message}`);
        }
      });
    }
  }

  /** Caffe's type string, e.g. "Convolution". */
  abstract get type(): string;

  get name(): string {
    return this.param.name;
  }

  // Blob-count hints, as Caffe's Exact/Min/MaxNum*Blobs (-1 = no constraint).
  exactNumBottomBlobs(): number {
    return -1;
  }
  minBottomBlobs(): number {
    return -1;
  }
  maxBottomBlobs(): number {
    return -1;
  }
  exactNumTopBlobs(): number {
    return -1;
  }
  minTopBlobs(): number {
    return -1;
  }
  maxTopBlobs(): number {
    return -1;
  }
  /**
   * Whether this layer's forward makes its top the bottom's data (Caffe's ShareData in Forward,
   * as Flatten does): the inference memory plan then keeps the two in one store, since at plan
   * time they need not share yet.
   */
  sharesDataInForward(): boolean {
    return false;
  }

  /**
   * Whether the top is the bottoms one after another, each a contiguous run of it (Concat with
   * nothing before its axis but one index), at its current shape: the inference memory plan may
   * then place the bottoms' storage inside the top's, and the forward must leave a bottom that
   * already lies in its place alone.
   */
  bottomsAreSlicesOfTop(): boolean {
    return false;
  }

  equalNumBottomTopBlobs(): boolean {
    return false;
  }
  /** When true, the Net creates anonymous tops up to Min/ExactNumTopBlobs. */
  autoTopBlobs(): boolean {
    return false;
  }
  /** Whether force_backward may request a gradient for this bottom. */
  allowForceBackward(_bottomIndex: number): boolean {
    return true;
  }

  paramPropagateDown(i: number): boolean {
    return i < this.paramPropagate.length ? this.paramPropagate[i] : false;
  }
  setParamPropagateDown(i: number, value: boolean): void {
    while (this.paramPropagate.length <= i) this.paramPropagate.push(true);
    this.paramPropagate[i] = value;
  }

  loss(topIndex: number): number {
    return topIndex < this.lossWeights.length ? this.lossWeights[topIndex] : 0;
  }
  setLoss(topIndex: number, value: number): void {
    while (this.lossWeights.length <= topIndex) this.lossWeights.push(0);
    this.lossWeights[topIndex] = value;
  }

  /** A LayerError naming this layer; use for every rejected parameter or shape. */
  error(detail: string): LayerError {
    return new LayerError(this.name, this.type, detail);
  }
  check(cond: unknown, detail: string | (() => string)): asserts cond {
    if (!cond) throw this.error(typeof detail === 'string' ? detail : detail());
  }

  setUp(bottom: Blob[], top: Blob[]): void {
    this.checkBlobCounts(bottom, top);
    this.layerSetUp(bottom, top);
    this.reshape(bottom, top);
    this.setLossWeights(top);
  }

  /** One-time setup (read params, create parameter blobs). */
  layerSetUp(_bottom: Blob[], _top: Blob[]): void {}
  /** Sizes tops (and buffers) from bottom shapes; called before every forward. */
  abstract reshape(bottom: Blob[], top: Blob[]): void;
  protected abstract forwardCpu(bottom: Blob[], top: Blob[]): void;
  protected backwardCpu(_top: Blob[], propagateDown: boolean[], _bottom: Blob[]): void {
    if (propagateDown.some((p) => p)) throw this.error('backward is not implemented for this layer');
  }

  forward(bottom: Blob[], top: Blob[]): number {
    this.reshape(bottom, top);
    this.forwardCpu(bottom, top);
    let loss = 0;
    for (let t = 0; t < top.length; t++) {
      if (!this.loss(t)) continue;
      const d = top[t].data;
      const w = top[t].diff;
      let s = 0;
      for (let i = 0; i < d.length; i++) s += d[i] * w[i];
      loss += s;
    }
    return loss;
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    this.backwardCpu(top, propagateDown, bottom);
  }

  protected checkBlobCounts(bottom: Blob[], top: Blob[]): void {
    const say = (what: string, want: string, got: number) =>
      this.error(`takes ${want} ${what} blob(s), got ${got}`);
    if (this.exactNumBottomBlobs() >= 0 && bottom.length !== this.exactNumBottomBlobs())
      throw say('bottom', `exactly ${this.exactNumBottomBlobs()}`, bottom.length);
    if (this.minBottomBlobs() >= 0 && bottom.length < this.minBottomBlobs())
      throw say('bottom', `at least ${this.minBottomBlobs()}`, bottom.length);
    if (this.maxBottomBlobs() >= 0 && bottom.length > this.maxBottomBlobs())
      throw say('bottom', `at most ${this.maxBottomBlobs()}`, bottom.length);
    if (this.exactNumTopBlobs() >= 0 && top.length !== this.exactNumTopBlobs())
      throw say('top', `exactly ${this.exactNumTopBlobs()}`, top.length);
    if (this.minTopBlobs() >= 0 && top.length < this.minTopBlobs())
      throw say('top', `at least ${this.minTopBlobs()}`, top.length);
    if (this.maxTopBlobs() >= 0 && top.length > this.maxTopBlobs())
      throw say('top', `at most ${this.maxTopBlobs()}`, top.length);
    if (this.equalNumBottomTopBlobs() && bottom.length !== top.length)
      throw this.error(`needs as many tops as bottoms, got ${bottom.length} bottom(s) and ${top.length} top(s)`);
  }

  /** Sets loss weights from param.loss_weight and writes them into the top diffs (Caffe). */
  protected setLossWeights(top: Blob[]): void {
    const lw: ArrayLike<number> = this.param.loss_weight ?? [];
    if (lw.length === 0) return;
    if (lw.length !== top.length)
      throw this.error(`loss_weight has ${lw.length} value(s) but the layer has ${top.length} top(s)`);
    for (let t = 0; t < top.length; t++) {
      if (lw[t] === 0) continue;
      this.setLoss(t, lw[t]);
      top[t].diff.fill(lw[t]);
    }
  }

  /** fillBlob, its errors naming this layer and the filler field `what`. */
  protected fillParam(blob: Blob, filler: Message | null | undefined, what: string): void {
    let run: () => void;
    try {
      run = fillerFor(blob, filler);
    } catch (e) {
      if (e instanceof CaffeError) throw this.error(`${what}: ${e.message}`);
      throw e;
    }
    if (!deferFill(blob, run)) run();
  }

  /**
   * A weight blob and, when `biasShape` is given, a bias: stored blobs (param.blobs) must be that
   * many and pass `checkStored`; else both are created and filled from p.weight_filler and
   * p.bias_filler. Every parameter then propagates down.
   */
  protected setUpWeights(p: Message, weightShape: number[], biasShape: number[] | null, checkStored: () => void): void {
    if (this.blobs.length > 0) {
      const want = biasShape ? 2 : 1;
      this.check(this.blobs.length === want, `incorrect number of weight blobs: expected ${want}, got ${this.blobs.length}`);
      checkStored();
    } else {
      const w = new Blob(weightShape);
      this.fillParam(w, p.weight_filler, 'weight_filler');
      this.blobs = [w];
      if (biasShape) {
        const b = new Blob(biasShape);
        this.fillParam(b, p.bias_filler, 'bias_filler');
        this.blobs.push(b);
      }
    }
    for (let i = 0; i < this.blobs.length; i++) this.setParamPropagateDown(i, true);
  }

  /** Parameter blobs as BlobProto messages (Caffe's ToProto). */
  blobsToProto(writeDiff = false): Message[] {
    return this.blobs.map((b) => blobToProto(b, writeDiff));
  }
}

/** Base for loss layers: two bottoms by default, a scalar top, loss_weight 1 unless set. */
export abstract class LossLayer extends Layer {
  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    // Loss layers weigh their first top by 1 unless the prototxt says otherwise.
    const lw: ArrayLike<number> = this.param.loss_weight ?? [];
    if (lw.length === 0) this.param.loss_weight = Float32Array.of(1);
  }
  override exactNumBottomBlobs(): number {
    return 2;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }
  override autoTopBlobs(): boolean {
    return true;
  }
  override allowForceBackward(bottomIndex: number): boolean {
    // Labels get no gradient.
    return bottomIndex !== 1;
  }
  override reshape(bottom: Blob[], top: Blob[]): void {
    this.check(bottom[0].shape[0] === bottom[1].shape[0],
      () => `the data and label should have the same first dimension: ${bottom[0].shapeString()} vs ${bottom[1].shapeString()}`);
    top[0].reshape([]);
  }
}

/** A sub-message of a layer's parameter, or a fresh one holding the schema's defaults. */
export function paramOf(param: Message, field: string, typeName: string): Message {
  return param[field] ?? newMessage(typeName);
}

/** Caffe's CanonicalAxisIndex, failing with a LayerError that names `blob` (the layer's `noun`). */
export function axisOf(layer: Layer, blob: Blob, axis: number, what = 'axis', noun = 'input'): number {
  const n = blob.numAxes;
  if (axis < -n || axis >= n) throw layer.error(`${what} ${axis} is out of range for the ${n}-D ${noun} ${blob.shapeString()}`);
  return axis < 0 ? axis + n : axis;
}

/** Copies BlobProto data (float or double) into a blob of the same count. */
/**
 * Copies a BlobProto's data (or diff) into blob; returns false when the proto holds none. With
 * `adopt`, a float32 array of the right size becomes the blob's data without a copy when the
 * blob has not allocated its data yet (the proto must then be the caller's to give away).
 */
export function copyProtoData(proto: Message, blob: Blob, diff = false, adopt = false): boolean {
  const f: ArrayLike<number> | undefined = diff ? proto.diff : proto.data;
  const d: ArrayLike<number> | undefined = diff ? proto.double_diff : proto.double_data;
  const src = d && d.length > 0 ? d : f;
  if (!src || src.length === 0) return false;
  if (adopt && !diff && src instanceof Float32Array && blob.adoptData(src)) return true;
  const dst = diff ? blob.diff : blob.data;
  if (src.length !== dst.length) throw new CaffeError(`stored blob holds ${src.length} values, shape ${blob.shapeString()} needs ${dst.length}`);
  dst.set(src as ArrayLike<number>);
  return true;
}

export function blobToProto(b: Blob, writeDiff = false): Message {
  const msg = newMessage('BlobProto');
  msg.shape = newMessage('BlobShape');
  msg.shape.dim = b.shape.slice();
  msg.data = new Float32Array(b.data);
  if (writeDiff) msg.diff = new Float32Array(b.diff);
  return msg;
}

export { has };
