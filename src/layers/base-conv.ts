// The machinery shared by Convolution and Deconvolution, as Caffe's BaseConvolutionLayer:
// N-D spatial geometry (kernel/pad/stride/dilation per axis, from the repeated fields or the 2-D
// _h/_w fields), channel groups, a channel axis other than 1, bias, weight fillers, several
// bottom/top pairs sharing one set of weights, and the im2col + GEMM primitives.
//
// Terms (Caffe's): the "conv input" is what im2col reads — the bottom for Convolution, the top for
// Deconvolution (reverseDimensions) — and the "conv output" the other side.
//   weights     [convOut, convIn / group, ...kernel]      kernelDim = convIn / group * prod(kernel)
//   col buffer  [kernelDim * group, ...conv-output spatial]
//   per group g: output_g (convOut/group x outSpatial) = W_g (convOut/group x kernelDim) * col_g
// A 1x1 kernel with stride 1 and no padding skips im2col: the input already is the col buffer.
import type { Blob } from '../graph/blob.js';
import { epilogueShared, gemm, gemmStage, gemv, inSharedMemory, type GemmEpilogue } from '../kernels/gemm.js';
import { FrozenWeights } from './frozen-weights.js';
import { im2colAuto, im2colShared } from '../kernels/im2col.js';
import { ROW_ADD, ROW_MUL_ADD, ROW_MUL_ADD_RELU, rowMap, rowMapShortcut } from '../kernels/rows.js';
import type { ConvEpilogue } from '../graph/fusion.js';
import { has, newMessage, type Message } from '../proto/schema.js';
import { axisOf, Layer } from './layer.js';

export interface ConvGeometry {
  kernel: number[];
  stride: number[];
  pad: number[];
  dilation: number[];
}

const shapeStr = (s: readonly number[]) => `(${s.join(',')})`;

/** The layer's convolution_param, or one holding the defaults. */
export function convParam(layer: Layer): Message {
  return layer.param.convolution_param ?? newMessage('ConvolutionParameter');
}

/**
 * Reads kernel/stride/pad/dilation for `n` spatial axes from a ConvolutionParameter, with
 * Caffe's rules: a repeated field holds one value for all axes or one per axis; the _h/_w forms
 * are 2-D only and exclusive with the repeated form; kernels and strides must be positive.
 */
export function convGeometry(layer: Layer, cp: Message, n: number, bottom: Blob): ConvGeometry {
  const where = () => `${n} spatial axes in bottom ${bottom.shapeString()}`;
  const list = (field: string): number[] => Array.from((cp[field] ?? []) as ArrayLike<number>, Number);

  const perAxis = (field: string, hField: string, wField: string, dflt: number | null): number[] => {
    const values = list(field);
    if (hField && (has(cp, hField) || has(cp, wField))) {
      layer.check(n === 2, () => `${hField} & ${wField} can only be used for 2-D convolution, got ${where()}`);
      layer.check(values.length === 0, `either ${field} or ${hField}/${wField} may be given, not both`);
      if (dflt === null) {
        // kernel: both halves are needed
        layer.check(has(cp, hField) && has(cp, wField), `${hField} and ${wField} must be given together`);
      }
      const h = has(cp, hField) ? Number(cp[hField]) : dflt ?? 0;
      const w = has(cp, wField) ? Number(cp[wField]) : dflt ?? 0;
      return [h, w];
    }
    if (dflt === null) {
      layer.check(values.length === 1 || (values.length === n && n > 0) || (n === 0 && values.length <= 1),
        () => `${field} must be specified once, or once per spatial dimension (given ${values.length} time(s); ${where()})`);
    } else {
      layer.check(values.length === 0 || values.length === 1 || values.length === n,
        () => `${field} must be specified once, once per spatial dimension, or not at all (given ${values.length} time(s); ${where()})`);
    }
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(values.length === 0 ? (dflt as number) : values[values.length === 1 ? 0 : i]);
    return out;
  };

  const kernel = perAxis('kernel_size', 'kernel_h', 'kernel_w', null);
  kernel.forEach((k, i) => layer.check(k > 0, `filter dimensions must be nonzero (kernel ${shapeStr(kernel)}, axis ${i})`));
  // Caffe's stride_h/stride_w have no default: giving one without the other leaves the other 0.
  const stride = perAxis('stride', 'stride_h', 'stride_w', 1);
  if ((has(cp, 'stride_h') || has(cp, 'stride_w')) && !(has(cp, 'stride_h') && has(cp, 'stride_w'))) {
    stride[has(cp, 'stride_h') ? 1 : 0] = 0;
  }
  stride.forEach((s, i) => layer.check(s > 0, `stride dimensions must be nonzero (stride ${shapeStr(stride)}, axis ${i})`));
  const pad = perAxis('pad', 'pad_h', 'pad_w', 0);
  // No positivity check on dilation, as Caffe: 0 collapses the kernel onto one pixel.
  const dilation = perAxis('dilation', '', '', 1);
  return { kernel, stride, pad, dilation };
}

