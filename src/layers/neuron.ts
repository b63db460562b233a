// NeuronLayer: the base of Caffe's element-wise layers (ReLU, Sigmoid, Power, ...): exactly one
// bottom and one top of the bottom's shape; may run in place (top[0] === bottom[0]).
//
// In place, the bottom's data is overwritten by forward, and backward reads the same buffers Caffe
// reads: bottom.data (then the output) and top.diff (then the same array as bottom.diff). Layers
// whose gradient can be written in terms of the output (ReLU, Sigmoid, TanH, Exp, ELU, Swish) get
// the true gradient that way; BNLL, Clip, Log and Power do not keep their input in Caffe either, so
// their in-place gradient is Caffe's (not the true one). Only PReLU keeps a copy of its input
// (Caffe's bottom_memory_), through `InputKeepingNeuronLayer`.
import type { Blob } from '../graph/blob.js';
import { Layer } from './layer.js';

export const f32 = Math.fround;

export abstract class NeuronLayer extends Layer {
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }
  override reshape(bottom: Blob[], top: Blob[]): void {
    if (top[0] !== bottom[0]) top[0].reshapeLike(bottom[0]);
  }
}

/** A neuron whose backward reads its input and keeps a copy of it when run in place (PReLU). */
export abstract class InputKeepingNeuronLayer extends NeuronLayer {
  private saved = new Float32Array(0);

  /** Call at the start of forward, before the top is written. */
  protected keepInput(bottom: Blob, top: Blob): void {
    if (bottom !== top) return;
    if (this.saved.length !== bottom.count) this.saved = new Float32Array(bottom.count);
    this.saved.set(bottom.data);
  }

  /** The forward input: the bottom's data, or the kept copy when run in place. */
  protected inputData(bottom: Blob, top: Blob): Float32Array {
    if (bottom !== top) return bottom.data;
    if (this.saved.length !== bottom.count) throw this.error('backward before forward on an in-place layer');
    return this.saved;
  }
}
