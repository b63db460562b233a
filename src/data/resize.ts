// Bilinear resizing of 8-bit images as OpenCV's cv::resize(..., INTER_LINEAR) computes it, which is
// what Caffe's ReadImageToCVMat uses for ImageData's new_height/new_width.
//
// OpenCV works in fixed point for 8-bit images: for each output column, the source position
// fx = (dx + 0.5) * scale_x - 0.5 (float), sx = floor(fx), with columns before the first and past
// the last source column clamped (weight 1 on the edge column); the two weights (1 - fx, fx) are
// rounded to multiples of 1/2048. The horizontal pass gives integers pixel * 2048; the vertical pass
// weighs two such rows the same way (rows clamped to the image) and scales back by 2^22.
//
// The vertical pass rounds as OpenCV 4's fixed-point code does for every element (its SIMD loop and
// the scalar loop for the rest of the row agree):
//   ((((r0 >> 4) * b0) >> 16) + (((r1 >> 4) * b1) >> 16) + 2) >> 2
// Checked pixel for pixel against BVLC Caffe's ImageData on OpenCV 4.5 (fixtures/images/resize).
// OpenCV 2.4-era builds computed the last few values of each row exactly instead, which differs
// by 1 there.
import type { PixelImage } from './datum.js';

const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS;

