// Input: the net's entry points (Caffe's InputLayer). input_param.shape: none (the tops are shaped
// by whoever feeds them), one shape for every top, or one per top. Forward does nothing.
import { Blob } from '../graph/blob.js';
import { toNumber, type Message } from '../proto/schema.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class InputLayer extends Layer {
  override get type(): string {
    return 'Input';
  }
  override exactNumBottomBlobs(): number {
    return 0;
  }
  override minTopBlobs(): number {
    return 1;
  }

  override layerSetUp(_bottom: Blob[], top: Blob[]): void {
    const shapes: Message[] = this.param.input_param?.shape ?? [];
    this.check(shapes.length === 0 || shapes.length === 1 || shapes.length === top.length,
      () => `give input_param.shape once, once per top or not at all: ${top.length} top(s) but ${shapes.length} shape(s)`);
    if (shapes.length === 0) return;
    top.forEach((t, i) => {
      const dims = Array.from(shapes[shapes.length === 1 ? 0 : i].dim ?? [], (d: any) => toNumber(d));
      this.check(dims.every((d) => Number.isInteger(d) && d >= 0),
        () => `input_param.shape (${dims.join(',')}) for top[${i}] has a negative dimension`);
      t.reshape(dims);
    });
  }

  // Tops keep whatever shape they were given (at setup or by the caller).
  override reshape(_bottom: Blob[], _top: Blob[]): void {}
  protected override forwardCpu(_bottom: Blob[], _top: Blob[]): void {}
  protected override backwardCpu(_top: Blob[], _propagateDown: boolean[], _bottom: Blob[]): void {}
}

registerLayer('Input', InputLayer);
