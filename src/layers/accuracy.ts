// Accuracy: top-k classification accuracy, as Caffe's AccuracyLayer. Not a loss layer (no
// default loss weight) and no backward.
//
// bottom[0] scores (outer x C x inner along accuracy_param.axis), bottom[1] labels (outer*inner).
// top[0] scalar accuracy over the non-ignored positions (0 when there are none); optional top[1]
// per-class accuracy (C values, 0 for classes absent from the labels).
// A position counts as correct when fewer than top_k classes score >= the true class's score
// (the true class itself included), so ties go against the prediction as in Caffe.
import type { Blob } from '../graph/blob.js';
import { axisOf, has, Layer, paramOf } from './layer.js';
import { registerLayer } from './registry.js';
import { readLabel } from './softmax-with-loss.js';

export class AccuracyLayer extends Layer {
  private topK = 1;
  private ignoreLabel: number | null = null;
  private axis = 1;
  private outer = 0;
  private inner = 0;
  private perClassCount = new Float64Array(0);

  get type(): string {
    return 'Accuracy';
  }
  override exactNumBottomBlobs(): number {
    return 2;
  }
  override minTopBlobs(): number {
    return 1;
  }
  override maxTopBlobs(): number {
    return 2;
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    const ap = paramOf(this.param, 'accuracy_param', 'AccuracyParameter');
    this.topK = ap.top_k;
    this.ignoreLabel = has(ap, 'ignore_label') ? ap.ignore_label : null;
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    const ap = paramOf(this.param, 'accuracy_param', 'AccuracyParameter');
    this.check(bottom[1].count > 0 && this.topK <= bottom[0].count / bottom[1].count,
      () => `top_k ${this.topK} exceeds the number of classes (${bottom[0].shapeString()} scores for ` +
        `${bottom[1].count} labels)`);
    this.axis = axisOf(this, bottom[0], ap.axis, 'accuracy_param.axis');
    this.outer = bottom[0].countRange(0, this.axis);
    this.inner = bottom[0].countRange(this.axis + 1);
    this.check(this.outer * this.inner === bottom[1].count,
      () => `the number of labels (${bottom[1].count}, shape ${bottom[1].shapeString()}) must equal the number of ` +
        `predictions ${this.outer * this.inner}: for scores ${bottom[0].shapeString()} with axis ${this.axis}, ` +
        `labels hold one integer in [0, ${bottom[0].shape[this.axis]}) per position`);
    top[0].reshape([]);
    if (top.length > 1) {
      const classes = bottom[0].shape[this.axis];
      top[1].reshape([classes]);
      if (this.perClassCount.length !== classes) this.perClassCount = new Float64Array(classes);
    }
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const data = bottom[0].data;
    const label = bottom[1].data;
    const classes = bottom[0].shape[this.axis];
    const dim = classes * this.inner;
    const perClass = top.length > 1 ? top[1].data : null;
    if (perClass) {
      this.perClassCount.fill(0);
      perClass.fill(0);
    }
    let correct = 0;
    let count = 0;
    for (let i = 0; i < this.outer; i++) {
      for (let j = 0; j < this.inner; j++) {
        const at = i * this.inner + j;
        const l = readLabel(this, label[at], classes, this.ignoreLabel, at);
        if (l < 0) continue;
        if (perClass) this.perClassCount[l]++;
        const truth = data[i * dim + l * this.inner + j];
        // The true class scores >= itself, hence the start at -1.
        let better = -1;
        for (let k = 0; k < classes && better < this.topK; k++) {
          if (data[i * dim + k * this.inner + j] >= truth) better++;
        }
        if (better < this.topK) {
          correct++;
          if (perClass) perClass[l]++;
        }
        count++;
      }
    }
    top[0].data[0] = count === 0 ? 0 : correct / count;
    if (perClass) {
      for (let c = 0; c < classes; c++) {
        perClass[c] = this.perClassCount[c] === 0 ? 0 : perClass[c] / this.perClassCount[c];
      }
    }
  }
}

registerLayer('Accuracy', AccuracyLayer);
