// InfogainLoss, as Caffe's InfogainLossLayer (the version with an internal softmax).
//
// bottom[0] scores (outer x C x inner along infogain_loss_param.axis), bottom[1] labels
// (outer*inner integers in [0, C)), optional bottom[2] the C x C infogain matrix H; without it H
// is read from the BlobProto file infogain_loss_param.source. p = softmax(bottom[0]) along the
// axis; loss = -sum_positions sum_l H[label, l] * log(max(p_l, 1e-20)) / normalizer.
// Gradient: (p_l * sum_k H[label, k] - H[label, l]) * top_diff / normalizer.
// Optional top[1]: the probabilities. The legacy loss_param.normalize is rejected, as Caffe does.
import { Blob } from '../graph/blob.js';
import { softmaxForward } from '../kernels/softmax.js';
import { readBinaryFile } from '../format/binary.js';
import type { Message } from '../proto/schema.js';
import { copyProtoData, has, LossLayer } from './layer.js';
import { registerLayer } from './registry.js';
import {
  getNormalizer, ignoreLabelOf, layerAxis, LOG_THRESHOLD, normalizationMode, readLabel, subParam, VALID,
} from './softmax-with-loss.js';

export class InfogainLossLayer extends LossLayer {
  private prob = new Blob();
  /** H when it comes from infogain_loss_param.source. */
  private infogain: Blob | null = null;
  private sumRows = new Float64Array(0);
  private axis = 1;
  private outer = 0;
  private inner = 0;
  private numLabels = 0;
  private ignoreLabel: number | null = null;
  private normalization = VALID;

  get type(): string {
    return 'InfogainLoss';
  }
  override exactNumBottomBlobs(): number {
    return -1;
  }
  override minBottomBlobs(): number {
    return 2;
  }
  override maxBottomBlobs(): number {
    return 3;
  }
  override exactNumTopBlobs(): number {
    return -1;
  }
  override minTopBlobs(): number {
    return 1;
  }
  override maxTopBlobs(): number {
    return 2;
  }

  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    super.layerSetUp(bottom, top);
    this.ignoreLabel = ignoreLabelOf(this);
    const lp = subParam(this.param, 'loss_param', 'LossParameter');
    this.check(!has(lp, 'normalize'), 'loss_param.normalize is deprecated for this layer; use loss_param.normalization');
    this.normalization = normalizationMode(this, VALID);
    if (bottom.length < 3) {
      const ip = subParam(this.param, 'infogain_loss_param', 'InfogainLossParameter');
      this.check(has(ip, 'source'), 'without a third bottom the infogain matrix file infogain_loss_param.source must be given');
      this.infogain = this.readMatrix(ip.source);
    }
  }

  private readMatrix(source: string): Blob {
    let proto: Message;
    try {
      proto = readBinaryFile(source, 'BlobProto');
    } catch (e) {
      throw this.error(`cannot read the infogain matrix '${source}': ${(e as Error).message}`);
    }
    const blob = new Blob(Blob.shapeFromProto(proto));
    try {
      copyProtoData(proto, blob);
    } catch (e) {
      throw this.error(`infogain matrix '${source}': ${(e as Error).message}`);
    }
    return blob;
  }

  private matrix(bottom: Blob[]): Blob {
    return bottom.length >= 3 ? bottom[2] : this.infogain!;
  }

  private computeSumRows(h: Float32Array): void {
    const n = this.numLabels;
    for (let r = 0; r < n; r++) {
      let s = 0;
      for (let c = 0; c < n; c++) s += h[r * n + c];
      this.sumRows[r] = Math.fround(s);
    }
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    super.reshape(bottom, top);
    const ip = subParam(this.param, 'infogain_loss_param', 'InfogainLossParameter');
    this.axis = layerAxis(this, bottom[0], ip.axis, 'infogain_loss_param.axis');
    this.prob.reshapeLike(bottom[0]);
    this.outer = bottom[0].countRange(0, this.axis);
    this.inner = bottom[0].countRange(this.axis + 1);
    this.check(this.outer * this.inner === bottom[1].count,
      () => `the number of labels (${bottom[1].count}, shape ${bottom[1].shapeString()}) must equal the number of ` +
        `predictions ${this.outer * this.inner}: for predictions ${bottom[0].shapeString()} with axis ` +
        `${this.axis}, labels hold one integer in [0, ${bottom[0].shape[this.axis]}) per position`);
    this.numLabels = bottom[0].shape[this.axis];
    const h = this.matrix(bottom);
    this.check(h.count === this.numLabels * this.numLabels,
      () => `the infogain matrix ${h.shapeString()} must hold ${this.numLabels} x ${this.numLabels} values`);
    if (this.sumRows.length !== this.numLabels) this.sumRows = new Float64Array(this.numLabels);
    if (bottom.length < 3) this.computeSumRows(h.data);
    if (top.length >= 2) top[1].reshapeLike(bottom[0]);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const C = this.numLabels;
    softmaxForward(bottom[0].data, this.prob.data, this.outer, C, this.inner);
    const prob = this.prob.data;
    const label = bottom[1].data;
    const h = this.matrix(bottom).data;
    const dim = C * this.inner;
    let loss = 0;
    let count = 0;
    for (let i = 0; i < this.outer; i++) {
      for (let j = 0; j < this.inner; j++) {
        const at = i * this.inner + j;
        const l = readLabel(this, label[at], C, this.ignoreLabel, at);
        if (l < 0) continue;
        for (let k = 0; k < C; k++) {
          loss -= h[l * C + k] * Math.log(Math.max(prob[i * dim + k * this.inner + j], LOG_THRESHOLD));
        }
        count++;
      }
    }
    top[0].data[0] = loss / getNormalizer(this.normalization, this.outer, this.inner, count);
    if (top.length === 2) top[1].data.set(prob);
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (propagateDown[1]) throw this.error('cannot backpropagate to the label input (bottom 1)');
    if (propagateDown.length > 2 && propagateDown[2]) {
      throw this.error('cannot backpropagate to the infogain matrix input (bottom 2)');
    }
    if (!propagateDown[0]) return;
    const C = this.numLabels;
    const h = this.matrix(bottom).data;
    // A matrix given as a bottom may change between passes.
    if (bottom.length >= 3) this.computeSumRows(h);
    const prob = this.prob.data;
    const label = bottom[1].data;
    const out = bottom[0].diff;
    const dim = C * this.inner;
    let count = 0;
    for (let i = 0; i < this.outer; i++) {
      for (let j = 0; j < this.inner; j++) {
        const at = i * this.inner + j;
        const l = readLabel(this, label[at], C, this.ignoreLabel, at);
        if (l < 0) {
          for (let k = 0; k < C; k++) out[i * dim + k * this.inner + j] = 0;
        } else {
          const s = this.sumRows[l];
          for (let k = 0; k < C; k++) {
            const idx = i * dim + k * this.inner + j;
            out[idx] = prob[idx] * s - h[l * C + k];
          }
          count++;
        }
      }
    }
    const scale = top[0].diff[0] / getNormalizer(this.normalization, this.outer, this.inner, count);
    for (let k = 0; k < out.length; k++) out[k] *= scale;
  }
}

registerLayer('InfogainLoss', InfogainLossLayer);
