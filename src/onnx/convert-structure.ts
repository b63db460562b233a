// Layers that route, reshape, combine or reduce blobs, and the parameterised affine ones.
// Shapes are taken from the Caffe net (its blobs are already shaped), so Reshape targets are
// static: the exported graph has the net's input shapes.
import { has } from '../proto/schema.js';
import { registerConverter, paramOf, canonAxis, prod, type ConvertContext } from './registry.js';
import { int } from './graph.js';

const f32 = Math.fround;



function reshapeTo(c: ConvertContext, x: string, shape: readonly number[], out: number | 'tmp'): string {
  return c.op('Reshape', [x, c.ints(shape)], out);
}

registerConverter('Softmax', (c) => {
  const axis = canonAxis(paramOf(c, 'softmax_param', 'SoftmaxParameter').axis, c.bottomShapes[0].length);
  c.op('Softmax', [c.bottoms[0]], 0, { axis: int(axis) });
});

registerConverter('Concat', (c) => {
  const p = paramOf(c, 'concat_param', 'ConcatParameter');
  const axis = has(p, 'concat_dim') ? Number(p.concat_dim) : canonAxis(p.axis, c.bottomShapes[0].length);
  if (c.bottoms.length === 1) c.op('Identity', [c.bottoms[0]], 0);
  else c.op('Concat', [...c.bottoms], 0, { axis: int(axis) });
});

registerConverter('Slice', (c) => {
  const p = paramOf(c, 'slice_param', 'SliceParameter');
  const axis = has(p, 'slice_dim') ? Number(p.slice_dim) : canonAxis(p.axis, c.bottomShapes[0].length);
  if (c.tops.length === 1) {
    c.op('Identity', [c.bottoms[0]], 0);
    return;
  }
  const sizes = c.topShapes.map((s) => s[axis]);
  c.g.node('Split', [c.bottoms[0], c.ints(sizes)], [...c.tops], { axis: int(axis) }, c.name);
});

const reshapeToTop = (c: ConvertContext) => void reshapeTo(c, c.bottoms[0], c.topShapes[0], 0);
registerConverter('Flatten', reshapeToTop);
registerConverter('Reshape', reshapeToTop);

