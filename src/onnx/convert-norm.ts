// BatchNorm and MVN: Caffe's normalizations, with its statistics arithmetic.
import { has } from '../proto/schema.js';
import { TEST } from '../layers/layer.js';
import { registerConverter, paramOf } from './registry.js';
import { float } from './graph.js';

const f32 = Math.fround;


registerConverter('BatchNorm', (c) => {
  const p = paramOf(c, 'batch_norm_param', 'BatchNormParameter');
  const shape = c.bottomShapes[0];
  if (shape.length < 2) throw c.error(`a ${shape.length}-D bottom has no channel axis for ONNX BatchNormalization`);
  const channels = shape[1];
  const eps: number = p.eps;
  const global = has(p, 'use_global_stats') ? p.use_global_stats : c.layer.phase === TEST;
  const x = c.bottoms[0];
  if (global) {
    // Caffe stores running sums and their scale factor: mean = sum / factor (0 when factor is 0).
    const [meanSum, varSum, factor] = c.layer.blobs;
    const s = factor.data[0];
    const sf = s === 0 ? 0 : f32(1 / s);
    const mean = Float32Array.from(meanSum.data, (v) => sf * v);
    const variance = Float32Array.from(varSum.data, (v) => sf * v);
    const ones = new Float32Array(channels).fill(1);
    const g = c.g;
    c.op('BatchNormalization', [
      x,
      g.floatTensor(`${c.name}/scale`, [channels], ones),
      g.floatTensor(`${c.name}/bias`, [channels], new Float32Array(channels)),
      g.floatTensor(`${c.name}/mean`, [channels], mean),
      g.floatTensor(`${c.name}/var`, [channels], variance),
    ], 0, { epsilon: float(eps) });
    return;
  }
  // Batch statistics (use_global_stats false): per channel over the batch and spatial axes.
  const axes = shape.map((_, i) => i).filter((i) => i !== 1);
  const mean = c.reduce('ReduceMean', x, axes, true, 'tmp');
  const d = c.op('Sub', [x, mean], 'tmp');
  const variance = c.reduce('ReduceMean', c.op('Mul', [d, d], 'tmp'), axes, true, 'tmp');
  const std = c.op('Sqrt', [c.op('Add', [variance, c.scalar(eps)], 'tmp')], 'tmp');
  c.op('Div', [d, std], 0);
});

registerConverter('MVN', (c) => {
  const p = paramOf(c, 'mvn_param', 'MVNParameter');
  const shape = c.bottomShapes[0];
  // Caffe's legacy 4-D view: rows are (num) or (num, channels), the rest is one row each.
  const num = shape[0] ?? 1;
  const channels = shape[1] ?? 1;
  const rows = p.across_channels ? num : num * channels;
  const count = shape.reduce((a, b) => a * b, 1);
  const dim = rows === 0 ? 0 : count / rows;
  const inv = f32(1 / dim);
  const x = c.op('Reshape', [c.bottoms[0], c.ints([rows, dim])], 'tmp');
  const mean = c.op('Mul', [c.reduce('ReduceSum', x, [1], true, 'tmp'), c.scalar(inv)], 'tmp');
  let y = c.op('Sub', [x, mean], 'tmp');
  if (p.normalize_variance) {
    const q = c.reduce('ReduceSum', c.op('Mul', [y, y], 'tmp'), [1], true, 'tmp');
    const sd = c.op('Add', [c.op('Sqrt', [c.op('Mul', [q, c.scalar(inv)], 'tmp')], 'tmp'), c.scalar(p.eps)], 'tmp');
    y = c.op('Div', [y, sd], 'tmp');
  }
  c.op('Reshape', [y, c.ints(c.topShapes[0])], 0);
});
