// DepthwiseConvolution (the MobileNet forks' faster depthwise layer): Convolution with one group
// per input channel, whatever convolution_param.group says. The forks only add a GPU kernel for
// this case; the arithmetic is Convolution's, so this is Convolution with group forced.
import type { Blob } from '../graph/blob.js';
import { newMessage } from '../proto/schema.js';
import { ConvolutionLayer } from './convolution.js';
import { registerLayer } from './registry.js';

export class DepthwiseConvolutionLayer extends ConvolutionLayer {
  override get type(): string {
    return 'DepthwiseConvolution';
  }

  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    // The layer owns its parameter (a clone), so forcing group here touches nothing else.
    if (!this.param.convolution_param) this.param.convolution_param = newMessage('ConvolutionParameter');
    const cp = this.param.convolution_param;
    const axis = cp.axis < 0 ? cp.axis + bottom[0].numAxes : cp.axis;
    const channels = bottom[0].shape[axis];
    this.check(channels !== undefined, () => `convolution_param.axis ${cp.axis} is out of range for ${bottom[0].shapeString()}`);
    cp.group = channels;
    super.layerSetUp(bottom, top);
  }
}

registerLayer('DepthwiseConvolution', DepthwiseConvolutionLayer);