/** Grows a scratch buffer to at least n elements and returns a view of exactly n. */
export class Scratch {
  private store = new Float32Array(0);
  get(n: number): Float32Array {
    if (this.store.length < n) this.store = new Float32Array(n);
    return n === this.store.length ? this.store : this.store.subarray(0, n);
  }
}

// One column buffer for every conv layer: its contents never outlive a single forward/backward
// call of one layer (JS runs one layer at a time), so sharing it bounds memory by the largest.
const sharedCol = new Scratch();

export abstract class BaseConvolutionLayer extends Layer {
  protected geom: ConvGeometry = { kernel: [], stride: [], pad: [], dilation: [] };
  protected numSpatialAxes = 0;
  protected channelAxis = 1;
  protected forceNdIm2col = false;
  protected is1x1 = false;
  protected channels = 0;
  protected numOutput = 0;
  protected group = 1;
  protected biasTerm = true;
  protected convOutChannels = 0;
  protected convInChannels = 0;
  protected kernelDim = 0;
  protected weightOffset = 0;

  // Set by reshape.
  protected num = 0;
  protected bottomShape: readonly number[] = [];
  protected outputShape: number[] = [];
  protected convInputShape: number[] = [];
  protected colBufferShape: number[] = [];
  protected convOutSpatialDim = 0;
  protected colOffset = 0;
  protected outputOffset = 0;
  protected bottomDim = 0;
  protected topDim = 0;
  protected outSpatialDim = 0;

  /**
   * Set by the Net for one forward when it folds the in-place BatchNorm/Scale/ReLU after this
   * layer into it (src/graph/fusion.ts): the output then gets y = a*y + b (a ReLU after it when
   * asked) in one pass, the conv bias included in b; and, with a residual Eltwise folded in too,
   * y + shortcut (then a ReLU when asked) in that same pass.
   */
  epilogue: ConvEpilogue | null = null;

  private onesScratch = new Scratch();
  /** The weights' pack key while frozen (Net.freezeWeights). */
  private readonly frozen = new FrozenWeights();

  override setWeightsFrozen(frozen: boolean): void {
    this.frozen.set(frozen);
  }

  /** A number that changes at every freeze while the weights are frozen; null when they are not. */
  protected get frozenWeightsVersion(): number | null {
    return this.frozen.frozenVersion;
  }
  protected colSize = 0;
  protected biasMultiplier: Float32Array = new Float32Array(0);

  /** True for Deconvolution: im2col runs over the top, and the output shape grows. */
  protected abstract reverseDimensions(): boolean;
  /** Fills this.outputShape (spatial dims of the top) from this.bottomShape. */
  protected abstract computeOutputShape(): void;

  override minBottomBlobs(): number {
    return 1;
  }
  override minTopBlobs(): number {
    return 1;
  }
  override equalNumBottomTopBlobs(): boolean {
    return true;
  }

