// Convolution, Deconvolution, Pooling, LRN, SPP: the windowed layers.
import { has, newMessage } from '../proto/schema.js';
import { convGeometry, convParam } from '../layers/base-conv.js';
import { TEST } from '../layers/layer.js';
import { registerConverter, type ConvertContext } from './registry.js';
import { float, int, ints } from './graph.js';

const POOL_MAX = 0;
const POOL_AVE = 1;
const POOL_STOCHASTIC = 2;

/** convolution_param and its geometry, for a bottom with channels on axis 1 and spatial axes after. */
function convSetup(c: ConvertContext) {
  const cp = convParam(c.layer);
  const shape = c.bottomShapes[0];
  const axis = (cp.axis ?? 1) < 0 ? cp.axis + shape.length : cp.axis ?? 1;
  if (axis !== 1) throw c.error(`convolution_param.axis ${cp.axis}: ONNX convolves with channels on axis 1 only`);
  if (shape.length < 3) throw c.error(`a ${shape.length}-D bottom has no spatial axes for an ONNX convolution`);
  const geo = convGeometry(c.layer, cp, shape.length - 2, c.bottomBlobs[0]);
  return { cp, geo };
}

/**
 * Conv pads giving Caffe's output size. Caffe divides with C's truncation, so a kernel longer
 * than the padded input still yields one output, reading zeros past the end (im2col's
 * out-of-range value): a larger trailing pad says the same to ONNX, which floors.
 */
function convPads(c: ConvertContext, geo: { kernel: number[]; stride: number[]; pad: number[]; dilation: number[] }): number[] {
  const inSp = c.bottomShapes[0].slice(2);
  const outSp = c.topShapes[0].slice(2);
  const tails = geo.pad.map((p, d) => {
    const extent = geo.dilation[d] * (geo.kernel[d] - 1) + 1;
    return Math.max(p, (outSp[d] - 1) * geo.stride[d] + extent - inSp[d] - p);
  });
  return [...geo.pad, ...tails];
}

function convLike(opType: 'Conv' | 'ConvTranspose') {
  return (c: ConvertContext) => {
    const { cp, geo } = convSetup(c);
    const params = [c.param(0)];
    if (cp.bias_term ?? true) params.push(c.param(1, [c.layer.blobs[1].count]));
    const attrs = {
      kernel_shape: ints(geo.kernel),
      strides: ints(geo.stride),
      pads: ints(opType === 'Conv' ? convPads(c, geo) : [...geo.pad, ...geo.pad]),
      dilations: ints(geo.dilation),
      group: int(Number(cp.group ?? 1)),
    };
    // Several bottoms share the filters, one top each.
    c.bottoms.forEach((b, k) => c.op(opType, [b, ...params], k, attrs));
  };
}

interface PoolGeometry {
  kernel: [number, number];
  pad: [number, number];
  stride: [number, number];
}

/** Kernel, pad and stride of a (non-global) Pooling layer, as PoolingLayer::LayerSetUp reads them. */
function poolGeometry(pp: any): PoolGeometry {
  const kernel: [number, number] = has(pp, 'kernel_size') ? [pp.kernel_size, pp.kernel_size] : [pp.kernel_h, pp.kernel_w];
  const pad: [number, number] = has(pp, 'pad_h') ? [pp.pad_h, pp.pad_w] : [pp.pad, pp.pad];
  const stride: [number, number] = has(pp, 'stride_h') ? [pp.stride_h, pp.stride_w] : [pp.stride, pp.stride];
  return { kernel, pad, stride };
}

/**
 * The trailing pad that makes ONNX's floor-rounded output size equal Caffe's pooled size (which
 * Caffe rounds up, then trims so the last window starts inside the input or its leading pad).
 */
function tailPad(c: ConvertContext, size: number, lead: number, k: number, s: number, out: number): number {
  const tail = Math.max(0, (out - 1) * s + k - size - lead);
  if (Math.floor((size + lead + tail - k) / s) + 1 !== out || tail >= k) {
    throw c.error(`pooled size ${out} (input ${size}, kernel ${k}, stride ${s}, pad ${lead}) has no ONNX padding`);
  }
  return tail;
}

const FLT_MAX = 3.4028234663852886e38;
const FLT_MIN = 1.1754943508222875e-38;

