// Loss layers and Accuracy, so that TEST-phase nets that report them export whole. Each top is
// Caffe's scalar: the loss before loss_weight (Caffe applies the weight only to gradients).
import { has } from '../proto/schema.js';
import { FLT_MIN, LOG_THRESHOLD, getNormalizer, ignoreLabelOf, normalizationMode, BATCH_SIZE, VALID } from '../layers/softmax-with-loss.js';
import { registerConverter, paramOf, canonAxis, prod, type ConvertContext } from './registry.js';
import { int, ints } from './graph.js';
import type { Blob } from '../graph/blob.js';



function allAxes(rank: number): number[] {
  return Array.from({ length: rank }, (_, i) => i);
}

/**
 * Scores as [outer, C, inner] and the labels as int64 [outer, 1, inner] (truncated, as Caffe's
 * static_cast<int>), with ignore_label positions pointing at class 0 and a float mask of the
 * positions that count (null when nothing is ignored).
 */
function classLayout(c: ConvertContext, axis: number, ignore: number | null) {
  const shape = c.bottomShapes[0];
  const outer = prod(shape.slice(0, axis));
  const classes = shape[axis];
  const inner = prod(shape.slice(axis + 1));
  const labelF = c.op('Reshape', [c.bottoms[1], c.ints([outer, 1, inner])], 'tmp');
  let label = c.op('Cast', [labelF], 'tmp', { to: int(7) });
  let mask: string | null = null;
  if (ignore !== null) {
    const hit = c.op('Equal', [label, c.ints([ignore])], 'tmp');
    mask = c.op('Cast', [c.op('Not', [hit], 'tmp')], 'tmp', { to: int(1) });
    label = c.op('Where', [hit, c.ints([0]), label], 'tmp');
  }
  return { outer, classes, inner, label, mask };
}

/** sum / Caffe's normalizer, the VALID count taken from the mask at run time. */
function normalized(c: ConvertContext, sum: string, mode: number, outer: number, inner: number, mask: string | null, maskRank: number): string {
  const out = 0;
  if (mode === VALID && mask) {
    const valid = c.reduce('ReduceSum', mask, allAxes(maskRank), false, 'tmp');
    return c.op('Div', [sum, c.op('Max', [valid, c.scalar(1)], 'tmp')], out);
  }
  return c.op('Div', [sum, c.scalar(getNormalizer(mode, outer, inner, -1))], out);
}

registerConverter('SoftmaxWithLoss', (c) => {
  const rank = c.bottomShapes[0].length;
  const a = paramOf(c, 'softmax_param', 'SoftmaxParameter').axis;
  const axis = canonAxis(a, rank);
  const { outer, classes, inner, label, mask } = classLayout(c, axis, ignoreLabelOf(c.layer));
  const prob = c.op('Softmax', [c.bottoms[0]], c.tops.length > 1 ? 1 : 'tmp', { axis: int(axis) });
  const p3 = c.op('Reshape', [prob, c.ints([outer, classes, inner])], 'tmp');
  const picked = c.op('GatherElements', [p3, label], 'tmp', { axis: int(1) });
  let logp = c.op('Log', [c.op('Max', [picked, c.scalar(FLT_MIN)], 'tmp')], 'tmp');
  if (mask) logp = c.op('Mul', [logp, mask], 'tmp');
  const sum = c.op('Neg', [c.reduce('ReduceSum', logp, allAxes(3), false, 'tmp')], 'tmp');
  normalized(c, sum, normalizationMode(c.layer, VALID), outer, inner, mask, 3);
});

registerConverter('EuclideanLoss', (c) => {
  const d = c.op('Sub', [c.bottoms[0], c.bottoms[1]], 'tmp');
  const dot = c.reduce('ReduceSumSquare', d, allAxes(c.bottomShapes[0].length), false, 'tmp');
  c.op('Div', [c.op('Div', [dot, c.scalar(c.bottomShapes[0][0])], 'tmp'), c.scalar(2)], 0);
});

