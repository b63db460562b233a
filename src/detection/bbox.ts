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

/** Prior box `pi` and its 4 variances (all 1 when the variance is encoded in the target). */
function priorOf(priors: ArrayLike<number>, variances: ArrayLike<number>, pi: number, varianceInTarget: boolean) {
  const p = pi * 4;
  const v = varianceInTarget ? [1, 1, 1, 1] : [variances[p], variances[p + 1], variances[p + 2], variances[p + 3]];
  return { xmin: priors[p], ymin: priors[p + 1], xmax: priors[p + 2], ymax: priors[p + 3], v };
}

/** A prior's width, height and centre, in float32 as the fork computes them; it must have area. */
function priorExtent(xmin: number, ymin: number, xmax: number, ymax: number, pi: number) {
  const w = f(xmax - xmin);
  const h = f(ymax - ymin);
  if (!(w > 0 && h > 0)) throw new RangeError(`prior box ${pi} has no area (${xmin}, ${ymin}, ${xmax}, ${ymax})`);
  return { w, h, cx: f(f(xmin + xmax) / 2), cy: f(f(ymin + ymax) / 2) };
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
  const l = li * 4;
  const o = oi * 4;
  const { xmin: pxmin, ymin: pymin, xmax: pxmax, ymax: pymax, v } = priorOf(priors, variances, pi, varianceInTarget);
  const [v0, v1, v2, v3] = v;
  if (codeType === CORNER) {
    out[o] = f(pxmin + f(v0 * loc[l]));
    out[o + 1] = f(pymin + f(v1 * loc[l + 1]));
    out[o + 2] = f(pxmax + f(v2 * loc[l + 2]));
    out[o + 3] = f(pymax + f(v3 * loc[l + 3]));
    return;
  }
  const { w: pw, h: ph, cx: pcx, cy: pcy } = priorExtent(pxmin, pymin, pxmax, pymax, pi);
  if (codeType === CENTER_SIZE) {
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

/**
 * Encodes ground-truth box `gi` of `gt` against prior `pi` into row `oi` of `out`: the target a
 * location prediction should reach (the fork's EncodeBBox, the inverse of decodeBox).
 */
export function encodeBox(
  priors: ArrayLike<number>, variances: ArrayLike<number>, pi: number,
  codeType: number, varianceInTarget: boolean,
  gt: ArrayLike<number>, gi: number, out: Float32Array, oi: number,
): void {
  const g = gi * 4;
  const o = oi * 4;
  const { xmin: pxmin, ymin: pymin, xmax: pxmax, ymax: pymax, v } = priorOf(priors, variances, pi, varianceInTarget);
  if (!v.every((x) => x > 0)) throw new RangeError(`prior ${pi} has a variance that is not positive`);
  const [gxmin, gymin, gxmax, gymax] = [gt[g], gt[g + 1], gt[g + 2], gt[g + 3]];
  if (codeType === CORNER) {
    out[o] = f(f(gxmin - pxmin) / v[0]);
    out[o + 1] = f(f(gymin - pymin) / v[1]);
    out[o + 2] = f(f(gxmax - pxmax) / v[2]);
    out[o + 3] = f(f(gymax - pymax) / v[3]);
    return;
  }
  const { w: pw, h: ph, cx: pcx, cy: pcy } = priorExtent(pxmin, pymin, pxmax, pymax, pi);
  if (codeType === CENTER_SIZE) {
    const gw = f(gxmax - gxmin);
    const gh = f(gymax - gymin);
    if (!(gw > 0 && gh > 0)) throw new RangeError(`ground truth box ${gi} has no area`);
    const gcx = f(f(gxmin + gxmax) / 2);
    const gcy = f(f(gymin + gymax) / 2);
    out[o] = f(f(f(gcx - pcx) / pw) / v[0]);
    out[o + 1] = f(f(f(gcy - pcy) / ph) / v[1]);
    out[o + 2] = Math.log(f(gw / pw)) / v[2];
    out[o + 3] = Math.log(f(gh / ph)) / v[3];
    return;
  }
  if (codeType === CORNER_SIZE) {
    out[o] = f(f(f(gxmin - pxmin) / pw) / v[0]);
    out[o + 1] = f(f(f(gymin - pymin) / ph) / v[1]);
    out[o + 2] = f(f(f(gxmax - pxmax) / pw) / v[2]);
    out[o + 3] = f(f(f(gymax - pymax) / ph) / v[3]);
    return;
  }
  throw new RangeError(`unknown code_type ${codeType}`);
}

/** True when a coordinate of box i lies outside [0, 1] (the fork's IsCrossBoundaryBBox). */
export function crossesBoundary(b: ArrayLike<number>, i: number): boolean {
  for (let k = i * 4; k < i * 4 + 4; k++) if (b[k] < 0 || b[k] > 1) return true;
  return false;
}

/**
 * Matches predicted boxes `pred` (n of them) to ground-truth boxes (the fork's MatchBBox).
 * `gtIndices` are the ground-truth rows to consider. First a bipartite pass gives each ground
 * truth its best free prediction, best pair first; with `perPrediction` every prediction still
 * free then takes the ground truth it overlaps most, if by at least `overlapThreshold`.
 * Returns, per prediction, the matched ground-truth row (-1 none, -2 ignored as crossing the
 * image boundary) and its best overlap.
 */
export function matchBoxes(
  gt: ArrayLike<number>, gtIndices: number[], pred: ArrayLike<number>, n: number,
  perPrediction: boolean, overlapThreshold: number, ignoreCrossBoundary: boolean,
): { indices: Int32Array; overlaps: Float32Array } {
  const indices = new Int32Array(n).fill(-1);
  const overlaps = new Float32Array(n);
  const G = gtIndices.length;
  if (G === 0) return { indices, overlaps };
  // Positive overlaps per prediction: rows of G (0 where none above 1e-6, which the fork skips).
  const ov = new Map<number, Float32Array>();
  for (let i = 0; i < n; i++) {
    if (ignoreCrossBoundary && crossesBoundary(pred, i)) {
      indices[i] = -2;
      continue;
    }
    let row: Float32Array | undefined;
    for (let j = 0; j < G; j++) {
      const o = jaccard(pred, i, gt, gtIndices[j]);
      if (o > 1e-6) {
        overlaps[i] = Math.max(overlaps[i], o);
        row ??= new Float32Array(G);
        row[j] = o;
      }
    }
    if (row) ov.set(i, row);
  }
  const pool = Array.from({ length: G }, (_, j) => j);
  while (pool.length > 0) {
    let best = -1;
    let bestGt = -1;
    let bestOv = -1;
    for (const [i, row] of ov) {
      if (indices[i] !== -1) continue;
      for (const j of pool) {
        if (row[j] > 0 && row[j] > bestOv) {
          best = i;
          bestGt = j;
          bestOv = row[j];
        }
      }
    }
    if (best === -1) break;
    indices[best] = gtIndices[bestGt];
    overlaps[best] = bestOv;
    pool.splice(pool.indexOf(bestGt), 1);
  }
  if (perPrediction) {
    for (const [i, row] of ov) {
      if (indices[i] !== -1) continue;
      let bestGt = -1;
      let bestOv = -1;
      for (let j = 0; j < G; j++) {
        if (row[j] > 0 && row[j] >= overlapThreshold && row[j] > bestOv) {
          bestGt = j;
          bestOv = row[j];
        }
      }
      if (bestGt !== -1) {
        indices[i] = gtIndices[bestGt];
        overlaps[i] = bestOv;
      }
    }
  }
  return { indices, overlaps };
}

/**
 * Greedy NMS over `scores` (the fork's ApplyNMS, used for hard-example mining): best first (ties
 * in index order), the first `topK` when topK > -1; boxes smaller than 1e-5 are dropped, and a box
 * is dropped when it overlaps a kept one by more than `threshold`. At most topK are kept.
 */
export function nmsByScore(boxes: ArrayLike<number>, scores: ArrayLike<number>, threshold: number, topK: number): number[] {
  let order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  if (topK > -1 && topK < order.length) order.length = topK;
  const kept: number[] = [];
  while (order.length > 0) {
    const best = order.shift()!;
    if (boxSize(boxes, best) < 1e-5) continue;
    kept.push(best);
    if (topK > -1 && kept.length >= topK) break;
    order = order.filter((i) => boxSize(boxes, i) >= 1e-5 && !(jaccard(boxes, best, boxes, i) > threshold));
  }
  return kept;
}
