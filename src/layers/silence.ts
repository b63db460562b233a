// Silence: consumes its bottoms and produces nothing (Caffe's SilenceLayer); backward zeroes the
// bottom diffs so that unused outputs contribute no gradient.
import type { Blob } from '../graph/blob.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class SilenceLayer extends Layer {
  override get type(): string {
    return 'Silence';
  }
  override minBottomBlobs(): number {
    return 1;
  }
  override exactNumTopBlobs(): number {
    return 0;
  }

  override reshape(_bottom: Blob[], _top: Blob[]): void {}
  protected override forwardCpu(_bottom: Blob[], _top: Blob[]): void {}

  protected override backwardCpu(_top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    bottom.forEach((b, i) => {
      if (propagateDown[i]) b.diff.fill(0);
    });
  }
}

registerLayer('Silence', SilenceLayer);