registerConverter('SigmoidCrossEntropyLoss', (c) => {
  const [x, t] = c.bottoms;
  const rank = c.bottomShapes[0].length;
  // Caffe's overflow-free form: l = log(1 + exp(x - 2x[x >= 0])) - x (t - [x >= 0]).
  const pos = c.op('Cast', [c.op('GreaterOrEqual', [x, c.scalar(0)], 'tmp')], 'tmp', { to: int(1) });
  const lin = c.op('Mul', [x, c.op('Sub', [t, pos], 'tmp')], 'tmp');
  const e = c.op('Exp', [c.op('Sub', [x, c.op('Mul', [c.op('Mul', [x, c.scalar(2)], 'tmp'), pos], 'tmp')], 'tmp')], 'tmp');
  let l = c.op('Sub', [c.op('Log', [c.op('Add', [e, c.scalar(1)], 'tmp')], 'tmp'), lin], 'tmp');
  const ignore = ignoreLabelOf(c.layer);
  let mask: string | null = null;
  if (ignore !== null) {
    const tl = c.op('Cast', [t], 'tmp', { to: int(7) });
    mask = c.op('Cast', [c.op('Not', [c.op('Equal', [tl, c.ints([ignore])], 'tmp')], 'tmp')], 'tmp', { to: int(1) });
    l = c.op('Mul', [l, mask], 'tmp');
  }
  const sum = c.reduce('ReduceSum', l, allAxes(rank), false, 'tmp');
  const outer = c.bottomShapes[0][0];
  const inner = prod(c.bottomShapes[0]) / outer;
  normalized(c, sum, normalizationMode(c.layer, BATCH_SIZE), outer, inner, mask, rank);
});

registerConverter('Accuracy', (c) => {
  const p = paramOf(c, 'accuracy_param', 'AccuracyParameter');
  const rank = c.bottomShapes[0].length;
  const axis = canonAxis(p.axis, rank);
  const { outer, classes, inner, label, mask } = classLayout(c, axis, has(p, 'ignore_label') ? p.ignore_label : null);
  const s3 = c.op('Reshape', [c.bottoms[0], c.ints([outer, classes, inner])], 'tmp');
  const truth = c.op('GatherElements', [s3, label], 'tmp', { axis: int(1) });
  // Correct when at most top_k classes score >= the true class (itself included): ties count against.
  const atLeast = c.op('Cast', [c.op('GreaterOrEqual', [s3, truth], 'tmp')], 'tmp', { to: int(1) });
  const better = c.reduce('ReduceSum', atLeast, [1], true, 'tmp');
  let correct = c.op('Cast', [c.op('LessOrEqual', [better, c.scalar(Number(p.top_k))], 'tmp')], 'tmp', { to: int(1) });
  if (mask) correct = c.op('Mul', [correct, mask], 'tmp');
  const hits = c.reduce('ReduceSum', correct, allAxes(3), false, 'tmp');
  const count = mask ? c.reduce('ReduceSum', mask, allAxes(3), false, 'tmp') : c.scalar(outer * inner);
  // 0 when nothing counts, as Caffe.
  c.op('Div', [hits, c.op('Max', [count, c.scalar(1)], 'tmp')], 0);
  if (c.tops.length < 2) return;
  // Per class: the counted positions labelled c, and how many of them are correct.
  const classIds = c.g.int64Tensor(`${c.name}/classes`, Array.from({ length: classes }, (_, k) => k));
  let isClass = c.op('Cast', [c.op('Equal', [c.op('Reshape', [classIds, c.ints([1, classes, 1])], 'tmp'), label], 'tmp')], 'tmp', { to: int(1) });
  if (mask) isClass = c.op('Mul', [isClass, mask], 'tmp');
  const perCount = c.reduce('ReduceSum', isClass, [0, 2], false, 'tmp');
  const perHits = c.reduce('ReduceSum', c.op('Mul', [isClass, correct], 'tmp'), [0, 2], false, 'tmp');
  c.op('Div', [perHits, c.op('Max', [perCount, c.scalar(1)], 'tmp')], 1);
});

registerConverter('InfogainLoss', (c) => {
  const p = paramOf(c, 'infogain_loss_param', 'InfogainLossParameter');
  const rank = c.bottomShapes[0].length;
  const axis = canonAxis(p.axis, rank);
  const { outer, classes, inner, label, mask } = classLayout(c, axis, ignoreLabelOf(c.layer));
  let h: string;
  if (c.bottoms.length > 2) {
    h = c.op('Reshape', [c.bottoms[2], c.ints([classes, classes])], 'tmp');
  } else {
    const stored = (c.layer as unknown as { storedMatrix: Blob | null }).storedMatrix;
    if (!stored) throw c.error('internal: no infogain matrix');
    h = c.g.floatTensor(`${c.name}/infogain`, [classes, classes], stored.data);
  }
  const prob = c.op('Softmax', [c.bottoms[0]], c.tops.length > 1 ? 1 : 'tmp', { axis: int(axis) });
  const p3 = c.op('Reshape', [prob, c.ints([outer, classes, inner])], 'tmp');
  const logp = c.op('Log', [c.op('Max', [p3, c.scalar(LOG_THRESHOLD)], 'tmp')], 'tmp');
  // H's row of each position's label, laid out as the probabilities: [outer, C, inner].
  const rows = c.op('Gather', [h, c.op('Reshape', [label, c.ints([outer, inner])], 'tmp')], 'tmp', { axis: int(0) });
  let terms = c.op('Mul', [c.op('Transpose', [rows], 'tmp', { perm: ints([0, 2, 1]) }), logp], 'tmp');
  if (mask) terms = c.op('Mul', [terms, mask], 'tmp');
  const sum = c.op('Neg', [c.reduce('ReduceSum', terms, allAxes(3), false, 'tmp')], 'tmp');
  normalized(c, sum, normalizationMode(c.layer, VALID), outer, inner, mask, 3);
});

