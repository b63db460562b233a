// PReLU: y = max(x, 0) + a_c min(x, 0) with a learned slope per channel (axis 1), or one slope
// for all channels (channel_shared). Slopes start at 0.25 unless prelu_param.filler says
// otherwise. In place, a copy of the input is kept for backward, as Caffe does.
import { Blob } from '../graph/blob.js';
import { fillBlob } from '../graph/filler.js';
import { has, newMessage } from '../proto/schema.js';
import { paramOf } from './layer.js';
import { InputKeepingNeuronLayer, f32 } from './neuron.js';
import { registerLayer } from './registry.js';

export class PReLULayer extends InputKeepingNeuronLayer {
  private channelShared = false;

  get type(): string {
    return 'PReLU';
  }

  override layerSetUp(bottom: Blob[], _top: Blob[]): void {
    this.check(bottom[0].numAxes >= 2, () => `needs an input of at least 2 axes, got ${bottom[0].shapeString()}`);
    const p = paramOf(this.param, 'prelu_param', 'PReLUParameter');
    const channels = bottom[0].shape[1];
    this.channelShared = p.channel_shared;
    if (this.blobs.length === 0) {
      const slope = new Blob();
      slope.reshape(this.channelShared ? [] : [channels]);
      let filler = p.filler;
      if (!has(p, 'filler')) {
        filler = newMessage('FillerParameter');
        filler.type = 'constant';
        filler.value = 0.25;
      }
      fillBlob(slope, filler);
      this.blobs = [slope];
    }
    const want = this.channelShared ? 1 : channels;
    this.check(this.blobs[0].count === want,
      () => `slope blob holds ${this.blobs[0].count} value(s) but ${this.channelShared ? 'channel_shared needs 1' : `the input has ${channels} channels`}`);
    this.setParamPropagateDown(0, true);
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    this.check(bottom[0].numAxes >= 2, () => `needs an input of at least 2 axes, got ${bottom[0].shapeString()}`);
    super.reshape(bottom, top);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    this.keepInput(bottom[0], top[0]);
    const x = bottom[0].data;
    const y = top[0].data;
    const a = this.blobs[0].data;
    const channels = bottom[0].shape[1];
    const dim = bottom[0].countRange(2);
    for (let i = 0; i < x.length; i++) {
      const c = this.channelShared ? 0 : Math.floor(i / dim) % channels;
      const v = x[i];
      y[i] = v > 0 ? v : a[c] * v;
    }
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const x = this.inputData(bottom[0], top[0]);
    const a = this.blobs[0].data;
    const dy = top[0].diff;
    const channels = bottom[0].shape[1];
    const dim = bottom[0].countRange(2);
    const shared = this.channelShared;
    // Slope gradient first: in place, writing the bottom diff overwrites the top diff.
    if (this.paramPropagateDown(0)) {
      const da = this.blobs[0].diff;
      for (let i = 0; i < x.length; i++) {
        if (x[i] > 0) continue;
        const c = shared ? 0 : Math.floor(i / dim) % channels;
        da[c] = f32(da[c] + f32(dy[i] * x[i]));
      }
    }
    if (propagateDown[0]) {
      const dx = bottom[0].diff;
      for (let i = 0; i < x.length; i++) {
        const c = shared ? 0 : Math.floor(i / dim) % channels;
        dx[i] = x[i] > 0 ? dy[i] : dy[i] * a[c];
      }
    }
  }
}

registerLayer('PReLU', PReLULayer);