  override layerSetUp(bottom: Blob[], _top: Blob[]): void {
    const cp = convParam(this);
    this.forceNdIm2col = !!cp.force_nd_im2col;
    this.channelAxis = axisOf(this, bottom[0], cp.axis ?? 1, 'convolution_param.axis', 'bottom');
    const firstSpatial = this.channelAxis + 1;
    this.numSpatialAxes = bottom[0].numAxes - firstSpatial;
    this.check(this.numSpatialAxes >= 0, () => `no spatial axes after channel axis ${this.channelAxis} of bottom ${bottom[0].shapeString()}`);
    this.geom = convGeometry(this, cp, this.numSpatialAxes, bottom[0]);
    const { kernel, stride, pad } = this.geom;
    this.is1x1 = kernel.every((k, i) => k === 1 && stride[i] === 1 && pad[i] === 0);

    this.channels = bottom[0].shape[this.channelAxis];
    this.numOutput = Number(cp.num_output ?? 0);
    this.check(this.numOutput > 0, `num_output must be positive, got ${this.numOutput}`);
    this.group = Number(cp.group ?? 1);
    this.check(this.group > 0, `group must be positive, got ${this.group}`);
    this.check(this.channels % this.group === 0,
      () => `the ${this.channels} input channels of bottom ${bottom[0].shapeString()} are not a multiple of group ${this.group}`);
    this.check(this.numOutput % this.group === 0, `num_output ${this.numOutput} is not a multiple of group ${this.group}`);
    if (this.reverseDimensions()) {
      this.convOutChannels = this.channels;
      this.convInChannels = this.numOutput;
    } else {
      this.convOutChannels = this.numOutput;
      this.convInChannels = this.channels;
    }
    const weightShape = [this.convOutChannels, this.convInChannels / this.group, ...kernel];
    this.biasTerm = cp.bias_term ?? true;
    const biasShape = [this.numOutput];

    this.setUpWeights(cp, weightShape, this.biasTerm ? biasShape : null, () => {
      const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
      this.check(same(this.blobs[0].shape, weightShape),
        () => `incorrect weight shape: expected ${shapeStr(weightShape)}; instead, shape was ${this.blobs[0].shapeString()}`);
      if (this.biasTerm) {
        this.check(same(this.blobs[1].shape, biasShape),
          () => `incorrect bias shape: expected ${shapeStr(biasShape)}; instead, shape was ${this.blobs[1].shapeString()}`);
      }
    });
    this.kernelDim = this.blobs[0].countRange(1);
    this.weightOffset = (this.convOutChannels * this.kernelDim) / this.group;
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const firstSpatial = this.channelAxis + 1;
    this.check(bottom[0].numAxes === firstSpatial + this.numSpatialAxes,
      () => `bottom num_axes may not change: bottom ${bottom[0].shapeString()} has ${bottom[0].numAxes} axes, the layer was set up for ${firstSpatial + this.numSpatialAxes}`);
    this.num = bottom[0].countRange(0, this.channelAxis);
    this.check(bottom[0].shape[this.channelAxis] === this.channels,
      () => `input size incompatible with convolution kernel: bottom ${bottom[0].shapeString()} has ${bottom[0].shape[this.channelAxis]} channels, the weights expect ${this.channels}`);
    for (let i = 1; i < bottom.length; i++) {
      const a = bottom[0].shape;
      const b = bottom[i].shape;
      this.check(a.length === b.length && a.every((d, j) => d === b[j]),
        () => `all bottoms must have the same shape: bottom[0] ${bottom[0].shapeString()} vs bottom[${i}] ${bottom[i].shapeString()}`);
    }
    this.bottomShape = bottom[0].shape.slice();
    this.computeOutputShape();
    const topShape = [...bottom[0].shape.slice(0, this.channelAxis), this.numOutput, ...this.outputShape];
    for (const t of top) t.reshape(topShape);
    const reverse = this.reverseDimensions();
    this.convOutSpatialDim = reverse ? bottom[0].countRange(firstSpatial) : top[0].countRange(firstSpatial);
    this.colOffset = this.kernelDim * this.convOutSpatialDim;
    this.outputOffset = (this.convOutChannels * this.convOutSpatialDim) / this.group;
    this.convInputShape = [];
    for (let i = 0; i <= this.numSpatialAxes; i++) {
      this.convInputShape.push(reverse ? top[0].shape[this.channelAxis + i] : bottom[0].shape[this.channelAxis + i]);
    }
    this.colBufferShape = [this.kernelDim * this.group];
    for (let i = 0; i < this.numSpatialAxes; i++) {
      this.colBufferShape.push(reverse ? this.bottomShape[firstSpatial + i] : this.outputShape[i]);
    }
    this.bottomDim = bottom[0].countRange(this.channelAxis);
    this.topDim = top[0].countRange(this.channelAxis);
    this.outSpatialDim = top[0].countRange(firstSpatial);
    this.colSize = this.colBufferShape.reduce((a, b) => a * b, 1);
    if (this.biasTerm) {
      this.biasMultiplier = this.onesScratch.get(this.outSpatialDim);
      this.biasMultiplier.fill(1);
    }
  }

