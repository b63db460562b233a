// InfogainLoss, as Caffe's InfogainLossLayer (the version with an internal softmax).
//
// bottom[0] scores (outer x C x inner along infogain_loss_param.axis), bottom[1] labels
// (outer*inner integers in [0, C)), optional bottom[2] the C x C infogain matrix H; without it H
// is read from the BlobProto file infogain_loss_param.source. p = softmax(bottom[0]) along the
// axis; loss = -sum_positions sum_l H[label, l] * log(max(p_l, 1e-20)) / normalizer.
// Gradient: (p_l * sum_k H[label, k] - H[label, l]) * top_diff / normalizer.
// Optional top[1]: the probabilities. The legacy loss_param.normalize is rejected, as Caffe does.
import { Blob } from '../graph/blob.js';
import { readBinaryFile } from '../format/binary.js';
import type { Message } from '../proto/schema.js';
import { copyProtoData, has, paramOf } from './layer.js';
import { registerLayer } from './registry.js';
import { LOG_THRESHOLD, normalizationMode, SoftmaxLossBase, VALID } from './softmax-with-loss.js';

export class InfogainLossLayer extends SoftmaxLossBase {
  /** H when it comes from infogain_loss_param.source. */
  private infogain: Blob | null = null;
  private sumRows = new Float64Array(0);
  private numLabels = 0;

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

  protected softmaxAxis(): [number, string, string] {
    return [paramOf(this.param, 'infogain_loss_param', 'InfogainLossParameter').axis, 'infogain_loss_param.axis', 'axis'];
  }

  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    super.layerSetUp(bottom, top);
    const lp = paramOf(this.param, 'loss_param', 'LossParameter');
    this.check(!has(lp, 'normalize'), 'loss_param.normalize is deprecated for this layer; use loss_param.normalization');
    this.normalization = normalizationMode(this, VALID);
    if (bottom.length < 3) {
      const ip = paramOf(this.param, 'infogain_loss_param', 'InfogainLossParameter');
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

  /** H as read from infogain_loss_param.source (null when it is the third bottom). */
  get storedMatrix(): Blob | null {
    return this.infogain;
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
    this.numLabels = bottom[0].shape[this.axis];
    const h = this.matrix(bottom);
    this.check(h.count === this.numLabels * this.numLabels,
      () => `the infogain matrix ${h.shapeString()} must hold ${this.numLabels} x ${this.numLabels} values`);
    if (this.sumRows.length !== this.numLabels) this.sumRows = new Float64Array(this.numLabels);
    if (bottom.length < 3) this.computeSumRows(h.data);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const C = this.softmax(bottom);
    const prob = this.prob.data;
    const h = this.matrix(bottom).data;
    const inner = this.inner;
    let loss = 0;
    const count = this.forEachLabel(bottom[1].data, C, (l, base) => {
      for (let k = 0; k < C; k++) {
        loss -= h[l * C + k] * Math.log(Math.max(prob[base + k * inner], LOG_THRESHOLD));
      }
    });
    this.setTops(top, loss, count);
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
    const out = bottom[0].diff;
    const inner = this.inner;
    const count = this.forEachLabel(bottom[1].data, C, (l, base) => {
      const s = this.sumRows[l];
      for (let k = 0; k < C; k++) {
        const idx = base + k * inner;
        out[idx] = prob[idx] * s - h[l * C + k];
      }
    }, out);
    this.scaleDiff(top, out, count);
  }
}

registerLayer('InfogainLoss', InfogainLossLayer);
