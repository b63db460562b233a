// MultiBoxLoss (SSD fork): the SSD training objective over location predictions [N, P*L*4],
// confidences [N, P*C], priors [1, 2, P*4] and ground truth [1, 1, G, 8] rows
// (item, label, instance, xmin, ymin, xmax, ymax, difficult; item -1 = padding).
// Priors (or decoded predictions) are matched to ground truth, negatives are mined
// (MAX_NEGATIVE: the highest-loss unmatched priors, neg_pos_ratio per positive; HARD_EXAMPLE:
// the sample_size highest-loss priors, optionally after NMS), then
//   loss = loc_weight * locLoss / normalizer  (when propagate_down[0])
//        + confLoss / normalizer              (when propagate_down[1])
// with SmoothL1 or L2 on the encoded boxes and softmax or logistic cross-entropy on the scores.
// As in the fork, the layer's own propagate_down (default true, true, false, false) decides which
// terms the forward loss holds.
// Where the fork slips we do what it evidently means: its match state piles up over forward calls
// until a backward (here each forward starts afresh), and with LOGISTIC confidences and mining
// NONE it writes image i's targets at offset i*P instead of i*P*C (here i*P*C).
import type { Blob } from '../graph/blob.js';
import { decodeBox, encodeBox, matchBoxes, nmsByScore } from '../detection/bbox.js';
import { has, Layer, paramOf } from './layer.js';
import { registerLayer } from './registry.js';
import { smoothL1, smoothL1Grad } from './smooth-l1-loss.js';

const L2 = 0;
const SOFTMAX = 0;
const BIPARTITE = 0;
const MINING_NONE = 0;
const MAX_NEGATIVE = 1;
const HARD_EXAMPLE = 2;
// LossParameter.NormalizationMode
const FULL = 0;
const VALID = 1;
const BATCH_SIZE = 2;
const FLT_MIN = 1.1754943508222875e-38;

interface GroundTruth {
  boxes: Float32Array;
  labels: number[];
}

/** Per image: match key (-1 when locations are shared, else the class) -> per-prior match. */
type Matches = Map<number, Int32Array>;

export class MultiBoxLossLayer extends Layer {
  private p: any;
  private numClasses = 0;
  private shareLocation = true;
  private locClasses = 1;
  private background = 0;
  private mining = MAX_NEGATIVE;
  private normalization = VALID;
  private propagate: boolean[] = [true, true, false, false];
  // State of the last forward, read by backward.
  private matches: Matches[] = [];
  private negatives: number[][] = [];
  private numMatches = 0;
  private numConf = 0;
  private locPred: Float32Array<ArrayBufferLike> = new Float32Array(0);
  private locGt: Float32Array<ArrayBufferLike> = new Float32Array(0);
  /** Confidence rows fed to the loss (mined rows, or every prior when mining is off). */
  private confPred: Float32Array<ArrayBufferLike> = new Float32Array(0);
  /** Softmax: one label per row; logistic: one 0/1 target per row and class. */
  private confGt: Float32Array<ArrayBufferLike> = new Float32Array(0);
  private num = 0;
  private numPriors = 0;