/**
 * Caffe pooling on a 4-D bottom: windows of `geo` producing `outHW`. AVE divides by the window
 * clipped to the padded input (pads count, the overhang past them does not): the leading pads
 * become real zeros (a Pad node), the overhang a trailing pad that count_include_pad=0 ignores.
 * Without padding Caffe's last window may start past the input and be empty (-FLT_MAX for MAX,
 * 0/0 or 0 for AVE): ONNX has no such window, so the output is padded with that value.
 * With `mask`, MAX also writes Caffe's argmax top (h * W + w in each plane, -1 when empty).
 */
export function poolNodes(c: ConvertContext, x: string, inHW: readonly number[], method: number, geo: PoolGeometry, outHW: readonly number[], out: number | 'tmp', mask?: number): string {
  const { kernel, pad, stride } = geo;
  const valid = [0, 1].map((d) => {
    let v = outHW[d];
    while (v > 1 && (v - 1) * stride[d] >= inHW[d] + 2 * pad[d]) v--;
    return v;
  });
  const empty = [outHW[0] - valid[0], outHW[1] - valid[1]];
  const padded = empty[0] || empty[1];
  const stage = (o: number | 'tmp') => (padded ? 'tmp' : o);
  let y: string;
  let fill: number;
  if (method === POOL_MAX) {
    const tails = [0, 1].map((d) => tailPad(c, inHW[d], pad[d], kernel[d], stride[d], valid[d]));
    const attrs = { kernel_shape: ints(kernel), strides: ints(stride), pads: ints([pad[0], pad[1], ...tails]) };
    fill = -FLT_MAX;
    if (mask === undefined) {
      y = c.op('MaxPool', [x], stage(out), attrs);
    } else {
      const [v, idx] = c.g.node('MaxPool', [x], 2, attrs, c.name);
      y = padded ? v : c.op('Identity', [v], out);
      const plane = c.op('Mod', [idx, c.ints([inHW[0] * inHW[1]])], 'tmp');
      let m = c.op('Cast', [plane], stage(mask), { to: int(1) });
      if (padded) m = emptyWindows(c, m, empty, -1, mask);
    }
  } else {
    let src = x;
    if (pad[0] || pad[1]) src = c.op('Pad', [x, c.ints([0, 0, pad[0], pad[1], 0, 0, pad[0], pad[1]])], 'tmp');
    const size = [inHW[0] + 2 * pad[0], inHW[1] + 2 * pad[1]];
    const tails = [0, 1].map((d) => tailPad(c, size[d], 0, kernel[d], stride[d], valid[d]));
    const attrs = { kernel_shape: ints(kernel), strides: ints(stride), pads: ints([0, 0, ...tails]), count_include_pad: int(0) };
    if (method === POOL_AVE) {
      y = c.op('AveragePool', [src], stage(out), attrs);
      // An empty window starting right at the end has divisor 0 (NaN); further out, a negative one (0).
      fill = [0, 1].some((d) => empty[d] && (outHW[d] - 1) * stride[d] === inHW[d]) ? NaN : 0;
    } else {
      // STOCHASTIC at test time: sum(x^2) / (FLT_MIN + sum(x)) over the window (the divisors cancel).
      const num = c.op('AveragePool', [c.op('Mul', [src, src], 'tmp')], 'tmp', attrs);
      const den = c.op('Add', [c.op('AveragePool', [src], 'tmp', attrs), c.scalar(FLT_MIN)], 'tmp');
      y = c.op('Div', [num, den], stage(out));
      fill = 0;
    }
  }
  return padded ? emptyWindows(c, y, empty, fill, out) : y;
}

/** Appends `empty` trailing windows holding `value` along H and W. */
function emptyWindows(c: ConvertContext, y: string, empty: number[], value: number, out: number | 'tmp'): string {
  return c.op('Pad', [y, c.ints([0, 0, 0, 0, 0, 0, empty[0], empty[1]]), c.scalar(value)], out);
}

function pooling(c: ConvertContext): void {
  const pp = c.layer.param.pooling_param ?? newMessage('PoolingParameter');
  const method: number = pp.pool;
  if (method === POOL_STOCHASTIC && c.layer.phase !== TEST) throw c.error('STOCHASTIC pooling samples at random in TRAIN: export a TEST-phase net');
  const inShape = c.bottomShapes[0];
  const mask = c.tops.length > 1 ? 1 : undefined;
  if (pp.global_pooling && method !== POOL_STOCHASTIC && mask === undefined) {
    c.op(method === POOL_MAX ? 'GlobalMaxPool' : 'GlobalAveragePool', [c.bottoms[0]], 0);
    return;
  }
  const geo = pp.global_pooling ? { kernel: [inShape[2], inShape[3]] as [number, number], pad: [0, 0] as [number, number], stride: [1, 1] as [number, number] } : poolGeometry(pp);
  poolNodes(c, c.bottoms[0], inShape.slice(2), method, geo, c.topShapes[0].slice(2), 0, mask);
}