  /** Explains a non-positive output extent: the (dilated) kernel does not fit the padded input. */
  protected kernelTooLarge(axis: number, input: number, what: string): never {
    const { kernel, pad, stride, dilation } = this.geom;
    const extent = dilation[axis] * (kernel[axis] - 1) + 1;
    throw this.error(
      `kernel extent ${extent} (kernel ${shapeStr(kernel)}, dilation ${shapeStr(dilation)}) is larger than the padded ${what} ` +
        `${input} + 2*${pad[axis]} along spatial axis ${axis} (bottom ${shapeStr(this.bottomShape)}, pad ${shapeStr(pad)}, stride ${shapeStr(stride)})`,
    );
  }

  protected colBuffer(): Float32Array {
    return sharedCol.get(this.colSize);
  }

  // ---- primitives (one sample; arrays are views positioned at the sample) ----

  protected convIm2col(data: Float32Array, col: Float32Array): void {
    im2colAuto(true, data, col, this.convInputShape, this.colBufferShape, this.geom, this.forceNdIm2col);
  }

  protected convCol2im(col: Float32Array, data: Float32Array): void {
    im2colAuto(false, data, col, this.convInputShape, this.colBufferShape, this.geom, this.forceNdIm2col);
  }

  /**
   * im2col(input) in the GEMM's shared memory when the output is a blob there (the inference
   * arena: the product then reads and writes everything in place), or null.
   */
  private sharedColumns(input: Float32Array, output: Float32Array): Float32Array | null {
    if (this.numSpatialAxes !== 2 || this.forceNdIm2col || !inSharedMemory(output)) return null;
    const { kernel: k, pad: p, stride: s, dilation: d } = this.geom;
    const [C, H, W] = [this.convInputShape[0], this.convInputShape[1], this.convInputShape[2]];
    return im2colShared(input, C, H, W, k[0], k[1], p[0], p[1], s[0], s[1], d[0], d[1]);
  }

  /** im2col(input) in the col buffer (which skipIm2col takes as filled), or input for a 1x1 kernel. */
  private columns(input: Float32Array, skipIm2col = false): Float32Array {
    if (this.is1x1) return input;
    const col = this.colBuffer();
    if (!skipIm2col) this.convIm2col(input, col);
    return col;
  }

  /**
   * output = W * im2col(input), per group (overwrites output). With sample >= 0 the products may
   * also apply that sample's epilogue (forwardEpilogue's work, fused into the GEMM): returns
   * whether they did.
   */
  protected forwardGemm(input: Float32Array, weights: Float32Array, output: Float32Array, skipIm2col = false, sample = -1): boolean {
    const m = this.convOutChannels / this.group;
    // im2col straight into the GEMM kernel's memory when it can take it: the products below then
    // read the columns in place instead of copying them in (one pass over the buffer, not two).
    let staged = this.is1x1 || skipIm2col ? null : this.sharedColumns(input, output);
    if (!staged && !this.is1x1 && !skipIm2col) {
      staged = gemmStage(this.colSize, m, this.convOutSpatialDim, this.kernelDim);
      if (staged) this.convIm2col(input, staged);
    }
    const col = staged ?? this.columns(input, skipIm2col);
    const full = sample >= 0 ? this.sampleEpilogue(sample) : null;
    let fused = full !== null;
    for (let g = 0; g < this.group; g++) {
      const rows = (x: Float32Array | null): Float32Array | null => x && x.subarray(m * g, m * (g + 1));
      const epi = full === null ? undefined : {
        a: rows(full.a), b: rows(full.b)!, relu: full.relu,
        shortcut: full.shortcut && full.shortcut.subarray(this.outputOffset * g, this.outputOffset * (g + 1)),
      };
      // Every group's product takes its epilogue, or none does (the groups' shapes are alike).
      fused = gemm(false, false, m, this.convOutSpatialDim, this.kernelDim, 1,
        weights.subarray(this.weightOffset * g, this.weightOffset * (g + 1)),
        col.subarray(this.colOffset * g, this.colOffset * (g + 1)),
        0, output.subarray(this.outputOffset * g, this.outputOffset * (g + 1)), this.frozen.key ?? undefined, epi) && fused;
    }
    return fused;
  }

