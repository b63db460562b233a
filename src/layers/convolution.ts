// Convolution (Caffe's ConvolutionLayer): N-D cross-correlation over the axes after
// convolution_param.axis, with groups, dilation, padding and stride; im2col + GEMM per sample,
// except the 2-D depthwise case (one filter per channel), which kernels/depthwise.ts computes
// directly, forward and backward (the same sums, without the per-channel GEMMs).
//   out = (in + 2 * pad - (dilation * (kernel - 1) + 1)) / stride + 1   per spatial axis
// Several bottoms may be given (one top each); they share the weights and must have one shape.
import type { Blob } from '../graph/blob.js';
import { depthwiseBackward, depthwiseEnabled, depthwiseForward, type DepthwiseConfig } from '../kernels/depthwise.js';
import { convOutSize } from '../kernels/im2col.js';
import { winogradApplies, winogradConvForward, winogradTileFor, winogradWeights, type WinogradTile } from '../kernels/winograd.js';
import type { GemmPackKey } from '../kernels/gemm.js';
import { plainForced } from '../util/plain.js';
import { BaseConvolutionLayer } from './base-conv.js';
import { registerLayer } from './registry.js';

/** Winograd for eligible 3x3 layers (off: the im2col + GEMM path everywhere, as CAFFE_TS_PLAIN=1). */
let winogradOn = !plainForced();
export function setWinograd(on: boolean): boolean {
  const old = winogradOn;
  winogradOn = on;
  return old;
}

export class ConvolutionLayer extends BaseConvolutionLayer {
  /** The Winograd tile this layer's forward uses at its current shape, or 0 (im2col + GEMM). */
  private winoTile: WinogradTile | 0 = 0;
  /**
   * While the weights are frozen: their Winograd transform U, the pack keys of its n*n planes, and
   * what they were made for (tile, shape, freeze). Dropped when the weights thaw.
   */
  private winoU: Float32Array | null = null;
  private winoKeys: GemmPackKey[] = [];
  private winoFor = '';

  override setWeightsFrozen(frozen: boolean): void {
    super.setWeightsFrozen(frozen);
    this.winoU = null;
    this.winoKeys = [];
    this.winoFor = '';
  }

  /** The cached transform of the frozen weights for the current tile (null: not frozen). */
  private frozenWinograd(weight: Float32Array): { U: Float32Array; keys: GemmPackKey[] } | null {
    const version = this.frozenWeightsVersion;
    if (version === null || !this.winoTile) return null;
    const tag = `${this.winoTile},${this.numOutput},${this.channels},${version}`;
    if (this.winoFor !== tag || this.winoU === null) {
      const tile = this.winoTile;
      this.winoU = winogradWeights(weight, this.numOutput, this.channels, tile);
      // Fresh keys: gemm() packs each plane at its first use and reads that copy afterwards.
      this.winoKeys = Array.from({ length: (tile + 2) * (tile + 2) }, () => ({ version: 0 }));
      this.winoFor = tag;
    }
    return { U: this.winoU, keys: this.winoKeys };
  }

  get type(): string {
    return 'Convolution';
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    super.reshape(bottom, top);
    const g = this.geom;
    // Only where no backward will read this forward: Winograd's rounding differs from the GEMM's,
    // and a value that lands on the other side of a ReLU moves the gradients below it.
    this.winoTile =
      winogradOn && this.numSpatialAxes === 2 && this.channelAxis === 1 && !this.backwardPlanned &&
      winogradApplies({ kernel: g.kernel, stride: g.stride, pad: g.pad, dilation: g.dilation, group: this.group, reverse: false, forceNd: this.forceNdIm2col })
        ? winogradTileFor(this.channels, this.numOutput, this.outputShape[0], this.outputShape[1], { backward: false })
        : 0;
  }

  protected reverseDimensions(): boolean {
    return false;
  }

  protected computeOutputShape(): void {
    const { kernel, pad, stride, dilation } = this.geom;
    this.outputShape = [];
    for (let i = 0; i < this.numSpatialAxes; i++) {
      const input = this.bottomShape[this.channelAxis + 1 + i];
      // Caffe's integer division truncates toward zero: a kernel that overhangs the padded input
      // by less than the stride still gives one output, whose window reads zeros past the edge.
      const out = convOutSize(input, kernel[i], pad[i], stride[i], dilation[i]);
      if (out <= 0) this.kernelTooLarge(i, input, 'input');
      this.outputShape.push(out);
    }
  }

