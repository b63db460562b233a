// Flatten: merges axes [axis, end_axis] (defaults 1 and -1) into one (Caffe's FlattenLayer).
// As in Caffe the top takes the bottom's data in forward and the bottom takes the top's diff in
// backward; no values are copied.
import type { Blob } from '../graph/blob.js';
import { newMessage, type Message } from '../proto/schema.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class FlattenLayer extends Layer {
  override get type(): string {
    return 'Flatten';
  }
  override exactNumBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  private get fp(): Message {
    return this.param.flatten_param ?? newMessage('FlattenParameter');
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    this.check(top[0] !== b, 'Flatten cannot work in place');
    const n = b.numAxes;
    const axisOf = (a: number, what: string): number => {
      this.check(a >= -n && a < n, () => `${what} ${a} is out of range for a ${n}-D bottom ${b.shapeString()}`);
      return a < 0 ? a + n : a;
    };
    const start = axisOf(this.fp.axis, 'axis');
    const end = axisOf(this.fp.end_axis, 'end_axis');
    const shape: number[] = b.shape.slice(0, start);
    shape.push(b.countRange(start, end + 1));
    for (let i = end + 1; i < n; i++) shape.push(b.shape[i]);
    top[0].reshape(shape);
    this.check(top[0].count === b.count, () => `flattened count ${top[0].count} != bottom count ${b.count}`);
  }

  override sharesDataInForward(): boolean {
    return true;
  }

  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    top[0].shareData(bottom[0]);
  }

  protected override backwardCpu(top: Blob[], _propagateDown: boolean[], bottom: Blob[]): void {
    bottom[0].shareDiff(top[0]);
  }
}

registerLayer('Flatten', FlattenLayer);
