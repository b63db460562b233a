// Interp (PSPNet / DeepLab v2 fork): resizes every (H, W) plane of an (N, C, H, W) bottom with
// align-corners bilinear interpolation (or nearest neighbour, interp_type "nearest_neighbor").
// The output size comes from exactly one of: zoom_factor (out = in + (in - 1) * (zoom - 1)),
// shrink_factor (out = (in - 1) / shrink + 1), height and width, or a second bottom's H and W.
// pad_beg / pad_end (<= 0) first crop the input: the effective input is rows/cols
// [-pad_beg, in + pad_end). The source position of output pixel i is i * (in_eff - 1) / (out - 1),
// computed in float as the fork does; equal sizes copy. Backward is the adjoint (accumulates the
// four bilinear weights), which the fork also gives nearest neighbour.
import type { Blob } from '../graph/blob.js';
import { has, type Message } from '../proto/schema.js';
import { Layer, paramOf } from './layer.js';
import { f32 } from './neuron.js';
import { registerLayer } from './registry.js';

/** Source row/column and the weight of the next one, for each output position (the fork's float maths). */
interface Taps {
  idx: Int32Array;
  next: Int32Array;
  lambda: Float32Array;
}

function bilinearTaps(inSize: number, outSize: number): Taps {
  const idx = new Int32Array(outSize);
  const next = new Int32Array(outSize);
  const lambda = new Float32Array(outSize);
  const r = outSize > 1 ? f32((inSize - 1) / (outSize - 1)) : 0;
  for (let o = 0; o < outSize; o++) {
    const pos = f32(r * o);
    const i = Math.trunc(pos);
    idx[o] = i;
    next[o] = i < inSize - 1 ? 1 : 0;
    lambda[o] = f32(pos - i);
  }
  return { idx, next, lambda };
}

function nearestTaps(inSize: number, outSize: number): Taps {
  const t = bilinearTaps(inSize, outSize);
  const r = outSize > 1 ? f32((inSize - 1) / (outSize - 1)) : 0;
  for (let o = 0; o < outSize; o++) {
    t.idx[o] = Math.floor(f32(r * o) + 0.5);
    t.next[o] = 0;
    t.lambda[o] = 0;
  }
  return t;
}

/** The marker eachOutput passes for equal sizes (w0 = 0 never comes from a bilinear tap). */
const isCopy = (h0: number, w0: number): boolean => h0 === 1 && w0 === 0;

export class InterpLayer extends Layer {
  private nearest = false;
  private padBeg = 0;
  private padEnd = 0;
  private inH = 0;
  private inW = 0;
  private effH = 0;
  private effW = 0;
  private outH = 0;
  private outW = 0;
  private rows: Taps = bilinearTaps(1, 1);
  private cols: Taps = bilinearTaps(1, 1);

  get type(): string {
    return 'Interp';
  }
  override minBottomBlobs(): number {
    return 1;
  }
  override maxBottomBlobs(): number {
    return 2;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }
  override allowForceBackward(i: number): boolean {
    return i === 0;
  }

  private get ip(): Message {
    return paramOf(this.param, 'interp_param', 'InterpParameter');
  }