  override get type(): string {
    return 'MultiBoxLoss';
  }
  override exactNumBottomBlobs(): number {
    return 4;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }
  override autoTopBlobs(): boolean {
    return true;
  }
  override allowForceBackward(bottomIndex: number): boolean {
    return bottomIndex < 2;
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    const lw: ArrayLike<number> = this.param.loss_weight ?? [];
    if (lw.length === 0) this.param.loss_weight = Float32Array.of(1);
    const pd: boolean[] = this.param.propagate_down ?? [];
    if (pd.length > 0) this.propagate = Array.from(pd);
    const p = paramOf(this.param, 'multibox_loss_param', 'MultiBoxLossParameter');
    this.p = p;
    this.check(has(p, 'num_classes'), 'must provide num_classes');
    this.numClasses = p.num_classes;
    this.check(this.numClasses >= 1, 'num_classes should not be less than 1');
    this.shareLocation = p.share_location;
    this.locClasses = this.shareLocation ? 1 : this.numClasses;
    this.background = p.background_label_id;
    this.mining = p.mining_type;
    if (has(p, 'do_neg_mining')) {
      this.check(p.do_neg_mining === (this.mining !== MINING_NONE),
        'do_neg_mining (deprecated) disagrees with mining_type');
    }
    const lp = paramOf(this.param, 'loss_param', 'LossParameter');
    this.normalization = !has(lp, 'normalization') && has(lp, 'normalize') ? (lp.normalize ? VALID : BATCH_SIZE) : lp.normalization;
    if (this.mining !== MINING_NONE) this.check(this.shareLocation, 'negative mining needs share_location: true');
    if (p.conf_loss_type === SOFTMAX) {
      this.check(this.background >= 0 && this.background < this.numClasses,
        () => `background_label_id ${this.background} should be within [0, num_classes) for SOFTMAX`);
    }
    if (p.map_object_to_agnostic) {
      this.check(this.numClasses === (this.background >= 0 ? 2 : 1), 'map_object_to_agnostic needs num_classes 2 (1 without background)');
    }
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const [loc, conf, prior, gt] = bottom;
    this.num = loc.shape[0];
    this.check(conf.shape[0] === this.num, () => `loc and conf disagree on the batch: ${loc.shapeString()} vs ${conf.shapeString()}`);
    this.check(prior.numAxes >= 3, () => `the priors input must be [1, 2, 4 * priors], got ${prior.shapeString()}`);
    this.numPriors = prior.shape[2] / 4;
    this.check(Number.isInteger(this.numPriors), () => `the priors input ${prior.shapeString()} does not hold whole boxes`);
    this.check(loc.countRange(1) === this.numPriors * this.locClasses * 4,
      () => `the location input ${loc.shapeString()} should hold ${this.numPriors} priors x ${this.locClasses} x 4 values per image`);
    this.check(conf.countRange(1) === this.numPriors * this.numClasses,
      () => `the confidence input ${conf.shapeString()} should hold ${this.numPriors} priors x ${this.numClasses} classes per image`);
    this.check(gt.count % 8 === 0 && gt.shape[gt.numAxes - 1] === 8,
      () => `the ground truth must be rows of 8 values, got ${gt.shapeString()}`);
    top[0].reshape([]);
  }

  private normalizer(): number {
    const n = this.normalization;
    const v = n === FULL ? this.num * this.numPriors
      : n === VALID ? this.numMatches
        : n === BATCH_SIZE ? this.num : 1;
    return Math.max(1, v);
  }

  private groundTruth(gt: Float32Array): Map<number, GroundTruth> {
    const byItem = new Map<number, { boxes: number[]; labels: number[] }>();
    for (let r = 0; r < gt.length / 8; r++) {
      const o = r * 8;
      const item = Math.trunc(gt[o]);
      if (item === -1) continue;
      const label = Math.trunc(gt[o + 1]);
      this.check(label !== this.background, () => `ground truth row ${r} has the background label ${label}`);
      // With map_object_to_agnostic every object label counts as one class.
      this.check(label >= 0 && (this.p.map_object_to_agnostic || label < this.numClasses),
        () => `ground truth row ${r} has label ${label}, outside [0, ${this.numClasses})`);
      this.check(item >= 0 && item < this.num, () => `ground truth row ${r} names image ${item}, the batch has ${this.num}`);
      const difficult = gt[o + 7] !== 0;
      if (!this.p.use_difficult_gt && difficult) continue;
      let g = byItem.get(item);
      if (!g) byItem.set(item, (g = { boxes: [], labels: [] }));
      g.boxes.push(gt[o + 3], gt[o + 4], gt[o + 5], gt[o + 6]);
      g.labels.push(label);
    }
    const out = new Map<number, GroundTruth>();
    for (const [k, g] of byItem) out.set(k, { boxes: Float32Array.from(g.boxes), labels: g.labels });
    return out;
  }

  /** Location predictions of image i for location class c, as rows of 4. */
  private locRows(loc: Float32Array, i: number, c: number): Float32Array {
    const P = this.numPriors;
    const L = this.locClasses;
    const out = new Float32Array(P * 4);
    for (let p = 0; p < P; p++) out.set(loc.subarray(((i * P + p) * L + c) * 4, ((i * P + p) * L + c) * 4 + 4), p * 4);
    return out;
  }

