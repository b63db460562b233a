// Box math of the SSD fork (its bbox_util), shared by DetectionOutput, MultiBoxLoss and `detect`.
// Boxes are rows of 4 floats (xmin, ymin, xmax, ymax) in a Float32Array, relative to the image.
// The fork computes in float32 (NormalizedBBox holds floats): the arithmetic below rounds where
// it rounds, so that thresholds (IoU against nms_threshold, scores against confidence_threshold)
// decide as they do there.

const f = Math.fround;

/** The fork's PriorBoxParameter.CodeType. */
export const CORNER = 1;
export const CENTER_SIZE = 2;
export const CORNER_SIZE = 3;

/** Area of a box, 0 when it is inverted (the fork's BBoxSize, normalized). */
export function boxSize(b: ArrayLike<number>, i: number): number {
  const o = i * 4;
  if (b[o + 2] < b[o] || b[o + 3] < b[o + 1]) return 0;
  return f(f(b[o + 2] - b[o]) * f(b[o + 3] - b[o + 1]));
}

/** Intersection over union of box i of `a` and box j of `b` (the fork's JaccardOverlap). */
export function jaccard(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number): number {
  const p = i * 4;
  const q = j * 4;
  if (b[q] > a[p + 2] || b[q + 2] < a[p] || b[q + 1] > a[p + 3] || b[q + 3] < a[p + 1]) return 0;
  const iw = f(Math.min(a[p + 2], b[q + 2]) - Math.max(a[p], b[q]));
  const ih = f(Math.min(a[p + 3], b[q + 3]) - Math.max(a[p + 1], b[q + 1]));
  if (!(iw > 0 && ih > 0)) return 0;
  const inter = f(iw * ih);
  return f(inter / f(f(boxSize(a, i) + boxSize(b, j)) - inter));
}

/** Clamps every coordinate of box i to [0, 1] in place. */
export function clipBox(b: Float32Array, i: number): void {
  for (let k = i * 4; k < i * 4 + 4; k++) b[k] = Math.min(Math.max(b[k], 0), 1);
}

/**
 * Decodes location prediction `li` of `loc` against prior `pi` (with variance row `pi` of
 * `variances`) into row `oi` of `out` (the fork's DecodeBBox).
 */
export function decodeBox(
  priors: ArrayLike<number>, variances: ArrayLike<number>, pi: number,
  codeType: number, varianceInTarget: boolean,
  loc: ArrayLike<number>, li: number, out: Float32Array, oi: number,
): void {
  const p = pi * 4;
  const l = li * 4;
  const o = oi * 4;
  const v0 = varianceInTarget ? 1 : variances[p];
  const v1 = varianceInTarget ? 1 : variances[p + 1];
  const v2 = varianceInTarget ? 1 : variances[p + 2];
  const v3 = varianceInTarget ? 1 : variances[p + 3];
  const [pxmin, pymin, pxmax, pymax] = [priors[p], priors[p + 1], priors[p + 2], priors[p + 3]];
  if (codeType === CORNER) {
    out[o] = f(pxmin + f(v0 * loc[l]));
    out[o + 1] = f(pymin + f(v1 * loc[l + 1]));
    out[o + 2] = f(pxmax + f(v2 * loc[l + 2]));
    out[o + 3] = f(pymax + f(v3 * loc[l + 3]));
    return;
  }
  const pw = f(pxmax - pxmin);
  const ph = f(pymax - pymin);
  if (!(pw > 0 && ph > 0)) throw new RangeError(`prior box ${pi} has no area (${pxmin}, ${pymin}, ${pxmax}, ${pymax})`);
  if (codeType === CENTER_SIZE) {
    const pcx = f(f(pxmin + pxmax) / 2);
    const pcy = f(f(pymin + pymax) / 2);
    const cx = f(f(f(v0 * loc[l]) * pw) + pcx);
    const cy = f(f(f(v1 * loc[l + 1]) * ph) + pcy);
    const w = f(Math.exp(f(v2 * loc[l + 2])) * pw);
    const h = f(Math.exp(f(v3 * loc[l + 3])) * ph);
    out[o] = cx - w / 2;
    out[o + 1] = cy - h / 2;
    out[o + 2] = cx + w / 2;
    out[o + 3] = cy + h / 2;
    return;
  }
  if (codeType === CORNER_SIZE) {
    out[o] = f(pxmin + f(f(v0 * loc[l]) * pw));
    out[o + 1] = f(pymin + f(f(v1 * loc[l + 1]) * ph));
    out[o + 2] = f(pxmax + f(f(v2 * loc[l + 2]) * pw));
    out[o + 3] = f(pymax + f(f(v3 * loc[l + 3]) * ph));
    return;
  }
  throw new RangeError(`unknown code_type ${codeType}`);
}

/**
 * Indices of the scores above `threshold` (strictly), best first, ties in index order, at most
 * `topK` of them when topK > -1 (the fork's GetMaxScoreIndex).
 */
export function maxScoreIndices(scores: ArrayLike<number>, threshold: number, topK: number): number[] {
  const idx: number[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i] > threshold) idx.push(i);
  idx.sort((a, b) => scores[b] - scores[a] || a - b);
  if (topK > -1 && topK < idx.length) idx.length = topK;
  return idx;
}

/**
 * Greedy non-maximum suppression (the fork's ApplyNMSFast): candidates above `scoreThreshold`,
 * the best `topK` of them, each kept unless it overlaps a kept box by more than the threshold;
 * with eta < 1 the threshold shrinks by eta after each kept box while it is above 0.5.
 */
export function nms(
  boxes: ArrayLike<number>, scores: ArrayLike<number>, scoreThreshold: number,
  nmsThreshold: number, eta: number, topK: number,
): number[] {
  const order = maxScoreIndices(scores, scoreThreshold, topK);
  let threshold = nmsThreshold;
  const kept: number[] = [];
  for (const i of order) {
    let keep = true;
    for (const k of kept) {
      if (jaccard(boxes, i, boxes, k) > threshold) {
        keep = false;
        break;
      }
    }
    if (keep) {
      kept.push(i);
      if (eta < 1 && threshold > 0.5) threshold = f(threshold * eta);
    }
  }
  return kept;
}