  /**
   * output += bias (broadcast over the spatial positions). Caffe does this as a K = 1 GEMM with a
   * ones vector; each element gets f32(output + bias * 1) either way, and the loop skips the
   * GEMM's operand copies.
   */
  protected forwardBias(output: Float32Array, bias: Float32Array): void {
    rowMap(ROW_ADD, output, output, this.numOutput, this.outSpatialDim, this.numOutput, null, bias);
  }

  /** Whether the Net may give this layer an epilogue: its channels are on axis 1. */
  supportsEpilogue(): boolean {
    return this.channelAxis === 1 && !this.reverseDimensions();
  }

  /**
   * Sample n's epilogue as the kernels take it: the fused chain's when the Net set one (it holds
   * the bias), else the bias alone, else null.
   */
  private sampleEpilogue(n: number): GemmEpilogue | null {
    const ep = this.epilogue;
    if (ep) return { a: ep.a, b: ep.b, relu: ep.shortcut ? ep.shortcutRelu : ep.relu, shortcut: ep.shortcut && this.sample(ep.shortcut, n, this.topDim) };
    return this.biasTerm ? { a: null, b: this.blobs[1].data, relu: false, shortcut: null } : null;
  }

  /** The bias, or the fused epilogue when the Net set one (which includes the bias), on sample n. */
  protected forwardEpilogue(output: Float32Array, n: number): void {
    const ep = this.epilogue;
    // A blob in the kernels' shared memory takes it there in place, in one pass.
    const epi = inSharedMemory(output) ? this.sampleEpilogue(n) : null;
    if (epi && epilogueShared(output, this.numOutput, this.outSpatialDim, epi)) return;
    if (ep?.shortcut) {
      rowMapShortcut(output, output, this.numOutput, this.outSpatialDim, ep.a, ep.b, this.sample(ep.shortcut, n, this.topDim), ep.shortcutRelu);
    } else if (ep) rowMap(ep.relu ? ROW_MUL_ADD_RELU : ROW_MUL_ADD, output, output, this.numOutput, this.outSpatialDim, this.numOutput, ep.a, ep.b);
    else if (this.biasTerm) this.forwardBias(output, this.blobs[1].data);
  }

  /** input = col2im(W^T * output), per group (overwrites input). */
  protected backwardGemm(output: Float32Array, weights: Float32Array, input: Float32Array): void {
    const col = this.is1x1 ? input : this.colBuffer();
    const m = this.convOutChannels / this.group;
    for (let g = 0; g < this.group; g++) {
      gemm(true, false, this.kernelDim, this.convOutSpatialDim, m, 1,
        weights.subarray(this.weightOffset * g, this.weightOffset * (g + 1)),
        output.subarray(this.outputOffset * g, this.outputOffset * (g + 1)),
        0, col.subarray(this.colOffset * g, this.colOffset * (g + 1)), this.frozen.key ?? undefined);
    }
    if (!this.is1x1) this.convCol2im(col, input);
  }

  /** dW += output * im2col(input)^T, per group. */
  protected weightGemm(input: Float32Array, output: Float32Array, weightDiff: Float32Array): void {
    const col = this.columns(input);
    const m = this.convOutChannels / this.group;
    for (let g = 0; g < this.group; g++) {
      gemm(false, true, m, this.kernelDim, this.convOutSpatialDim, 1,
        output.subarray(this.outputOffset * g, this.outputOffset * (g + 1)),
        col.subarray(this.colOffset * g, this.colOffset * (g + 1)),
        1, weightDiff.subarray(this.weightOffset * g, this.weightOffset * (g + 1)));
    }
  }

  /** dBias += sum over spatial positions of output. */
  protected backwardBias(biasDiff: Float32Array, output: Float32Array): void {
    gemv(false, this.numOutput, this.outSpatialDim, 1, output, this.biasMultiplier, 1, biasDiff);
  }

  /** View of sample n of a blob's data or diff. */
  protected sample(arr: Float32Array, n: number, dim: number): Float32Array {
    return arr.subarray(n * dim, (n + 1) * dim);
  }
}