/** Round half to even, as cvRound / lrint in the default rounding mode. */
function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Resizes an HWC 8-bit image to width x height with OpenCV's INTER_LINEAR. */
export function resizeLinear(src: PixelImage, width: number, height: number): PixelImage {
  const { width: sw, height: sh, channels: cn, data } = src;
  if (!(width > 0 && height > 0)) throw new RangeError(`resize to ${width}x${height}: sizes must be positive`);
  if (width === sw && height === sh) return { width, height, channels: cn, data: data.slice() };
  // OpenCV computes scale = 1 / (dst / src) in double.
  const scaleX = 1 / (width / sw);
  const scaleY = 1 / (height / sh);

  // Columns: source offset (in elements) and two weights per output column.
  const xofs = new Int32Array(width);
  const alpha = new Int32Array(width * 2);
  const xEdge = new Uint8Array(width); // 1 where OpenCV uses the edge pixel alone
  for (let dx = 0; dx < width; dx++) {
    let fx = Math.fround((dx + 0.5) * scaleX - 0.5);
    let sx = Math.floor(fx);
    fx = Math.fround(fx - sx);
    if (sx < 0) {
      fx = 0;
      sx = 0;
    }
    if (sx + 1 >= sw) {
      xEdge[dx] = 1;
      if (sx >= sw - 1) {
        fx = 0;
        sx = sw - 1;
      }
    }
    xofs[dx] = sx * cn;
    alpha[2 * dx] = roundEven(Math.fround(1 - fx) * COEF_SCALE);
    alpha[2 * dx + 1] = roundEven(fx * COEF_SCALE);
  }
  // Rows: the two source rows (clamped) and weights per output row.
  const yofs = new Int32Array(height);
  const beta = new Int32Array(height * 2);
  for (let dy = 0; dy < height; dy++) {
    let fy = Math.fround((dy + 0.5) * scaleY - 0.5);
    const sy = Math.floor(fy);
    fy = Math.fround(fy - sy);
    yofs[dy] = sy;
    beta[2 * dy] = roundEven(Math.fround(1 - fy) * COEF_SCALE);
    beta[2 * dy + 1] = roundEven(fy * COEF_SCALE);
  }

  const rowLen = width * cn;
  // Horizontal pass of one source row, cached for the two rows the current output row needs.
  const hrow = (sy: number, into: Int32Array) => {
    const base = sy * sw * cn;
    for (let dx = 0; dx < width; dx++) {
      const sx = xofs[dx];
      const a0 = alpha[2 * dx];
      const a1 = alpha[2 * dx + 1];
      for (let k = 0; k < cn; k++) {
        const p0 = data[base + sx + k];
        into[dx * cn + k] = xEdge[dx] ? p0 * COEF_SCALE : p0 * a0 + data[base + sx + k + cn] * a1;
      }
    }
  };
  const rows = [new Int32Array(rowLen), new Int32Array(rowLen)];
  const rowOf = [-1, -1];
  const getRow = (sy: number): Int32Array => {
    if (rowOf[0] === sy) return rows[0];
    if (rowOf[1] === sy) return rows[1];
    // replace the row that is not the other one in use
    const slot = rowOf[0] < rowOf[1] ? 0 : 1;
    hrow(sy, rows[slot]);
    rowOf[slot] = sy;
    return rows[slot];
  };

  const out = new Uint8Array(height * rowLen);
  for (let dy = 0; dy < height; dy++) {
    const y0 = Math.min(Math.max(yofs[dy], 0), sh - 1);
    const y1 = Math.min(Math.max(yofs[dy] + 1, 0), sh - 1);
    const r0 = getRow(y0);
    const r1 = getRow(y1);
    const b0 = beta[2 * dy];
    const b1 = beta[2 * dy + 1];
    const o = dy * rowLen;
    for (let x = 0; x < rowLen; x++) {
      const v = ((((r0[x] >> 4) * b0) >> 16) + (((r1[x] >> 4) * b1) >> 16) + 2) >> 2;
      out[o + x] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { width, height, channels: cn, data: out };
}

/** An HxWxC float image (interleaved), as numpy holds what caffe.io.load_image returns. */
export interface FloatImage {
  height: number;
  width: number;
  channels: number;
  data: Float32Array;
}

// scikit-image's transform.resize(image, (h, w), order=1, mode='constant'), as pycaffe's
// caffe.io.resize_image calls it (skimage 0.18, Debian 11's): when shrinking an axis by a factor
// f > 1 the image is first blurred by scipy.ndimage.gaussian_filter with sigma (f - 1) / 2 (radius
// int(4 sigma + 0.5), zeros outside); then each output pixel samples the input at
// f * (x + 0.5) - 0.5 bilinearly, with pixels outside the image read as 0 (the 'constant' mode),
// and the result is clipped to the range of the blurred input. float32 between the steps, as numpy.

/** skimage.transform.resize with order=1, mode='constant' and its default anti-aliasing. */
export function resizeSkimage(src: FloatImage, height: number, width: number): FloatImage {
  if (!(height > 0 && width > 0)) throw new RangeError(`resize to ${width}x${height}: sizes must be positive`);
  const { height: sh, width: sw, channels: cn } = src;
  const fy = sh / height;
  const fx = sw / width;
  let img = src.data;
  if (fy > 1) img = gaussianAxis(img, sh, sw, cn, 0, (fy - 1) / 2);
  if (fx > 1) img = gaussianAxis(img, sh, sw, cn, 1, (fx - 1) / 2);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < img.length; i++) {
    if (img[i] < lo) lo = img[i];
    if (img[i] > hi) hi = img[i];
  }
  const keepZero = !(lo <= 0 && 0 <= hi); // skimage keeps exact cval pixels when cval is out of range
  const out = new Float32Array(height * width * cn);
  // A single output pixel samples the centre (skimage's special case for 1x1 outputs).
  const one = height === 1 && width === 1;
  const at = (r: number, c: number, k: number) => (r < 0 || r >= sh || c < 0 || c >= sw ? 0 : img[(r * sw + c) * cn + k]);
  for (let y = 0; y < height; y++) {
    const r = one ? sh / 2 - 0.5 : fy * (y + 0.5) - 0.5;
    const r0 = Math.floor(r);
    const r1 = Math.ceil(r);
    const dr = r - r0;
    for (let x = 0; x < width; x++) {
      const c = one ? sw / 2 - 0.5 : fx * (x + 0.5) - 0.5;
      const c0 = Math.floor(c);
      const c1 = Math.ceil(c);
      const dc = c - c0;
      for (let k = 0; k < cn; k++) {
        const top = (1 - dc) * at(r0, c0, k) + dc * at(r0, c1, k);
        const bottom = (1 - dc) * at(r1, c0, k) + dc * at(r1, c1, k);
        let v = Math.fround((1 - dr) * top + dr * bottom);
        if (!(keepZero && v === 0)) v = v < lo ? lo : v > hi ? hi : v;
        out[(y * width + x) * cn + k] = v;
      }
    }
  }
  return { height, width, channels: cn, data: out };
}

/** scipy.ndimage.gaussian_filter1d along axis 0 (rows) or 1 (columns), zeros outside, float32 out. */
function gaussianAxis(src: Float32Array, h: number, w: number, cn: number, axis: 0 | 1, sigma: number): Float32Array {
  const radius = Math.trunc(4 * sigma + 0.5);
  const wts = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += wts[i + radius] = Math.exp((-0.5 / (sigma * sigma)) * i * i);
  for (let i = 0; i < wts.length; i++) wts[i] /= sum;
  const out = new Float32Array(src.length);
  const n = axis === 0 ? h : w;
  const stride = axis === 0 ? w * cn : cn;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const pos = axis === 0 ? y : x;
      const base = (y * w + x) * cn;
      for (let k = 0; k < cn; k++) {
        let acc = 0;
        for (let j = -radius; j <= radius; j++) {
          const p = pos + j;
          if (p >= 0 && p < n) acc += wts[j + radius] * src[base + j * stride + k];
        }
        out[base + k] = acc;
      }
    }
  }
  return out;
}