  private decodeAll(rows: Float32Array, priors: Float32Array, variances: Float32Array): Float32Array {
    const out = new Float32Array(rows.length);
    try {
      for (let p = 0; p < this.numPriors; p++) decodeBox(priors, variances, p, this.p.code_type, this.p.encode_variance_in_target, rows, p, out, p);
    } catch (e) {
      throw this.error((e as Error).message);
    }
    return out;
  }

  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    const p = this.p;
    const P = this.numPriors;
    const C = this.numClasses;
    const num = this.num;
    const loc = bottom[0].data;
    const conf = bottom[1].data;
    const priors = bottom[2].data.subarray(0, P * 4);
    const variances = bottom[2].data.subarray(P * 4, P * 8);
    const gts = this.groundTruth(bottom[3].data);
    const locKey = (c: number) => (this.shareLocation ? 0 : c);

    // Matching.
    this.matches = [];
    const allOverlaps: Map<number, Float32Array>[] = [];
    for (let i = 0; i < num; i++) {
      const m: Matches = new Map();
      const ov = new Map<number, Float32Array>();
      const g = gts.get(i);
      if (g) {
        const all = g.labels.map((_, k) => k);
        const perPred = p.match_type !== BIPARTITE;
        if (!p.use_prior_for_matching) {
          for (let c = 0; c < this.locClasses; c++) {
            const key = this.shareLocation ? -1 : c;
            if (!this.shareLocation && key === this.background) continue;
            const decoded = this.decodeAll(this.locRows(loc, i, c), priors, variances);
            const which = key === -1 ? all : all.filter((k) => g.labels[k] === key);
            const r = matchBoxes(g.boxes, which, decoded, P, perPred, p.overlap_threshold, p.ignore_cross_boundary_bbox);
            m.set(key, r.indices);
            ov.set(key, r.overlaps);
          }
        } else {
          const r = matchBoxes(g.boxes, all, priors, P, perPred, p.overlap_threshold, p.ignore_cross_boundary_bbox);
          if (this.shareLocation) {
            m.set(-1, r.indices);
            ov.set(-1, r.overlaps);
          } else {
            for (let c = 0; c < this.locClasses; c++) {
              if (c === this.background) continue;
              const idx = new Int32Array(P).fill(-1);
              for (let k = 0; k < P; k++) if (r.indices[k] > -1 && g.labels[r.indices[k]] === c) idx[k] = r.indices[k];
              m.set(c, idx);
              ov.set(c, r.overlaps);
            }
          }
        }
      }
      this.matches.push(m);
      allOverlaps.push(ov);
    }
    let numMatches = 0;
    for (const m of this.matches) for (const idx of m.values()) for (const v of idx) if (v > -1) numMatches++;

