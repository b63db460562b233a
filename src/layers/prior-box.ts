// PriorBox (SSD fork): the default boxes of one feature map, as [1, 2, H*W*priors*4]: first the
// boxes (xmin, ymin, xmax, ymax relative to the image), then each box's 4 variances.
// As the fork: sizes are truncated to integers; per cell the boxes go min size, sqrt(min*max),
// then each aspect ratio r != 1 (and 1/r when flip) in the order the ratios were given; a ratio
// within 1e-6 of one already listed is dropped.
import type { Blob } from '../graph/blob.js';
import { has, Layer, paramOf } from './layer.js';
import { registerLayer } from './registry.js';

export class PriorBoxLayer extends Layer {
  private minSizes: number[] = [];
  private maxSizes: number[] = [];
  private ratios: number[] = [];
  private clip = false;
  private variances: number[] = [];
  private imgH = 0;
  private imgW = 0;
  private stepH = 0;
  private stepW = 0;
  private offset = 0.5;
  private numPriors = 0;

  override get type(): string {
    return 'PriorBox';
  }
  override exactNumBottomBlobs(): number {
    return 2;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }
  override allowForceBackward(_bottomIndex: number): boolean {
    return false;
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    const p = paramOf(this.param, 'prior_box_param', 'PriorBoxParameter');
    this.minSizes = Array.from(p.min_size as ArrayLike<number>);
    this.check(this.minSizes.length > 0, 'must provide min_size');
    for (const s of this.minSizes) this.check(s > 0, () => `min_size must be positive, got ${s}`);
    this.ratios = [1];
    for (const ar of Array.from(p.aspect_ratio as ArrayLike<number>)) {
      if (this.ratios.some((r) => Math.abs(ar - r) < 1e-6)) continue;
      this.ratios.push(ar);
      if (p.flip) this.ratios.push(Math.fround(1 / ar));
    }
    this.numPriors = this.ratios.length * this.minSizes.length;
    this.maxSizes = Array.from(p.max_size as ArrayLike<number>);
    if (this.maxSizes.length > 0) {
      this.check(this.maxSizes.length === this.minSizes.length,
        () => `needs as many max_size as min_size, got ${this.maxSizes.length} and ${this.minSizes.length}`);
      this.maxSizes.forEach((m, i) => this.check(m > this.minSizes[i], () => `max_size ${m} must be greater than min_size ${this.minSizes[i]}`));
      this.numPriors += this.maxSizes.length;
    }
    this.clip = p.clip;
    const v = Array.from(p.variance as ArrayLike<number>);
    if (v.length > 1) {
      this.check(v.length === 4, () => `takes 1 or 4 variances, got ${v.length}`);
      for (const x of v) this.check(x > 0, () => `variance must be positive, got ${x}`);
      this.variances = v;
    } else if (v.length === 1) {
      this.check(v[0] > 0, () => `variance must be positive, got ${v[0]}`);
      this.variances = v;
    } else {
      this.variances = [Math.fround(0.1)];
    }
    [this.imgH, this.imgW] = this.pairOf(p, 'img_size', 'img_h', 'img_w');
    [this.stepH, this.stepW] = this.pairOf(p, 'step', 'step_h', 'step_w');
    this.offset = p.offset;
  }

  /** `both` for height and width, or `h` and `w` apart (not both ways); 0 when unset. */
  private pairOf(p: any, both: string, h: string, w: string): [number, number] {
    if (has(p, h) || has(p, w)) {
      this.check(!has(p, both), `give either ${both} or ${h}/${w}, not both`);
      this.check(p[h] > 0 && p[w] > 0, `${h} and ${w} must be positive`);
      return [p[h], p[w]];
    }
    if (has(p, both)) {
      this.check(p[both] > 0, `${both} must be positive`);
      return [p[both], p[both]];
    }
    return [0, 0];
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const f = bottom[0];
    this.check(f.numAxes === 4 && bottom[1].numAxes === 4,
      () => `needs 4-D feature map and image inputs, got ${f.shapeString()} and ${bottom[1].shapeString()}`);
    // One image's boxes serve the whole batch.
    top[0].reshape([1, 2, f.shape[2] * f.shape[3] * this.numPriors * 4]);
  }

  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    const layerH = bottom[0].shape[2];
    const layerW = bottom[0].shape[3];
    const imgH = this.imgH === 0 ? bottom[1].shape[2] : this.imgH;
    const imgW = this.imgW === 0 ? bottom[1].shape[3] : this.imgW;
    const f = Math.fround;
    const stepW = this.stepW === 0 ? f(imgW / layerW) : this.stepW;
    const stepH = this.stepH === 0 ? f(imgH / layerH) : this.stepH;
    const out = top[0].data;
    const dim = layerH * layerW * this.numPriors * 4;
    let k = 0;
    for (let h = 0; h < layerH; h++) {
      for (let w = 0; w < layerW; w++) {
        const cx = f(f(w + this.offset) * stepW);
        const cy = f(f(h + this.offset) * stepH);
        const put = (bw: number, bh: number) => {
          out[k++] = (cx - bw / 2) / imgW;
          out[k++] = (cy - bh / 2) / imgH;
          out[k++] = (cx + bw / 2) / imgW;
          out[k++] = (cy + bh / 2) / imgH;
        };
        for (let s = 0; s < this.minSizes.length; s++) {
          const minSize = Math.trunc(this.minSizes[s]);
          put(minSize, minSize);
          if (this.maxSizes.length > 0) {
            const side = f(Math.sqrt(minSize * Math.trunc(this.maxSizes[s])));
            put(side, side);
          }
          for (const ar of this.ratios) {
            if (Math.abs(ar - 1) < 1e-6) continue;
            const r = f(Math.sqrt(ar));
            put(f(minSize * r), f(minSize / r));
          }
        }
      }
    }
    if (this.clip) for (let i = 0; i < dim; i++) out[i] = Math.min(Math.max(out[i], 0), 1);
    if (this.variances.length === 1) out.fill(this.variances[0], dim, 2 * dim);
    else for (let i = 0; i < dim; i++) out[dim + i] = this.variances[i % 4];
  }

  // The boxes do not depend on the inputs' values: the fork's backward writes nothing.
  protected override backwardCpu(_top: Blob[], _propagateDown: boolean[], _bottom: Blob[]): void {}
}

registerLayer('PriorBox', PriorBoxLayer);
