// Faster R-CNN's region proposal layer (py-faster-rcnn's Python layer: module
// "rpn.proposal_layer", class "ProposalLayer"), in TypeScript, as a layer of your own.
// bottoms: RPN foreground/background probabilities (1, 2A, H, W), box deltas (1, 4A, H, W), and
// im_info (height, width, scale); top: rois (R, 5) = (0, x1, y1, x2, y2), optionally scores (R, 1).
// As py-faster-rcnn: A = 9 anchors (generate_anchors: base 16, ratios 0.5/1/2, scales 8/16/32) at
// every feat_stride (param_str "'feat_stride': 16") step; deltas applied (bbox_transform_inv),
// boxes clipped to the image, those with a side under RPN_MIN_SIZE * scale dropped, the best
// RPN_PRE_NMS_TOP_N by score kept, greedy NMS at RPN_NMS_THRESH, then RPN_POST_NMS_TOP_N kept
// (its cfg defaults, TRAIN and TEST by the layer's phase). Equal scores keep anchor order (numpy's
// argsort leaves their order unspecified). No backward, as in py-faster-rcnn.
import { Blob, Layer, registerLayer, TRAIN } from '../src/index.js';
import { parseParamStr } from './param-str.js';

/** py-faster-rcnn's cfg.TRAIN / cfg.TEST RPN settings. */
export const RPN_CONFIG = {
  TRAIN: { preNmsTopN: 12000, postNmsTopN: 2000, nmsThresh: 0.7, minSize: 16 },
  TEST: { preNmsTopN: 6000, postNmsTopN: 300, nmsThresh: 0.7, minSize: 16 },
};

/** numpy's round: halves to even. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The reference boxes (x1, y1, x2, y2) around (0, 0, base - 1, base - 1), ratio-major. */
export function generateAnchors(base = 16, ratios = [0.5, 1, 2], scales = [8, 16, 32]): number[][] {
  const ctr = 0.5 * (base - 1);
  const box = (w: number, h: number) => [ctr - 0.5 * (w - 1), ctr - 0.5 * (h - 1), ctr + 0.5 * (w - 1), ctr + 0.5 * (h - 1)];
  const out: number[][] = [];
  for (const r of ratios) {
    const w = roundHalfEven(Math.sqrt((base * base) / r));
    const h = roundHalfEven(w * r);
    for (const s of scales) out.push(box(w * s, h * s));
  }
  return out;
}

/** Greedy non-maximum suppression over boxes sorted by descending score: the indices kept. */
export function nms(boxes: Float64Array, n: number, thresh: number): number[] {
  const area = (i: number) => (boxes[4 * i + 2] - boxes[4 * i] + 1) * (boxes[4 * i + 3] - boxes[4 * i + 1] + 1);
  const suppressed = new Uint8Array(n);
  const keep: number[] = [];
  for (let i = 0; i < n; i++) {
    if (suppressed[i]) continue;
    keep.push(i);
    for (let j = i + 1; j < n; j++) {
      if (suppressed[j]) continue;
      const w = Math.max(0, Math.min(boxes[4 * i + 2], boxes[4 * j + 2]) - Math.max(boxes[4 * i], boxes[4 * j]) + 1);
      const h = Math.max(0, Math.min(boxes[4 * i + 3], boxes[4 * j + 3]) - Math.max(boxes[4 * i + 1], boxes[4 * j + 1]) + 1);
      const inter = w * h;
      if (inter / (area(i) + area(j) - inter) > thresh) suppressed[j] = 1;
    }
  }
  return keep;
}

export class ProposalLayer extends Layer {
  private featStride = 16;
  private anchors = generateAnchors();

  get type(): string {
    return 'Python';
  }
  override exactNumBottomBlobs(): number {
    return 3;
  }
  override minTopBlobs(): number {
    return 1;
  }
  override maxTopBlobs(): number {
    return 2;
  }

  override layerSetUp(): void {
    const p = parseParamStr(this.param.python_param?.param_str ?? '');
    this.featStride = Number(p.get('feat_stride'));
    this.check(this.featStride > 0, () => `param_str must give a positive 'feat_stride', got "${this.param.python_param?.param_str ?? ''}"`);
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const A = this.anchors.length;
    const [scores, deltas, info] = bottom;
    this.check(scores.numAxes === 4 && scores.shape[0] === 1 && scores.shape[1] === 2 * A,
      () => `the scores must be (1, ${2 * A}, H, W), got ${scores.shape.join('x')}`);
    this.check(deltas.numAxes === 4 && deltas.shape[1] === 4 * A && deltas.shape[2] === scores.shape[2] && deltas.shape[3] === scores.shape[3],
      () => `the box deltas must be (1, ${4 * A}, ${scores.shape[2]}, ${scores.shape[3]}), got ${deltas.shape.join('x')}`);
    this.check(info.count >= 3, 'im_info must hold (height, width, scale)');
    // The proposal count is known only after forward, which sizes the tops again.
    top[0].reshape([1, 5]);
    if (top.length > 1) top[1].reshape([1, 1]);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const cfg = this.phase === TRAIN ? RPN_CONFIG.TRAIN : RPN_CONFIG.TEST;
    const A = this.anchors.length;
    const [, , H, W] = bottom[0].shape;
    const probs = bottom[0].data;
    const deltas = bottom[1].data;
    const [imH, imW, imScale] = bottom[2].data;
    const plane = H * W;
    // Proposals in (h, w, a) order, as the Python layer's reshapes give.
    const boxes: number[][] = [];
    const scores: number[] = [];
    const minSize = cfg.minSize * imScale;
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        for (let a = 0; a < A; a++) {
          const [ax1, ay1, ax2, ay2] = this.anchors[a];
          const x1 = ax1 + w * this.featStride;
          const y1 = ay1 + h * this.featStride;
          const bw = ax2 - ax1 + 1;
          const bh = ay2 - ay1 + 1;
          const d = (k: number) => deltas[(4 * a + k) * plane + h * W + w];
          const cx = d(0) * bw + x1 + 0.5 * bw;
          const cy = d(1) * bh + y1 + 0.5 * bh;
          const pw = Math.exp(d(2)) * bw;
          const ph = Math.exp(d(3)) * bh;
          const clip = (v: number, hi: number) => Math.max(Math.min(v, hi - 1), 0);
          const box = [clip(cx - 0.5 * pw, imW), clip(cy - 0.5 * ph, imH), clip(cx + 0.5 * pw, imW), clip(cy + 0.5 * ph, imH)];
          if (box[2] - box[0] + 1 < minSize || box[3] - box[1] + 1 < minSize) continue;
          boxes.push(box);
          scores.push(probs[(A + a) * plane + h * W + w]);
        }
      }
    }
    const order = scores.map((_, i) => i).sort((i, j) => scores[j] - scores[i] || i - j).slice(0, cfg.preNmsTopN);
    const sorted = new Float64Array(order.length * 4);
    order.forEach((i, k) => sorted.set(boxes[i], 4 * k));
    const keep = nms(sorted, order.length, cfg.nmsThresh).slice(0, cfg.postNmsTopN);
    top[0].reshape([keep.length, 5]);
    keep.forEach((k, r) => top[0].data.set([0, ...sorted.subarray(4 * k, 4 * k + 4)], 5 * r));
    if (top.length > 1) {
      top[1].reshape([keep.length, 1]);
      keep.forEach((k, r) => (top[1].data[r] = scores[order[k]]));
    }
  }
}

registerLayer('rpn.proposal_layer.ProposalLayer', ProposalLayer);