    // Mining.
    this.negatives = this.matches.map(() => []);
    let numNegs = 0;
    if (this.mining !== MINING_NONE) {
      const confLoss = this.priorConfLosses(conf, gts);
      let locLoss: Float32Array[] | null = null;
      if (this.mining === HARD_EXAMPLE) {
        const [pred, gtEnc] = this.encodeLoc(loc, gts, priors, variances, numMatches);
        locLoss = [];
        let k = 0;
        for (let i = 0; i < num; i++) {
          const l = new Float32Array(P);
          for (const idx of this.matches[i].values()) {
            for (let j = 0; j < P; j++) {
              if (idx[j] <= -1) continue;
              let s = 0;
              for (let d = 0; d < 4; d++) {
                const v = Math.fround(pred[k * 4 + d] - gtEnc[k * 4 + d]);
                s = Math.fround(s + (p.loc_loss_type === L2 ? 0.5 * v * v : smoothL1(v)));
              }
              l[j] = s;
              k++;
            }
          }
          locLoss.push(l);
        }
      }
      const hasNms = has(p, 'nms_param');
      const nmsThreshold = hasNms ? p.nms_param.nms_threshold : 0;
      const topK = hasNms ? (p.nms_param.top_k ?? 0) : -1;
      for (let i = 0; i < num; i++) {
        const loss = new Float32Array(P);
        for (let j = 0; j < P; j++) loss[j] = confLoss[i][j] + (locLoss ? locLoss[i][j] : 0);
        const sel = new Set<number>();
        const neg: number[] = [];
        for (const [key, idx] of this.matches[i]) {
          const overlaps = allOverlaps[i].get(key)!;
          const eligible = (j: number) => this.mining === HARD_EXAMPLE || (idx[j] === -1 && overlaps[j] < p.neg_overlap);
          const cand: number[] = [];
          for (let j = 0; j < P; j++) if (eligible(j)) cand.push(j);
          let numSel = cand.length;
          if (this.mining === MAX_NEGATIVE) {
            let numPos = 0;
            for (let j = 0; j < P; j++) if (idx[j] > -1) numPos++;
            numSel = Math.min(Math.trunc(Math.fround(numPos * p.neg_pos_ratio)), numSel);
          } else {
            this.check(p.sample_size > 0, 'sample_size must be positive for HARD_EXAMPLE mining');
            numSel = Math.min(p.sample_size, numSel);
          }
          if (hasNms && nmsThreshold > 0) {
            const boxes = p.use_prior_for_nms ? priors : this.decodeAll(this.locRows(loc, i, locKey(key)), priors, variances);
            const selBoxes = new Float32Array(cand.length * 4);
            const selLoss = new Float32Array(cand.length);
            cand.forEach((j, n) => {
              selBoxes.set(boxes.subarray(j * 4, j * 4 + 4), n * 4);
              selLoss[n] = loss[j];
            });
            const kept = nmsByScore(selBoxes, selLoss, nmsThreshold, topK);
            numSel = Math.min(kept.length, numSel);
            for (let n = 0; n < numSel; n++) sel.add(cand[kept[n]]);
          } else {
            const order = cand.slice().sort((a, b) => loss[b] - loss[a] || a - b);
            for (let n = 0; n < numSel; n++) sel.add(order[n]);
          }
          for (let j = 0; j < P; j++) {
            if (idx[j] > -1) {
              if (this.mining === HARD_EXAMPLE && !sel.has(j)) {
                idx[j] = -1;
                numMatches--;
              }
            } else if (idx[j] === -1 && sel.has(j)) {
              neg.push(j);
              numNegs++;
            }
          }
        }
        this.negatives[i] = neg;
      }
    }
    this.numMatches = numMatches;

    // Location loss.
    let locLossValue = 0;
    if (numMatches >= 1) {
      [this.locPred, this.locGt] = this.encodeLoc(loc, gts, priors, variances, numMatches);
      for (let k = 0; k < this.locPred.length; k++) {
        const d = Math.fround(this.locPred[k] - this.locGt[k]);
        locLossValue += p.loc_loss_type === L2 ? d * d : smoothL1(d);
      }
      if (p.loc_loss_type === L2) locLossValue /= 2;
    }

    // Confidence loss.
    const mined = this.mining !== MINING_NONE;
    this.numConf = mined ? numMatches + numNegs : num * P;
    let confLossValue = 0;
    if (this.numConf >= 1) {
      this.encodeConf(conf, gts, mined);
      confLossValue = this.confLossValue();
    }

