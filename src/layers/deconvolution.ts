// Deconvolution (Caffe's DeconvolutionLayer): the transpose of Convolution — forward is
// Convolution's backward-data pass and vice versa, with the same parameters. Weights are
// [channels, num_output / group, ...kernel]; per spatial axis
//   out = stride * (in - 1) + dilation * (kernel - 1) + 1 - 2 * pad
import type { Blob } from '../graph/blob.js';
import { BaseConvolutionLayer } from './base-conv.js';
import { registerLayer } from './registry.js';

export class DeconvolutionLayer extends BaseConvolutionLayer {
  get type(): string {
    return 'Deconvolution';
  }

  protected reverseDimensions(): boolean {
    return true;
  }

  protected computeOutputShape(): void {
    const { kernel, pad, stride, dilation } = this.geom;
    this.outputShape = [];
    for (let i = 0; i < this.numSpatialAxes; i++) {
      const input = this.bottomShape[this.channelAxis + 1 + i];
      const extent = dilation[i] * (kernel[i] - 1) + 1;
      const out = stride[i] * (input - 1) + extent - 2 * pad[i];
      if (out <= 0) {
        throw this.error(
          `output size ${out} along spatial axis ${i} is not positive: stride ${stride[i]} * (${input} - 1) + kernel extent ${extent} - 2 * pad ${pad[i]} ` +
            `(bottom (${this.bottomShape.join(',')}), kernel (${kernel.join(',')}), pad (${pad.join(',')}))`,
        );
      }
      this.outputShape.push(out);
    }
  }

  // Convolution's loops with the GEMM roles swapped (the transpose): alike in shape, not in meaning.
  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const weight = this.blobs[0].data;
    for (let i = 0; i < bottom.length; i++) {
      const x = bottom[i].data;
      const y = top[i].data;
      for (let n = 0; n < this.num; n++) {
        const yn = this.sample(y, n, this.topDim);
        this.backwardGemm(this.sample(x, n, this.bottomDim), weight, yn);
        if (this.biasTerm) this.forwardBias(yn, this.blobs[1].data);
      }
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const weight = this.blobs[0].data;
    const weightDiff = this.blobs[0].diff;
    const doWeights = this.paramPropagateDown(0);
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
        // The weight gradient im2cols the top diff; the bottom gradient reuses those columns.
        if (doWeights) this.weightGemm(dyn, this.sample(x, n, this.bottomDim), weightDiff);
        if (propagateDown[i]) this.forwardGemm(dyn, weight, this.sample(dx, n, this.bottomDim), doWeights);
      }
    }
  }
}

registerLayer('Deconvolution', DeconvolutionLayer);
