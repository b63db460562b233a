// Filter: keeps the items (first-axis entries) whose selector value is nonzero (Caffe's
// FilterLayer). Bottoms: the blobs to filter, then the selector (shape (N) or (N,1,...)); one top
// per filtered bottom. As in Caffe the first reshape sizes the tops to the full batch and every
// later one to the selected count. Backward scatters the top diffs back and zeroes the rest; the
// selector gets no gradient.
import type { Blob } from '../graph/blob.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class FilterLayer extends Layer {
  private selected: number[] = [];
  private firstReshape = true;

  override get type(): string {
    return 'Filter';
  }
  override minBottomBlobs(): number {
    return 2;
  }
  override minTopBlobs(): number {
    return 1;
  }

  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    this.check(top.length === bottom.length - 1,
      () => `needs one top per filtered bottom: ${bottom.length} bottoms (the last is the selector) but ${top.length} top(s)`);
    this.firstReshape = true;
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const sel = bottom[bottom.length - 1];
    this.check(sel.numAxes >= 1, () => `the selector ${sel.shapeString()} needs a first axis`);
    for (let i = 1; i < sel.numAxes; i++) {
      this.check(sel.shape[i] === 1, () => `the selector ${sel.shapeString()} may have size 1 only on axes after the first`);
    }
    const n = sel.shape[0];
    for (let i = 0; i < bottom.length - 1; i++) {
      this.check(bottom[i].numAxes >= 1 && bottom[i].shape[0] === n,
        () => `bottom[${i}] ${bottom[i].shapeString()} must have the selector's first dimension ${n}`);
    }
    const s = sel.data;
    this.selected = [];
    for (let k = 0; k < n; k++) if (s[k] !== 0) this.selected.push(k);
    let items = this.selected.length;
    if (this.firstReshape) {
      items = bottom[0].shape[0];
      this.firstReshape = false;
    }
    top.forEach((t, i) => {
      const shape = bottom[i].shape.slice();
      shape[0] = items;
      t.reshape(shape);
    });
  }

  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    top.forEach((t, i) => {
      const src = bottom[i].data;
      const dst = t.data;
      const dim = bottom[i].countRange(1);
      this.selected.forEach((k, n) => dst.set(src.subarray(k * dim, (k + 1) * dim), n * dim));
    });
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (propagateDown[bottom.length - 1]) throw this.error('cannot backpropagate to the selector (the last bottom)');
    top.forEach((t, i) => {
      if (!propagateDown[i]) return;
      const src = t.diff;
      const dst = bottom[i].diff;
      const dim = bottom[i].countRange(1);
      dst.fill(0);
      this.selected.forEach((k, n) => dst.set(src.subarray(n * dim, (n + 1) * dim), k * dim));
    });
  }
}

registerLayer('Filter', FilterLayer);