    const norm = this.normalizer();
    let loss = 0;
    if (this.propagate[0]) loss += Math.fround(p.loc_weight * Math.fround(locLossValue)) / norm;
    if (this.propagate[1]) loss += Math.fround(confLossValue) / norm;
    top[0].data[0] = loss;
  }

  /** Matched predictions and their encoded ground truth, as rows of 4 in match order. */
  private encodeLoc(loc: Float32Array, gts: Map<number, GroundTruth>, priors: Float32Array, variances: Float32Array, n: number): [Float32Array, Float32Array] {
    const p = this.p;
    const pred = new Float32Array(n * 4);
    const gtEnc = new Float32Array(n * 4);
    const P = this.numPriors;
    let k = 0;
    for (let i = 0; i < this.num; i++) {
      for (const [key, idx] of this.matches[i]) {
        const c = this.shareLocation ? 0 : key;
        const rows = this.locRows(loc, i, c);
        const decoded = p.bp_inside && !p.use_prior_for_matching ? this.decodeAll(rows, priors, variances) : null;
        for (let j = 0; j < P; j++) {
          if (idx[j] <= -1) continue;
          try {
            encodeBox(priors, variances, j, p.code_type, p.encode_variance_in_target, gts.get(i)!.boxes, idx[j], gtEnc, k);
          } catch (e) {
            throw this.error((e as Error).message);
          }
          for (let d = 0; d < 4; d++) {
            let v = rows[j * 4 + d];
            if (p.bp_inside) {
              // A coordinate of the matched box outside the image gets no gradient.
              const m = decoded ? decoded[j * 4 + d] : priors[j * 4 + d];
              if (m < 0 || m > 1) v = gtEnc[k * 4 + d];
            }
            pred[k * 4 + d] = v;
            if (p.encode_variance_in_target) {
              pred[k * 4 + d] /= variances[j * 4 + d];
              gtEnc[k * 4 + d] /= variances[j * 4 + d];
            }
          }
          k++;
        }
      }
    }
    return [pred, gtEnc];
  }

  /** The class a prior of image i is matched to (background when none). */
  private priorLabel(i: number, j: number, gts: Map<number, GroundTruth>): number {
    for (const idx of this.matches[i].values()) {
      if (idx[j] > -1) return this.p.map_object_to_agnostic ? this.background + 1 : gts.get(i)!.labels[idx[j]];
    }
    return this.background;
  }

  /** Per image and prior, the confidence loss against its matched label (for mining). */
  private priorConfLosses(conf: Float32Array, gts: Map<number, GroundTruth>): Float32Array[] {
    const P = this.numPriors;
    const C = this.numClasses;
    const out: Float32Array[] = [];
    for (let i = 0; i < this.num; i++) {
      const l = new Float32Array(P);
      for (let j = 0; j < P; j++) {
        const label = this.priorLabel(i, j, gts);
        const o = (i * P + j) * C;
        if (this.p.conf_loss_type === SOFTMAX) {
          l[j] = softmaxLoss(conf, o, C, label);
        } else {
          let s = 0;
          for (let c = 0; c < C; c++) s += logisticLoss(conf[o + c], c === label ? 1 : 0);
          l[j] = s;
        }
      }
      out.push(l);
    }
    return out;
  }

  private encodeConf(conf: Float32Array, gts: Map<number, GroundTruth>, mined: boolean): void {
    const P = this.numPriors;
    const C = this.numClasses;
    const softmax = this.p.conf_loss_type === SOFTMAX;
    const agnostic = this.p.map_object_to_agnostic;
    this.confPred = mined ? new Float32Array(this.numConf * C) : conf;
    // The fork starts every target at background_label_id, for logistic targets too.
    this.confGt = new Float32Array(softmax ? this.numConf : this.numConf * C).fill(this.background);
    const gtOut = this.confGt;
    let row = 0;
    const put = (r: number, label: number) => {
      if (softmax) gtOut[r] = label;
      else if (label >= 0 && label < C) gtOut[r * C + label] = 1;
    };
    for (let i = 0; i < this.num; i++) {
      const g = gts.get(i);
      if (!g) continue;
      for (const idx of this.matches[i].values()) {
        for (let j = 0; j < P; j++) {
          if (idx[j] <= -1) continue;
          const label = agnostic ? this.background + 1 : g.labels[idx[j]];
          if (mined) {
            put(row, label);
            this.confPred.set(conf.subarray((i * P + j) * C, (i * P + j + 1) * C), row * C);
            row++;
          } else {
            put(i * P + j, label);
          }
        }
      }
      if (mined) {
        for (const j of this.negatives[i]) {
          this.confPred.set(conf.subarray((i * P + j) * C, (i * P + j + 1) * C), row * C);
          put(row, this.background);
          row++;
        }
      }
    }
  }

  private confLossValue(): number {
    const C = this.numClasses;
    let s = 0;
    if (this.p.conf_loss_type === SOFTMAX) {
      for (let r = 0; r < this.numConf; r++) s += softmaxLoss(this.confPred, r * C, C, this.confGt[r]);
    } else {
      for (let k = 0; k < this.numConf * C; k++) s += logisticLoss(this.confPred[k], this.confGt[k]);
    }
    return s;
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    this.check(!propagateDown[2], 'cannot backpropagate to the prior input');
    this.check(!propagateDown[3], 'cannot backpropagate to the label input');
    const P = this.numPriors;
    const C = this.numClasses;
    const L = this.locClasses;
    const scale = top[0].diff[0] / this.normalizer();
    if (propagateDown[0]) {
      const out = bottom[0].diff;
      out.fill(0);
      if (this.numMatches >= 1) {
        const w = this.p.loc_weight;
        const l2 = this.p.loc_loss_type === L2;
        let k = 0;
        for (let i = 0; i < this.num; i++) {
          for (const [key, idx] of this.matches[i]) {
            const c = this.shareLocation ? 0 : key;
            for (let j = 0; j < P; j++) {
              if (idx[j] <= -1) continue;
              for (let d = 0; d < 4; d++) {
                const diff = Math.fround(this.locPred[k * 4 + d] - this.locGt[k * 4 + d]);
                out[((i * P + j) * L + c) * 4 + d] = Math.fround(w * (l2 ? diff : smoothL1Grad(diff))) * scale;
              }
              k++;
            }
          }
        }
      }
    }
    if (propagateDown[1]) {
      const out = bottom[1].diff;
      out.fill(0);
      if (this.numConf >= 1) {
        const grad = new Float32Array(this.numConf * C);
        const softmax = this.p.conf_loss_type === SOFTMAX;
        for (let r = 0; r < this.numConf; r++) {
          if (softmax) softmaxGrad(this.confPred, r * C, C, this.confGt[r], grad);
          else for (let c = 0; c < C; c++) grad[r * C + c] = sigmoid(this.confPred[r * C + c]) - this.confGt[r * C + c];
        }
        for (let k = 0; k < grad.length; k++) grad[k] *= scale;
        if (this.mining === MINING_NONE) {
          out.set(grad);
        } else {
          let row = 0;
          for (let i = 0; i < this.num; i++) {
            for (const idx of this.matches[i].values()) {
              for (let j = 0; j < P; j++) {
                if (idx[j] <= -1) continue;
                out.set(grad.subarray(row * C, (row + 1) * C), (i * P + j) * C);
                row++;
              }
            }
            for (const j of this.negatives[i]) {
              out.set(grad.subarray(row * C, (row + 1) * C), (i * P + j) * C);
              row++;
            }
          }
        }
      }
    }
  }
}