  override layerSetUp(bottom: Blob[], _top: Blob[]): void {
    const p = this.ip;
    this.check(p.interp_type === 'bilinear' || p.interp_type === 'nearest_neighbor',
      () => `interp_type must be "bilinear" or "nearest_neighbor", got "${p.interp_type}"`);
    this.nearest = p.interp_type === 'nearest_neighbor';
    const specs = Number(has(p, 'zoom_factor')) + Number(has(p, 'shrink_factor')) +
      Number(has(p, 'height') && has(p, 'width')) + Number(bottom.length === 2);
    this.check(specs === 1, () => `give the output size exactly one way (zoom_factor, shrink_factor, height and width, or a second bottom); got ${specs}`);
    this.padBeg = p.pad_beg;
    this.padEnd = p.pad_end;
    this.check(this.padBeg <= 0 && this.padEnd <= 0, () => `pad_beg and pad_end must be <= 0 (cropping only), got ${this.padBeg} and ${this.padEnd}`);
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0];
    this.check(b.numAxes === 4, () => `the bottom must be 4-D (num, channels, height, width), got ${b.shapeString()}`);
    const p = this.ip;
    this.inH = b.shape[2];
    this.inW = b.shape[3];
    this.effH = this.inH + this.padBeg + this.padEnd;
    this.effW = this.inW + this.padBeg + this.padEnd;
    if (has(p, 'zoom_factor')) {
      const z = p.zoom_factor;
      this.check(z >= 1, () => `zoom_factor must be >= 1, got ${z}`);
      this.outH = this.effH + (this.effH - 1) * (z - 1);
      this.outW = this.effW + (this.effW - 1) * (z - 1);
    } else if (has(p, 'shrink_factor')) {
      const s = p.shrink_factor;
      this.check(s >= 1, () => `shrink_factor must be >= 1, got ${s}`);
      this.outH = Math.trunc((this.effH - 1) / s) + 1;
      this.outW = Math.trunc((this.effW - 1) / s) + 1;
    } else if (has(p, 'height') && has(p, 'width')) {
      this.outH = p.height;
      this.outW = p.width;
    } else {
      this.check(bottom[1].numAxes === 4, () => `the second bottom must be 4-D, got ${bottom[1].shapeString()}`);
      this.outH = bottom[1].shape[2];
      this.outW = bottom[1].shape[3];
    }
    this.check(this.effH > 0 && this.effW > 0, () => `the cropped input ${this.effH}x${this.effW} must not be empty`);
    this.check(this.outH > 0 && this.outW > 0, () => `the output size ${this.outH}x${this.outW} must be positive`);
    top[0].reshape([b.shape[0], b.shape[1], this.outH, this.outW]);
    const taps = this.nearest ? nearestTaps : bilinearTaps;
    this.rows = taps(this.effH, this.outH);
    this.cols = taps(this.effW, this.outW);
  }

  /**
   * Calls f(output index, four input indices, four weights) for every output element, with the
   * fork's float weights. Equal sizes copy: they pass weights (1, 0, 0, 0), which bilinear taps never
   * give (w0 = 1 - lambda > 0), see isCopy.
   */
  private eachOutput(planes: number, f: (o: number, i00: number, i01: number, i10: number, i11: number,
    w00: number, w01: number, w10: number, w11: number) => void): void {
    const { inH, inW, outH, outW, rows, cols } = this;
    const same = this.effH === outH && this.effW === outW;
    const off = -this.padBeg;
    for (let c = 0; c < planes; c++) {
      const xb = c * inH * inW + off * inW + off;
      const yb = c * outH * outW;
      for (let h = 0; h < outH; h++) {
        const r0 = xb + (same ? h : rows.idx[h]) * inW;
        const r1 = r0 + (same ? 0 : rows.next[h]) * inW;
        const hl = same ? 0 : rows.lambda[h];
        const h0 = f32(1 - hl);
        for (let w = 0; w < outW; w++) {
          const o = yb + h * outW + w;
          if (same) {
            f(o, r0 + w, r0 + w, r0 + w, r0 + w, 1, 0, 0, 0);
            continue;
          }
          const c0 = cols.idx[w];
          const c1 = c0 + cols.next[w];
          const wl = cols.lambda[w];
          const w0 = f32(1 - wl);
          f(o, r0 + c0, r0 + c1, r1 + c0, r1 + c1, h0, w0, hl, wl);
        }
      }
    }
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0].data;
    const y = top[0].data;
    // y = h0 * (w0 * x00 + w1 * x01) + h1 * (w0 * x10 + w1 * x11), in float as the fork.
    this.eachOutput(bottom[0].shape[0] * bottom[0].shape[1], (o, i00, i01, i10, i11, h0, w0, h1, w1) => {
      if (isCopy(h0, w0)) {
        y[o] = x[i00];
        return;
      }
      y[o] = f32(f32(h0 * f32(f32(w0 * x[i00]) + f32(w1 * x[i01]))) + f32(h1 * f32(f32(w0 * x[i10]) + f32(w1 * x[i11]))));
    });
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const dx = bottom[0].diff;
    const dy = top[0].diff;
    dx.fill(0);
    this.eachOutput(bottom[0].shape[0] * bottom[0].shape[1], (o, i00, i01, i10, i11, h0, w0, h1, w1) => {
      const g = dy[o];
      if (isCopy(h0, w0)) {
        dx[i00] = f32(dx[i00] + g);
        return;
      }
      dx[i00] = f32(dx[i00] + f32(f32(h0 * w0) * g));
      dx[i01] = f32(dx[i01] + f32(f32(h0 * w1) * g));
      dx[i10] = f32(dx[i10] + f32(f32(h1 * w0) * g));
      dx[i11] = f32(dx[i11] + f32(f32(h1 * w1) * g));
    });
  }
}

registerLayer('Interp', InterpLayer);