  /** The geometry when this is a 2-D depthwise convolution (one filter per channel), else null. */
  private depthwise(): DepthwiseConfig | null {
    const C = this.channels;
    if (this.numSpatialAxes !== 2 || this.group !== C || this.numOutput !== C || this.channelAxis !== 1 || this.forceNdIm2col) return null;
    const { kernel, stride, pad, dilation } = this.geom;
    return {
      channels: C, inH: this.bottomShape[2], inW: this.bottomShape[3], kernelH: kernel[0], kernelW: kernel[1],
      strideH: stride[0], strideW: stride[1], padH: pad[0], padW: pad[1], dilationH: dilation[0], dilationW: dilation[1],
      outH: this.outputShape[0], outW: this.outputShape[1],
    };
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const weight = this.blobs[0].data;
    const dw = depthwiseEnabled() ? this.depthwise() : null;
    for (let i = 0; i < bottom.length; i++) {
      const x = bottom[i].data;
      const y = top[i].data;
      if (this.winoTile) {
        // All samples in one call (the products span every tile of the batch); the bias goes
        // in here unless the fused epilogue, which holds it, follows.
        const bias = this.epilogue === null && this.biasTerm ? this.blobs[1].data : null;
        const cached = this.frozenWinograd(weight);
        // The epilogue goes into the output transform when it has no shortcut to add.
        const ep = this.epilogue;
        const epi = ep && !ep.shortcut ? { a: ep.a, b: ep.b, relu: ep.relu } : null;
        const applied = winogradConvForward(
          { num: this.num, channels: this.channels, numOutput: this.numOutput, height: this.convInputShape[1], width: this.convInputShape[2],
            padH: this.geom.pad[0], padW: this.geom.pad[1], tile: this.winoTile },
          x, weight, bias, y, cached?.U, cached?.keys, epi);
        if (ep && !applied) for (let n = 0; n < this.num; n++) this.forwardEpilogue(this.sample(y, n, this.topDim), n);
        continue;
      }
      // The depthwise kernel applies the bias or the folded BatchNorm/Scale/ReLU as it stores the
      // outputs; a residual shortcut (never after a depthwise layer in the zoo) is left to
      // forwardEpilogue.
      const ep = this.epilogue;
      const dwEpi = ep ? (ep.shortcut ? null : { a: ep.a, b: ep.b, relu: ep.relu }) : this.biasTerm ? this.blobs[1].data : null;
      for (let n = 0; n < this.num; n++) {
        const yn = this.sample(y, n, this.topDim);
        if (dw) {
          depthwiseForward(dw, this.sample(x, n, this.bottomDim), weight, dwEpi, yn);
          if (!ep?.shortcut) continue;
        } else if (this.forwardGemm(this.sample(x, n, this.bottomDim), weight, yn, false, n)) continue;
        this.forwardEpilogue(yn, n);
      }
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const weight = this.blobs[0].data;
    const weightDiff = this.blobs[0].diff;
    const doWeights = this.paramPropagateDown(0);
    const dw = depthwiseEnabled() ? this.depthwise() : null;
    for (let i = 0; i < top.length; i++) {
      const dy = top[i].diff;
      if (this.biasTerm && this.paramPropagateDown(1)) {
        const biasDiff = this.blobs[1].diff;
        for (let n = 0; n < this.num; n++) this.backwardBias(biasDiff, this.sample(dy, n, this.topDim));
      }
      if (!doWeights && !propagateDown[i]) continue;
      const x = bottom[i].data;
      const dx = bottom[i].diff;
      for (let n = 0; n < this.num; n++) {
        const dyn = this.sample(dy, n, this.topDim);
        if (dw) {
          const dxn = propagateDown[i] ? this.sample(dx, n, this.bottomDim) : null;
          depthwiseBackward(dw, this.sample(x, n, this.bottomDim), dyn, weight, doWeights ? weightDiff : null, dxn);
          continue;
        }
        // Gradient w.r.t. the weights (accumulated), then w.r.t. the bottom (overwritten).
        if (doWeights) this.weightGemm(this.sample(x, n, this.bottomDim), dyn, weightDiff);
        if (propagateDown[i]) this.backwardGemm(dyn, weight, this.sample(dx, n, this.bottomDim));
      }
    }
  }
}

registerLayer('Convolution', ConvolutionLayer);
