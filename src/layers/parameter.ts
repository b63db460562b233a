// Parameter: exposes one learnable blob of parameter_param.shape as its top (Caffe's
// ParameterLayer). The blob starts at zero (or comes from stored weights); the top shares its data
// and diff, so the gradient written into the top is the parameter's gradient.
import { Blob } from '../graph/blob.js';
import { toNumber, type Message } from '../proto/schema.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class ParameterLayer extends Layer {
  override get type(): string {
    return 'Parameter';
  }
  override exactNumBottomBlobs(): number {
    return 0;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  private shape(): number[] {
    const shape: Message | null = this.param.parameter_param?.shape ?? null;
    const dims = shape ? Array.from(shape.dim ?? [], (d: any) => toNumber(d)) : [];
    this.check(dims.every((d) => Number.isInteger(d) && d >= 0),
      () => `parameter_param.shape (${dims.join(',')}) has a negative dimension`);
    return dims;
  }

  override layerSetUp(_bottom: Blob[], top: Blob[]): void {
    if (this.blobs.length === 0) {
      this.blobs = [new Blob(this.shape())];
      if (this.blobs[0].numAxes === 0) this.blobs[0].reshape([]);
    }
    top[0].reshape(this.blobs[0].shape);
  }

  override reshape(_bottom: Blob[], top: Blob[]): void {
    const p = this.blobs[0];
    if (top[0].count !== p.count || top[0].numAxes !== p.numAxes) top[0].reshape(p.shape);
  }

  protected override forwardCpu(_bottom: Blob[], top: Blob[]): void {
    const p = this.blobs[0];
    top[0].reshape(p.shape);
    top[0].shareData(p);
    top[0].shareDiff(p);
  }

  protected override backwardCpu(_top: Blob[], _propagateDown: boolean[], _bottom: Blob[]): void {}
}

registerLayer('Parameter', ParameterLayer);
