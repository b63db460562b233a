// DetectionOutput (SSD fork): decodes the location predictions against the priors, runs NMS per
// class and image, keeps the best keep_top_k per image, and writes one row per detection:
// [image, label, score, xmin, ymin, xmax, ymax] in a [1, 1, rows, 7] top. As in the fork: a
// score must exceed confidence_threshold strictly, top_k applies before NMS, rows go by image,
// then label, then score; when the whole batch has no detection the top holds one row
// [image, -1, -1, -1, -1, -1, -1] per image. `clip` (OpenCV's field) clamps decoded boxes to the
// image before NMS. The fork's saving and visualising of results are not supported.
import type { Blob } from '../graph/blob.js';
import { clipBox, decodeBox, nms } from '../detection/bbox.js';
import { has, Layer, paramOf } from './layer.js';
import { registerLayer } from './registry.js';

export class DetectionOutputLayer extends Layer {
  private numClasses = 0;
  private shareLocation = true;
  private numLocClasses = 1;
  private background = 0;
  private codeType = 1;
  private varianceInTarget = false;
  private keepTopK = -1;
  private confidenceThreshold = -Number.MAX_VALUE;
  private nmsThreshold = 0.3;
  private eta = 1;
  private topK = -1;
  private clip = false;
  private numPriors = 0;

  override get type(): string {
    return 'DetectionOutput';
  }
  override exactNumBottomBlobs(): number {
    return 3;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }
  override allowForceBackward(_bottomIndex: number): boolean {
    return false;
  }

  override layerSetUp(_bottom: Blob[], _top: Blob[]): void {
    const p = paramOf(this.param, 'detection_output_param', 'DetectionOutputParameter');
    this.check(has(p, 'num_classes'), 'must specify num_classes');
    this.numClasses = p.num_classes;
    this.check(this.numClasses > 0, 'num_classes must be positive');
    this.shareLocation = p.share_location;
    this.numLocClasses = this.shareLocation ? 1 : this.numClasses;
    this.background = p.background_label_id;
    this.codeType = p.code_type;
    this.varianceInTarget = p.variance_encoded_in_target;
    this.keepTopK = p.keep_top_k;
    this.confidenceThreshold = has(p, 'confidence_threshold') ? p.confidence_threshold : -3.4028234663852886e38;
    const np = paramOf(p, 'nms_param', 'NonMaximumSuppressionParameter');
    this.nmsThreshold = np.nms_threshold;
    this.check(this.nmsThreshold >= 0, () => `nms_threshold must be non negative, got ${this.nmsThreshold}`);
    this.eta = np.eta;
    this.check(this.eta > 0 && this.eta <= 1, () => `eta must be in (0, 1], got ${this.eta}`);
    this.topK = has(np, 'top_k') ? np.top_k : -1;
    this.clip = p.clip;
    const save = p.save_output_param;
    this.check(!save?.output_directory, 'saving detections (save_output_param.output_directory) is not supported');
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const [loc, conf, prior] = bottom;
    this.check(prior.numAxes >= 3 && prior.shape[1] === 2,
      () => `the priors input must be [N, 2, 4 * priors], got ${prior.shapeString()}`);
    this.numPriors = prior.shape[2] / 4;
    this.check(Number.isInteger(this.numPriors), () => `the priors input ${prior.shapeString()} does not hold whole boxes`);
    this.check(loc.shape[0] === conf.shape[0], () => `loc and conf disagree on the batch: ${loc.shapeString()} vs ${conf.shapeString()}`);
    this.check(loc.countRange(1) === this.numPriors * this.numLocClasses * 4,
      () => `the location input ${loc.shapeString()} should hold ${this.numPriors} priors x ${this.numLocClasses} x 4 values per image`);
    this.check(conf.countRange(1) === this.numPriors * this.numClasses,
      () => `the confidence input ${conf.shapeString()} should hold ${this.numPriors} priors x ${this.numClasses} classes per image`);
    // The row count is known only after forward; one row until then, as the fork.
    if (top[0].numAxes !== 4 || top[0].shape[3] !== 7) top[0].reshape([1, 1, 1, 7]);
  }

  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    const num = bottom[0].shape[0];
    const P = this.numPriors;
    const C = this.numClasses;
    const L = this.numLocClasses;
    const loc = bottom[0].data;
    const conf = bottom[1].data;
    const priorData = bottom[2].data;
    const priors = priorData.subarray(0, P * 4);
    const variances = priorData.subarray(P * 4, P * 8);
    const scores = new Float32Array(P);
    const perImage: { decoded: Float32Array[]; kept: Map<number, number[]>; conf: number }[] = [];
    let total = 0;
    for (let i = 0; i < num; i++) {
      const confBase = i * P * C;
      const locBase = i * P * L * 4;
      // Decoded boxes per location class (only class 0 when locations are shared).
      const decoded: Float32Array[] = [];
      for (let c = 0; c < L; c++) {
        if (!this.shareLocation && c === this.background) continue;
        const out = new Float32Array(P * 4);
        for (let p = 0; p < P; p++) {
          try {
            decodeBox(priors, variances, p, this.codeType, this.varianceInTarget, loc, (locBase / 4) + p * L + c, out, p);
          } catch (e) {
            throw this.error((e as Error).message);
          }
          if (this.clip) clipBox(out, p);
        }
        decoded[c] = out;
      }
      let kept = new Map<number, number[]>();
      let count = 0;
      for (let c = 0; c < C; c++) {
        if (c === this.background) continue;
        for (let p = 0; p < P; p++) scores[p] = conf[confBase + p * C + c];
        const idx = nms(decoded[this.shareLocation ? 0 : c], scores, this.confidenceThreshold, this.nmsThreshold, this.eta, this.topK);
        kept.set(c, idx);
        count += idx.length;
      }
      if (this.keepTopK > -1 && count > this.keepTopK) {
        const all: [number, number, number][] = [];
        for (const [c, idx] of kept) for (const p of idx) all.push([conf[confBase + p * C + c], c, p]);
        all.sort((a, b) => b[0] - a[0]);
        all.length = this.keepTopK;
        kept = new Map();
        for (const [, c, p] of all) {
          if (!kept.has(c)) kept.set(c, []);
          kept.get(c)!.push(p);
        }
        count = this.keepTopK;
      }
      perImage.push({ decoded, kept, conf: confBase });
      total += count;
    }
    if (total === 0) {
      top[0].reshape([1, 1, num, 7]);
      const out = top[0].data;
      out.fill(-1);
      for (let i = 0; i < num; i++) out[i * 7] = i;
      return;
    }
    top[0].reshape([1, 1, total, 7]);
    const out = top[0].data;
    let r = 0;
    for (let i = 0; i < num; i++) {
      const { decoded, kept, conf: confBase } = perImage[i];
      const labels = [...kept.keys()].sort((a, b) => a - b);
      for (const c of labels) {
        const boxes = decoded[this.shareLocation ? 0 : c];
        for (const p of kept.get(c)!) {
          const o = r++ * 7;
          out[o] = i;
          out[o + 1] = c;
          out[o + 2] = conf[confBase + p * C + c];
          out.set(boxes.subarray(p * 4, p * 4 + 4), o + 3);
        }
      }
    }
  }
}

registerLayer('DetectionOutput', DetectionOutputLayer);