function lrn(c: ConvertContext): void {
  const p = c.layer.param.lrn_param ?? newMessage('LRNParameter');
  const size: number = p.local_size;
  if (p.norm_region === 0) {
    c.op('LRN', [c.bottoms[0]], 0, { size: int(size), alpha: float(p.alpha), beta: float(p.beta), bias: float(p.k) });
    return;
  }
  // WITHIN_CHANNEL, as Caffe composes it: x * (1 + alpha * avgpool(x^2))^-beta (shift 1, not k).
  const x = c.bottoms[0];
  const pre = (size - 1) / 2;
  const sq = c.op('Mul', [x, x], 'tmp');
  const avg = c.op('AveragePool', [sq], 'tmp', { kernel_shape: ints([size, size]), pads: ints([pre, pre, pre, pre]), count_include_pad: int(1) });
  const scaled = c.op('Mul', [avg, c.scalar(p.alpha)], 'tmp');
  const shifted = c.op('Add', [scaled, c.scalar(1)], 'tmp');
  const pw = c.op('Pow', [shifted, c.scalar(-p.beta)], 'tmp');
  c.op('Mul', [x, pw], 0);
}

/** PoolingLayer::Reshape's pooled size (ceil rounding, last window starting inside). */
function caffePooledSize(size: number, k: number, pad: number, s: number): number {
  let out = Math.ceil((size + 2 * pad - k) / s) + 1;
  if (pad && (out - 1) * s >= size + pad) out--;
  return out;
}

/** SPP: each pyramid level pools to a 2^l x 2^l grid, flattened, levels concatenated. */
function spp(c: ConvertContext): void {
  const p = c.layer.param.spp_param ?? newMessage('SPPParameter');
  const [n, ch, h, w] = c.bottomShapes[0];
  const levels: string[] = [];
  for (let l = 0; l < p.pyramid_height; l++) {
    const bins = 2 ** l;
    const kh = Math.ceil(h / bins);
    const kw = Math.ceil(w / bins);
    const geo: PoolGeometry = { kernel: [kh, kw], pad: [Math.floor((kh * bins - h + 1) / 2), Math.floor((kw * bins - w + 1) / 2)], stride: [kh, kw] };
    const outHW = [0, 1].map((d) => caffePooledSize([h, w][d], geo.kernel[d], geo.pad[d], geo.stride[d]));
    const pooled = poolNodes(c, c.bottoms[0], [h, w], p.pool, geo, outHW, 'tmp');
    levels.push(c.op('Reshape', [pooled, c.ints([n, ch * outHW[0] * outHW[1]])], p.pyramid_height === 1 ? 0 : 'tmp'));
  }
  if (levels.length > 1) c.op('Concat', levels, 0, { axis: int(1) });
}

/**
 * Im2col as a grouped convolution whose filters are one-hot: output channel c * K + r copies
 * kernel position r (row-major over the kernel) of input channel c, Caffe's column order.
 */
function im2col(c: ConvertContext): void {
  const { geo } = convSetup(c);
  const channels = c.bottomShapes[0][1];
  const k = geo.kernel.reduce((a, b) => a * b, 1);
  const w = new Float32Array(channels * k * k);
  for (let o = 0; o < channels * k; o++) w[o * k + (o % k)] = 1;
  const filters = c.g.floatTensor(`${c.name}/onehot`, [channels * k, 1, ...geo.kernel], w);
  c.op('Conv', [c.bottoms[0], filters], 0, {
    kernel_shape: ints(geo.kernel),
    strides: ints(geo.stride),
    pads: ints(convPads(c, geo)),
    dilations: ints(geo.dilation),
    group: int(channels),
  });
}

registerConverter('Im2col', im2col);
registerConverter('Convolution', convLike('Conv'));
registerConverter('Deconvolution', convLike('ConvTranspose'));
registerConverter('Pooling', pooling);
registerConverter('LRN', lrn);
registerConverter('SPP', spp);
