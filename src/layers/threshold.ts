// Threshold: y = 1 where x > threshold, else 0. No backward (Caffe leaves it unimplemented).
import type { Blob } from '../graph/blob.js';
import { paramOf } from './layer.js';
import { NeuronLayer } from './neuron.js';
import { registerLayer } from './registry.js';

export class ThresholdLayer extends NeuronLayer {
  private threshold = 0;

  get type(): string {
    return 'Threshold';
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    this.threshold = paramOf(this.param, 'threshold_param', 'ThresholdParameter').threshold;
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    const t = this.threshold;
    for (let i = 0; i < x.length; i++) y[i] = x[i] > t ? 1 : 0;
  }

  protected override backwardCpu(_top: Blob[], propagateDown: boolean[], _bottom: Blob[]): void {
    if (propagateDown.some((p) => p)) throw this.error('has no backward pass (the step function has no useful gradient)');
  }
}

registerLayer('Threshold', ThresholdLayer);