/** Scores as [N, dim] and labels as int64 [N, 1] (one label per item). */
function perItem(c: ConvertContext) {
  const shape = c.bottomShapes[0];
  const num = shape[0];
  const dim = prod(shape) / num;
  const scores = c.op('Reshape', [c.bottoms[0], c.ints([num, dim])], 'tmp');
  const label = c.op('Cast', [c.op('Reshape', [c.bottoms[1], c.ints([num, 1])], 'tmp')], 'tmp', { to: int(7) });
  return { num, dim, scores, label };
}

registerConverter('MultinomialLogisticLoss', (c) => {
  const { num, scores, label } = perItem(c);
  const picked = c.op('GatherElements', [scores, label], 'tmp', { axis: int(1) });
  const logp = c.op('Log', [c.op('Max', [picked, c.scalar(LOG_THRESHOLD)], 'tmp')], 'tmp');
  const sum = c.op('Neg', [c.reduce('ReduceSum', logp, [0, 1], false, 'tmp')], 'tmp');
  c.op('Div', [sum, c.scalar(num)], 0);
});

registerConverter('HingeLoss', (c) => {
  const { num, dim, scores, label } = perItem(c);
  // t = +1 at the label's class, -1 elsewhere: margin = max(0, 1 - t x).
  const classes = c.g.int64Tensor(`${c.name}/classes`, Array.from({ length: dim }, (_, i) => i));
  const isLabel = c.op('Cast', [c.op('Equal', [classes, label], 'tmp')], 'tmp', { to: int(1) });
  const t = c.op('Sub', [c.op('Mul', [isLabel, c.scalar(2)], 'tmp'), c.scalar(1)], 'tmp');
  let margin = c.op('Relu', [c.op('Sub', [c.scalar(1), c.op('Mul', [t, scores], 'tmp')], 'tmp')], 'tmp');
  const norm: number = paramOf(c, 'hinge_loss_param', 'HingeLossParameter').norm;
  if (norm === 2) margin = c.op('Mul', [margin, margin], 'tmp');
  c.op('Div', [c.reduce('ReduceSum', margin, [0, 1], false, 'tmp'), c.scalar(num)], 0);
});

registerConverter('ContrastiveLoss', (c) => {
  const p = paramOf(c, 'contrastive_loss_param', 'ContrastiveLossParameter');
  const shape = c.bottomShapes[0];
  const num = shape[0];
  const a = c.op('Reshape', [c.bottoms[0], c.ints([num, prod(shape) / num])], 'tmp');
  const b = c.op('Reshape', [c.bottoms[1], c.ints([num, prod(shape) / num])], 'tmp');
  const distSq = c.reduce('ReduceSumSquare', c.op('Sub', [a, b], 'tmp'), [1], false, 'tmp');
  const flag = c.op('Reshape', [c.bottoms[2], c.ints([num])], 'tmp');
  // Similar when the flag truncates to a nonzero integer, as Caffe's static_cast<int>.
  const similar = c.op('Not', [c.op('Equal', [c.op('Cast', [flag], 'tmp', { to: int(7) }), c.ints([0])], 'tmp')], 'tmp');
  const margin = c.scalar(p.margin);
  let dissimilar: string;
  if (p.legacy_version) {
    dissimilar = c.op('Relu', [c.op('Sub', [margin, distSq], 'tmp')], 'tmp');
  } else {
    const m = c.op('Relu', [c.op('Sub', [margin, c.op('Sqrt', [distSq], 'tmp')], 'tmp')], 'tmp');
    dissimilar = c.op('Mul', [m, m], 'tmp');
  }
  const per = c.op('Where', [similar, distSq, dissimilar], 'tmp');
  const sum = c.reduce('ReduceSum', per, [0], false, 'tmp');
  c.op('Div', [c.op('Div', [sum, c.scalar(num)], 'tmp'), c.scalar(2)], 0);
});
