// Element-wise layers. Constants are computed in float32 exactly as the Caffe layer computes
// them (Exp's inner and outer scales, Log's base scale), so the graph repeats Caffe's arithmetic.
import { TEST } from '../layers/layer.js';
import { registerConverter, paramOf, type ConvertContext } from './registry.js';
import { float, int } from './graph.js';

const f32 = Math.fround;


/** A layer that is one ONNX operator on its bottom. */
function simple(opType: string) {
  return (c: ConvertContext) => void c.op(opType, [c.bottoms[0]], 0);
}

/** y = scale * x + shift, skipping the identity steps as Caffe does. */
function affine(c: ConvertContext, x: string, scale: number, shift: number): string {
  let v = x;
  if (scale !== 1) v = c.op('Mul', [v, c.scalar(scale)], 'tmp');
  if (shift !== 0) v = c.op('Add', [v, c.scalar(shift)], 'tmp');
  return v;
}

/** Ends a chain on top 0 (an Identity when the chain was empty). */
function finish(c: ConvertContext, v: string): void {
  c.op('Identity', [v], 0);
}

registerConverter('ReLU', (c) => {
  const slope: number = paramOf(c, 'relu_param', 'ReLUParameter').negative_slope;
  if (slope === 0) c.op('Relu', [c.bottoms[0]], 0);
  else c.op('LeakyRelu', [c.bottoms[0]], 0, { alpha: float(slope) });
});
registerConverter('Sigmoid', simple('Sigmoid'));
registerConverter('TanH', simple('Tanh'));
registerConverter('AbsVal', simple('Abs'));
registerConverter('BNLL', simple('Softplus'));
registerConverter('ELU', (c) => void c.op('Elu', [c.bottoms[0]], 0, { alpha: float(paramOf(c, 'elu_param', 'ELUParameter').alpha) }));

registerConverter('Power', (c) => {
  const p = paramOf(c, 'power_param', 'PowerParameter');
  const { power, scale, shift } = p as { power: number; scale: number; shift: number };
  if (f32(power * scale) === 0) {
    // Caffe fills the top with a constant, whatever the input holds.
    const value = power === 0 ? 1 : f32(Math.pow(shift, power));
    c.op('Expand', [c.scalar(value), c.op('Shape', [c.bottoms[0]], 'tmp')], 0);
    return;
  }
  let v = affine(c, c.bottoms[0], scale, shift);
  if (power !== 1) v = c.op('Pow', [v, c.scalar(power)], 'tmp');
  finish(c, v);
});

registerConverter('Exp', (c) => {
  const p = paramOf(c, 'exp_param', 'ExpParameter');
  const base: number = p.base;
  const logBase = base === -1 ? 1 : f32(Math.log(base));
  const inner = f32(logBase * p.scale);
  const outer = p.shift === 0 ? 1 : f32(base !== -1 ? Math.pow(base, p.shift) : Math.exp(p.shift));
  let v = c.op('Exp', [affine(c, c.bottoms[0], inner, 0)], 'tmp');
  if (outer !== 1) v = c.op('Mul', [v, c.scalar(outer)], 'tmp');
  finish(c, v);
});

registerConverter('Log', (c) => {
  const p = paramOf(c, 'log_param', 'LogParameter');
  const base: number = p.base;
  const baseScale = base === -1 ? 1 : f32(1 / f32(Math.log(base)));
  let v = c.op('Log', [affine(c, c.bottoms[0], p.scale, p.shift)], 'tmp');
  if (baseScale !== 1) v = c.op('Mul', [v, c.scalar(baseScale)], 'tmp');
  finish(c, v);
});

registerConverter('Threshold', (c) => {
  const t: number = paramOf(c, 'threshold_param', 'ThresholdParameter').threshold;
  const gt = c.op('Greater', [c.bottoms[0], c.scalar(t)], 'tmp');
  c.op('Cast', [gt], 0, { to: int(1) });
});

registerConverter('Clip', (c) => {
  const p = paramOf(c, 'clip_param', 'ClipParameter');
  c.op('Clip', [c.bottoms[0], c.scalar(p.min), c.scalar(p.max)], 0);
});

registerConverter('Swish', (c) => {
  const beta: number = paramOf(c, 'swish_param', 'SwishParameter').beta;
  const x = c.bottoms[0];
  const s = c.op('Sigmoid', [affine(c, x, beta, 0)], 'tmp');
  c.op('Mul', [x, s], 0);
});

registerConverter('PReLU', (c) => {
  // Slopes per channel (axis 1), or one shared: broadcast as [C, 1, ..., 1].
  const rank = c.bottomShapes[0].length;
  const count = c.layer.blobs[0].count;
  const dims = count === 1 ? [1] : [count, ...Array(Math.max(0, rank - 2)).fill(1)];
  c.op('PRelu', [c.bottoms[0], c.param(0, dims)], 0);
});

registerConverter('Dropout', (c) => {
  if (c.layer.phase !== TEST) throw c.error('Dropout drops at random in TRAIN: export a TEST-phase net');
  const p = paramOf(c, 'dropout_param', 'DropoutParameter');
  // scale_train false (a fork's option) scales at test time instead, by 1 / Caffe's scale_.
  if (p.scale_train === false) c.op('Mul', [c.bottoms[0], c.scalar(f32(1 / f32(1 / (1 - p.dropout_ratio))))], 0);
  else c.op('Identity', [c.bottoms[0]], 0);
});