/** -log softmax(x[o..o+C))[label], the probability floored at FLT_MIN as Caffe's SoftmaxWithLoss. */
function softmaxLoss(x: ArrayLike<number>, o: number, C: number, label: number): number {
  let max = x[o];
  for (let c = 1; c < C; c++) max = Math.max(max, x[o + c]);
  let sum = 0;
  for (let c = 0; c < C; c++) sum += Math.fround(Math.exp(x[o + c] - max));
  const prob = Math.fround(Math.fround(Math.exp(x[o + label] - max)) / Math.fround(sum));
  return -Math.log(Math.max(prob, FLT_MIN));
}

function softmaxGrad(x: ArrayLike<number>, o: number, C: number, label: number, out: Float32Array): void {
  let max = x[o];
  for (let c = 1; c < C; c++) max = Math.max(max, x[o + c]);
  let sum = 0;
  for (let c = 0; c < C; c++) {
    out[o + c] = Math.exp(x[o + c] - max);
    sum += out[o + c];
  }
  for (let c = 0; c < C; c++) out[o + c] /= sum;
  out[o + label] -= 1;
}

/** Sigmoid cross-entropy of one logit against a 0/1 target, in Caffe's stable form. */
function logisticLoss(x: number, t: number): number {
  const pos = x >= 0 ? 1 : 0;
  return -(x * (t - pos) - Math.log(1 + Math.exp(x - 2 * x * pos)));
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

registerLayer('MultiBoxLoss', MultiBoxLossLayer);