registerConverter('Crop', (c) => {
  const p = paramOf(c, 'crop_param', 'CropParameter');
  const shape = c.bottomShapes[0];
  const start = canonAxis(p.axis, shape.length);
  const given: number[] = Array.from(p.offset ?? [], Number);
  const axes: number[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  for (let i = start; i < shape.length; i++) {
    const off = given.length === 0 ? 0 : given.length === 1 ? given[0] : given[i - start];
    axes.push(i);
    starts.push(off);
    ends.push(off + c.topShapes[0][i]);
  }
  c.op('Slice', [c.bottoms[0], c.ints(starts), c.ints(ends), c.ints(axes)], 0);
});

registerConverter('Tile', (c) => {
  const p = paramOf(c, 'tile_param', 'TileParameter');
  const shape = c.bottomShapes[0];
  const repeats = shape.map(() => 1);
  repeats[canonAxis(p.axis, shape.length)] = Number(p.tiles);
  c.op('Tile', [c.bottoms[0], c.ints(repeats)], 0);
});

registerConverter('Eltwise', (c) => {
  const p = paramOf(c, 'eltwise_param', 'EltwiseParameter');
  const op: number = p.operation;
  const coeff: number[] = Array.from(p.coeff ?? [], Number);
  let terms = [...c.bottoms];
  if (op === 0) {
    let v = terms[0];
    for (let i = 1; i < terms.length; i++) v = c.op('Mul', [v, terms[i]], i === terms.length - 1 ? 0 : 'tmp');
    return;
  }
  if (op === 2) {
    c.op('Max', terms, 0);
    return;
  }
  // SUM: top = sum of coeff_i * x_i, Caffe's axpy with coefficient 1 being a plain add.
  if (coeff.length) terms = terms.map((t, i) => (coeff[i] === 1 ? t : c.op('Mul', [t, c.scalar(coeff[i])], 'tmp')));
  c.op('Sum', terms, 0);
});

/** The broadcast shape of a Scale/Bias operand of `shape` applied from `axis` of a rank-`rank` bottom. */
function operandDims(shape: readonly number[], axis: number, rank: number): number[] {
  return [...shape, ...Array(Math.max(0, rank - axis - shape.length)).fill(1)];
}

/** Scale (op Mul) or Bias (op Add): the operand is bottom 1 or parameter blob 0. */
function affineLayer(opType: 'Mul' | 'Add', field: string, type: string) {
  return (c: ConvertContext) => {
    const p = paramOf(c, field, type);
    const rank = c.bottomShapes[0].length;
    const axis = canonAxis(p.axis, rank);
    let operand: string;
    let paramIndex = 0;
    if (c.bottoms.length > 1) {
      operand = reshapeTo(c, c.bottoms[1], operandDims(c.bottomShapes[1], axis, rank), 'tmp');
    } else {
      operand = c.param(0, operandDims(c.layer.blobs[0].shape, axis, rank));
      paramIndex = 1;
    }
    const withBias = opType === 'Mul' && p.bias_term;
    const y = c.op(opType, [c.bottoms[0], operand], withBias ? 'tmp' : 0);
    if (withBias) c.op('Add', [y, c.param(paramIndex, operandDims(c.layer.blobs[paramIndex].shape, axis, rank))], 0);
  };
}
registerConverter('Scale', affineLayer('Mul', 'scale_param', 'ScaleParameter'));
registerConverter('Bias', affineLayer('Add', 'bias_param', 'BiasParameter'));

registerConverter('InnerProduct', (c) => {
  const p = paramOf(c, 'inner_product_param', 'InnerProductParameter');
  const shape = c.bottomShapes[0];
  const axis = canonAxis(p.axis, shape.length);
  const n = Number(p.num_output);
  const m = prod(shape.slice(0, axis));
  const k = prod(shape.slice(axis));
  const a = shape.length === 2 && axis === 1 ? c.bottoms[0] : reshapeTo(c, c.bottoms[0], [m, k], 'tmp');
  // Caffe's weight is N x K (or K x N with transpose); V1 files store it as 1 x 1 x N x K.
  const inputs = [a, c.param(0, p.transpose ? [k, n] : [n, k])];
  if (p.bias_term) inputs.push(c.param(1, [n]));
  const direct = c.topShapes[0].length === 2;
  const y = c.op('Gemm', inputs, direct ? 0 : 'tmp', { transB: int(p.transpose ? 0 : 1) });
  if (!direct) reshapeTo(c, y, c.topShapes[0], 0);
});

registerConverter('Reduction', (c) => {
  const p = paramOf(c, 'reduction_param', 'ReductionParameter');
  const shape = c.bottomShapes[0];
  const axis = canonAxis(p.axis, shape.length);
  const axes = shape.map((_, i) => i).slice(axis);
  const op: number = p.operation;
  let coeff: number = p.coeff;
  if (op === 4) coeff = f32(coeff / prod(shape.slice(axis)));
  const name = op === 2 ? 'ReduceL1' : op === 3 ? 'ReduceSumSquare' : 'ReduceSum';
  let v: string;
  if (axes.length === 0) v = c.bottoms[0];
  else v = c.reduce(name, c.bottoms[0], axes, false, 'tmp');
  if (coeff !== 1) v = c.op('Mul', [v, c.scalar(coeff)], 'tmp');
  c.op('Identity', [v], 0);
});

registerConverter('ArgMax', (c) => {
  const p = paramOf(c, 'argmax_param', 'ArgMaxParameter');
  const shape = c.bottomShapes[0];
  const k = Number(p.top_k);
  const attrs = { largest: int(1), sorted: int(1) };
  if (has(p, 'axis')) {
    const axis = canonAxis(p.axis, shape.length);
    const [values, indices] = c.g.node('TopK', [c.bottoms[0], c.ints([k])], 2, { ...attrs, axis: int(axis) }, c.name);
    if (p.out_max_val) c.op('Identity', [values], 0);
    else c.op('Cast', [indices], 0, { to: int(1) });
    return;
  }
  const n = shape[0];
  const flat = reshapeTo(c, c.bottoms[0], [n, prod(shape.slice(1))], 'tmp');
  const [values, indices] = c.g.node('TopK', [flat, c.ints([k])], 2, { ...attrs, axis: int(1) }, c.name);
  const idx = c.op('Cast', [indices], 'tmp', { to: int(1) });
  const rows = p.out_max_val ? c.op('Concat', [reshapeTo(c, idx, [n, 1, k], 'tmp'), reshapeTo(c, values, [n, 1, k], 'tmp')], 'tmp', { axis: int(1) }) : idx;
  reshapeTo(c, rows, c.topShapes[0], 0);
});

registerConverter('Embed', (c) => {
  const p = paramOf(c, 'embed_param', 'EmbedParameter');
  const k = Number(p.input_dim);
  const n = Number(p.num_output);
  const idx = c.op('Cast', [c.bottoms[0]], 'tmp', { to: int(7) });
  const rows = c.op('Gather', [c.param(0, [k, n]), idx], p.bias_term ? 'tmp' : 0, { axis: int(0) });
  if (p.bias_term) c.op('Add', [rows, c.param(1, [n])], 0);
});

registerConverter('BatchReindex', (c) => {
  const idx = c.op('Cast', [c.bottoms[1]], 'tmp', { to: int(7) });
  c.op('Gather', [c.bottoms[0], idx], 0, { axis: int(0) });
});

registerConverter('Parameter', (c) => void c.op('Identity', [c.param(0)], 0));
registerConverter('Silence', () => {});
