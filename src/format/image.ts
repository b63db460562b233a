// Image decoding for data layers and the demo, giving the pixels BVLC Caffe gets from OpenCV
// (cv::imread / cv::imdecode with IMREAD_COLOR or IMREAD_GRAYSCALE, as in Caffe's io.cpp).
// JPEG: libjpeg-turbo itself (./jpeg.ts), plus OpenCV's EXIF orientation step.
// PNG: pngjs parses the file; the conversions OpenCV asks libpng for (grfmt_png.cpp) are redone
// here with libpng's arithmetic: png_set_strip_16 (keep the high byte), png_set_strip_alpha
// (drop, never composite), palette / low-bit-depth expansion, png_set_gray_to_rgb, and
// png_set_rgb_to_gray(png_ptr, 1, 0.299, 0.587), gamma-corrected when the file's gamma is
// significant (libpng 1.6 pngrtran.c / png.c).
import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { CaffeError } from '../util/errors.js';
import { decodeJpeg } from './jpeg.js';

export interface Image {
  width: number;
  height: number;
  /** 1 (gray) or 3 (color, in BGR order as OpenCV/Caffe load it). */
  channels: 1 | 3;
  /** Interleaved HWC pixels. */
  data: Uint8Array;
}

export interface DecodeOptions {
  /** Apply the EXIF orientation (JPEG APP1, PNG eXIf), as OpenCV 4.x imread / imdecode do for COLOR
   * and GRAYSCALE reads (not for IMREAD_UNCHANGED). Default true. */
  exifOrientation?: boolean;
  /** Pixel limit, checked from the header before any pixel buffer is allocated (lowered for small files: pixelLimit). */
  maxPixels?: number;
}

/** Largest image we agree to decode (pixels); guards against decompression bombs. */
export const MAX_PIXELS = 1 << 28;

/**
 * Pixels an image file may decode to per byte of it (above a floor of PIXELS_FLOOR): more than
 * real files carry (Huffman-coded JPEG spends at least a bit per 8x8 block, deflate expands at
 * most about 1032 times and a 1-bit PNG holds 8 pixels a byte), so only a header declaring far
 * more pixels than its data could fill is refused before its pixels are allocated: a
 * decompression bomb, or a truncated file that libjpeg would pad with gray.
 */
export const PIXELS_PER_BYTE = 8192;
export const PIXELS_FLOOR = 1 << 22;

/** The pixel limit for a file of `fileBytes` bytes. */
export function pixelLimit(fileBytes: number, maxPixels = MAX_PIXELS): number {
  return Math.min(maxPixels, Math.max(PIXELS_FLOOR, PIXELS_PER_BYTE * fileBytes));
}

/** Decodes a PNG or JPEG to BGR (color) or gray, as cv::imread with IMREAD_COLOR / GRAYSCALE. */
export function decodeImage(bytes: Uint8Array, color: boolean, name = '<image>', options: DecodeOptions = {}): Image {
  const maxPixels = pixelLimit(bytes.length, options.maxPixels ?? MAX_PIXELS);
  if (isPng(bytes)) {
    const { image, orientation } = decodePng(bytes, color, name, maxPixels);
    return options.exifOrientation === false ? image : orient(image, orientation);
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    const img = decodeJpeg(bytes, color, maxPixels, name);
    const out: Image = { width: img.width, height: img.height, channels: img.channels, data: img.data };
    return options.exifOrientation === false ? out : orient(out, jpegExifOrientation(bytes));
  }
  throw new CaffeError(`${name}: cannot decode image: not a PNG or JPEG file`);
}

export function readImage(path: string, color: boolean): Image {
  return decodeImage(readFileSync(path), color, path);
}

function isPng(b: Uint8Array): boolean {
  return b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
}

// ---------------------------------------------------------------------------------------------
// PNG

/** What libpng's transformations depend on: ancillary chunks before the first IDAT, eXIf anywhere. */
interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  /** File gamma, libpng fixed point (x100000); 0 when the file states none. */
  gamma: number;
  /** sBIT of the color channels (max of R,G,B) or of gray; 0 when absent. */
  sigBit: number;
  /** The file without its tRNS chunks (pngjs would zero "transparent" pixels; OpenCV keeps them). */
  withoutTrns: Uint8Array;
  /** EXIF orientation from an eXIf chunk (1 when none). */
  orientation: number;
  /** The transparent colour of a gray/RGB file's tRNS chunk (samples as stored), if any. */
  transColor?: number[];
}

const u32 = (b: Uint8Array, p: number) => ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;

function readPngHeader(b: Uint8Array, name: string): PngHeader {
  if (b.length < 33 || u32(b, 12) !== 0x49484452 /* IHDR */) throw new CaffeError(`${name}: cannot decode image: PNG has no IHDR chunk`);
  const h: PngHeader = { width: u32(b, 16), height: u32(b, 20), bitDepth: b[24], colorType: b[25], gamma: 0, sigBit: 0, withoutTrns: b, orientation: 1 };
  let gamma = 0;
  let fromGama = false;
  let haveIntent = false;
  let invalid = false;
  let seenPlte = false;
  let seenIdat = false;
  let seenExif = false;
  let seenSbit = false;
  const trns: [number, number][] = [];
  for (let pos = 8; pos + 8 <= b.length; ) {
    const len = u32(b, pos);
    const type = u32(b, pos + 4);
    const data = pos + 8;
    if (type === 0x49454e44 /* IEND */ || data + len > b.length) break; // truncated: pngjs reports it
    if (type === 0x49444154 /* IDAT */) seenIdat = true;
    // eXIf may follow the image data (libpng keeps it in end_info, which OpenCV reads too).
    else if (type === 0x65584966 /* eXIf */ && !seenExif) {
      seenExif = true;
      h.orientation = tiffOrientation(b.subarray(data, data + len));
    } else if (seenIdat) {
      // only eXIf matters after the image data
    } else if (type === 0x504c5445 /* PLTE */) seenPlte = true;
    else if (type === 0x74524e53 /* tRNS */) {
      trns.push([pos, pos + 12 + len]);
      if (h.colorType === 0 && len >= 2) h.transColor = [(b[data] << 8) | b[data + 1]];
      if (h.colorType === 2 && len >= 6) h.transColor = [0, 2, 4].map((k) => (b[data + k] << 8) | b[data + k + 1]);
    }
    // libpng's colorspace bookkeeping (png_handle_gAMA / _sRGB / _iCCP, png_colorspace_set_gamma
    // / _set_sRGB): chunks after PLTE are "out of place" and ignored; an out-of-range (outside
    // 16..625000000) or duplicate gAMA, a bad sRGB intent or a second profile marks the colorspace
    // invalid, after which gAMA/sRGB are ignored (the gamma already set stays).
    else if (type === 0x67414d41 /* gAMA */ && len === 4 && !seenPlte) {
      const g = u32(b, data);
      if (g < 16 || g > 625000000 || fromGama) invalid = true;
      else if (!invalid) {
        // after sRGB, a gAMA more than 5% away from it is reported and ignored
        if (!(gamma && gammaSignificant(Math.floor((gamma * 100000) / g + 0.5)))) {
          gamma = g;
          fromGama = true;
        }
      }
    } else if (type === 0x73524742 /* sRGB */ && len === 1 && !seenPlte && !invalid) {
      if (haveIntent || b[data] >= 4) invalid = true;
      else {
        gamma = 45455; // PNG_GAMMA_sRGB_INVERSE, whatever a gAMA said
        haveIntent = true;
      }
    } else if (type === 0x69434350 /* iCCP */ && len >= 9 && !seenPlte && !invalid) {
      // After sRGB: "too many profiles". Otherwise the profile is taken as one that is not among
      // the ICC sRGB profiles libpng recognises (those would imply the sRGB gamma): not checked.
      if (haveIntent) invalid = true;
    } else if (type === 0x73424954 /* sBIT */ && !seenPlte && !seenSbit) {
      // png_handle_sBIT: one byte per channel (3 for palette), each 1..sample depth, else ignored.
      seenSbit = true;
      const channels = [1, 0, 3, 3, 2, 0, 4][h.colorType] ?? 0;
      const depth = h.colorType === 3 ? 8 : h.bitDepth;
      const v = Array.from(b.subarray(data, data + len));
      if (len === channels && v.every((x) => x >= 1 && x <= depth)) h.sigBit = h.colorType & 2 ? Math.max(v[0], v[1], v[2]) : v[0];
    }
    pos = data + len + 4;
  }
  h.gamma = gamma;
  if (trns.length) {
    const parts: Uint8Array[] = [];
    let from = 0;
    for (const [s, e] of trns) {
      parts.push(b.subarray(from, s));
      from = e;
    }
    parts.push(b.subarray(from));
    h.withoutTrns = Buffer.concat(parts);
  }
  return h;
}

function decodePng(bytes: Uint8Array, color: boolean, name: string, maxPixels: number): { image: Image; orientation: number } {
  const h = readPngHeader(bytes, name);
  const { width, height } = h;
  if (!(width > 0 && height > 0)) throw new CaffeError(`${name}: cannot decode PNG: invalid size ${width}x${height}`);
  if (width * height > maxPixels) throw new CaffeError(`${name}: PNG is ${width}x${height}, over the ${maxPixels}-pixel limit`);
  const deep = h.bitDepth === 16;
  let rgba: Uint8Array | Uint16Array;
  try {
    // skipRescale: pngjs would round 16-bit samples to 8 bits; libpng's strip_16 truncates.
    const png = PNG.sync.read(Buffer.from(h.withoutTrns.buffer, h.withoutTrns.byteOffset, h.withoutTrns.byteLength), { skipRescale: deep });
    rgba = png.data as unknown as Uint8Array | Uint16Array;
  } catch (e) {
    throw new CaffeError(`${name}: cannot decode image: ${(e as Error).message}`);
  }
  const n = width * height;
  const isColor = (h.colorType & 2) !== 0; // RGB, RGBA or palette
  const shift = deep ? 8 : 0;
  if (color) {
    // BGR; gray files replicated (png_set_gray_to_rgb), alpha dropped, 16-bit -> high byte.
    const out = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      out[3 * i] = rgba[4 * i + 2] >> shift;
      out[3 * i + 1] = rgba[4 * i + 1] >> shift;
      out[3 * i + 2] = rgba[4 * i] >> shift;
    }
    return { image: { width, height, channels: 3, data: out }, orientation: h.orientation };
  }
  const out = new Uint8Array(n);
  if (!isColor) {
    for (let i = 0; i < n; i++) out[i] = rgba[4 * i] >> shift;
  } else if (deep) {
    rgbToGray16(rgba as Uint16Array, out, h);
  } else {
    rgbToGray8(rgba as Uint8Array, out, h.gamma);
  }
  return { image: { width, height, channels: 1, data: out }, orientation: h.orientation };
}

/**
 * An 8-bit PNG with an alpha channel or a tRNS chunk, read as stored (cv::imdecode with
 * IMREAD_UNCHANGED): BGRA, gray replicated, tRNS turned into alpha (png_set_tRNS_to_alpha keeps
 * the colour of transparent pixels; pngjs alone would zero it).
 */
export function decodePngBgra(bytes: Uint8Array, name = '<image>', maxPixels = MAX_PIXELS): { width: number; height: number; channels: 4; data: Uint8Array } {
  const h = readPngHeader(bytes, name);
  const { width, height } = h;
  if (!(width > 0 && height > 0)) throw new CaffeError(`${name}: cannot decode PNG: invalid size ${width}x${height}`);
  if (width * height > maxPixels) throw new CaffeError(`${name}: PNG is ${width}x${height}, over the ${maxPixels}-pixel limit`);
  if (h.bitDepth === 16) throw new CaffeError(`${name}: 16-bit PNG read as stored is not 8-bit`);
  // Palette transparency is right in pngjs (it only sets alpha); gray/RGB tRNS is applied here.
  const src = h.colorType === 3 ? bytes : h.withoutTrns;
  let rgba: Uint8Array;
  try {
    rgba = PNG.sync.read(Buffer.from(src.buffer, src.byteOffset, src.byteLength)).data;
  } catch (e) {
    throw new CaffeError(`${name}: cannot decode image: ${(e as Error).message}`);
  }
  const n = width * height;
  const out = new Uint8Array(n * 4);
  const t = h.transColor;
  // gray below 8 bits was scaled to 8 by pngjs: compare the transparent gray at that scale
  const scale = h.colorType === 0 && h.bitDepth < 8 ? 255 / ((1 << h.bitDepth) - 1) : 1;
  for (let i = 0; i < n; i++) {
    const r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2];
    out[4 * i] = b;
    out[4 * i + 1] = g;
    out[4 * i + 2] = r;
    let a = rgba[4 * i + 3];
    if (t) a = (t.length === 1 ? r === t[0] * scale : r === t[0] && g === t[1] && b === t[2]) ? 0 : 255;
    out[4 * i + 3] = a;
  }
  return { width, height, channels: 4, data: out };
}

// libpng's png_set_rgb_to_gray(png_ptr, 1, 0.299, 0.587): png_fixed() then x32768/100000,
// truncated: red 9797, green 19234, blue the rest.
const RC = 9797;
const GC = 19234;
const BC = 32768 - RC - GC;

/**
 * The file and screen gamma libpng ends up with when the application sets no screen gamma (OpenCV
 * does not): screen = 1/file, or both 1.0 for a file without gamma. The rgb_to_gray gamma tables
 * are built when either is significant (more than 5% from 1.0).
 */
function gammas(fileGamma: number): { file: number; screen: number; significant: boolean } {
  const file = fileGamma || 100000;
  const screen = fileGamma ? reciprocal(fileGamma) : 100000;
  return { file, screen, significant: gammaSignificant(file) || gammaSignificant(screen) };
}

/** 8-bit rgb_to_gray (png_do_rgb_to_gray), from RGBA pixels. */
function rgbToGray8(rgba: Uint8Array, out: Uint8Array, fileGamma: number): void {
  const n = out.length;
  const g = gammas(fileGamma);
  if (!g.significant) {
    for (let i = 0; i < n; i++) {
      const r = rgba[4 * i], gr = rgba[4 * i + 1], b = rgba[4 * i + 2];
      // Historical libpng path: truncates.
      out[i] = r === gr && r === b ? r : (RC * r + GC * gr + BC * b) >>> 15;
    }
    return;
  }
  const table = build8(reciprocal2(g.file, g.screen));
  const to1 = build8(reciprocal(g.file));
  const from1 = build8(reciprocal(g.screen));
  for (let i = 0; i < n; i++) {
    const r = rgba[4 * i], gr = rgba[4 * i + 1], b = rgba[4 * i + 2];
    out[i] = r === gr && r === b ? table[r] : from1[(RC * to1[r] + GC * to1[gr] + BC * to1[b] + 16384) >>> 15];
  }
}

/** 16-bit rgb_to_gray, then png_set_strip_16 (high byte), from 16-bit RGBA pixels. */
function rgbToGray16(rgba: Uint16Array, out: Uint8Array, h: PngHeader): void {
  const n = out.length;
  const g = gammas(h.gamma);
  if (!g.significant) {
    for (let i = 0; i < n; i++) {
      const gray16 = (RC * rgba[4 * i] + GC * rgba[4 * i + 1] + BC * rgba[4 * i + 2] + 16384) >>> 15;
      out[i] = gray16 >> 8;
    }
    return;
  }
  // png_build_gamma_table for 16-bit data: tables indexed by value >> gamma_shift, where the
  // shift drops the bits sBIT says are insignificant, at least 16 - PNG_MAX_GAMMA_8 (11) bits
  // kept because the output is stripped to 8 bits, at most 8 dropped.
  let shift = h.sigBit > 0 && h.sigBit < 16 ? 16 - h.sigBit : 0;
  if (shift < 5) shift = 5;
  if (shift > 8) shift = 8;
  const table = build16to8(shift, product2(g.file, g.screen));
  const to1 = build16(shift, reciprocal(g.file));
  const from1 = build16(shift, reciprocal(g.screen));
  for (let i = 0; i < n; i++) {
    const r = rgba[4 * i], gr = rgba[4 * i + 1], b = rgba[4 * i + 2];
    let w: number;
    if (r === gr && r === b) w = table[r >> shift];
    else {
      const gray16 = (RC * to1[r >> shift] + GC * to1[gr >> shift] + BC * to1[b >> shift] + 16384) >>> 15;
      w = from1[gray16 >> shift];
    }
    out[i] = w >> 8;
  }
}

// libpng's fixed-point gamma helpers, floating-arithmetic build (Debian's pnglibconf.h).
function reciprocal(a: number): number {
  const r = Math.floor(1e10 / a + 0.5);
  return r <= 2147483647 && r >= -2147483648 ? r : 0;
}
function reciprocal2(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  let r = 1e15 / a;
  r /= b;
  r = Math.floor(r + 0.5);
  return r <= 2147483647 && r >= -2147483648 ? r : 0;
}
function product2(a: number, b: number): number {
  let r = a * 1e-5;
  r *= b;
  r = Math.floor(r + 0.5);
  return r <= 2147483647 && r >= -2147483648 ? r : 0;
}
function gammaSignificant(g: number): boolean {
  return g < 100000 - 5000 || g > 100000 + 5000;
}
function gamma8(value: number, g: number): number {
  return value > 0 && value < 255 ? Math.floor(255 * Math.pow(value / 255, g * 0.00001) + 0.5) : value;
}
function gamma16(value: number, g: number): number {
  return value > 0 && value < 65535 ? Math.floor(65535 * Math.pow(value / 65535, g * 0.00001) + 0.5) : value;
}
/** png_build_8bit_table. */
function build8(g: number): Uint8Array {
  const t = new Uint8Array(256);
  const sig = gammaSignificant(g);
  for (let i = 0; i < 256; i++) t[i] = sig ? gamma8(i, g) : i;
  return t;
}
/** png_build_16bit_table, flattened: entry v >> shift. */
function build16(shift: number, g: number): Uint16Array {
  const size = 1 << (16 - shift);
  const max = size - 1;
  const t = new Uint16Array(size);
  const sig = gammaSignificant(g);
  const fmax = 1 / max;
  for (let ig = 0; ig < size; ig++) {
    if (sig) t[ig] = Math.floor(65535 * Math.pow(ig * fmax, g * 0.00001) + 0.5);
    else t[ig] = shift ? Math.floor((ig * 65535 + (1 << (15 - shift))) / max) : ig;
  }
  return t;
}
/** png_build_16to8_table, flattened: entry v >> shift (its high byte is the 8-bit result). */
function build16to8(shift: number, g: number): Uint16Array {
  const size = 1 << (16 - shift);
  const max = size - 1;
  const t = new Uint16Array(size);
  let last = 0;
  for (let i = 0; i < 255; i++) {
    const out = i * 257;
    const bound = Math.floor((gamma16(out + 128, g) * max + 32768) / 65535) + 1;
    while (last < bound && last < size) t[last++] = out;
  }
  while (last < size) t[last++] = 65535;
  return t;
}

// ---------------------------------------------------------------------------------------------
// EXIF orientation (OpenCV 4.x's ExifReader + ApplyExifOrientation; OpenCV 2.4, which many Caffe
// builds used, applied none)

/** The orientation tag (1..8) of the first EXIF APP1 segment, 1 when absent or unreadable. */
export function jpegExifOrientation(b: Uint8Array): number {
  let pos = 2;
  while (pos + 4 <= b.length && b[pos] === 0xff) {
    const marker = b[pos + 1];
    if (marker === 0xda || marker === 0xd9) break; // image data: no more metadata
    const len = (b[pos + 2] << 8) | b[pos + 3];
    if (marker === 0xe1 && len >= 16 && pos + 2 + len <= b.length && b[pos + 4] === 0x45 && b[pos + 5] === 0x78 && b[pos + 6] === 0x69 && b[pos + 7] === 0x66 && b[pos + 8] === 0 && b[pos + 9] === 0) {
      return tiffOrientation(b.subarray(pos + 10, pos + 2 + len));
    }
    pos += 2 + len;
  }
  return 1;
}

function tiffOrientation(t: Uint8Array): number {
  const le = t[0] === 0x49 && t[1] === 0x49;
  if (!le && !(t[0] === 0x4d && t[1] === 0x4d)) return 1;
  const u16 = (p: number) => (le ? t[p] | (t[p + 1] << 8) : (t[p] << 8) | t[p + 1]);
  const u32le = (p: number) => (le ? (t[p] | (t[p + 1] << 8) | (t[p + 2] << 16) | (t[p + 3] << 24)) >>> 0 : u32(t, p));
  const ifd = u32le(4);
  if (ifd + 2 > t.length) return 1;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const e = ifd + 2 + 12 * i;
    if (e + 12 > t.length) return 1;
    if (u16(e) === 0x0112) {
      const v = u16(e + 8);
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

/** Applies an EXIF orientation (1..8: TL TR BR BL LT RT RB LB) as OpenCV does with flip/transpose. */
export function orient(img: Image, orientation: number): Image {
  if (orientation <= 1 || orientation > 8) return img;
  const { width: w, height: h, channels: c, data } = img;
  const transpose = orientation >= 5;
  // After the optional transpose: flip horizontally for TR, BR, RT, RB; vertically for BR, BL, RB, LB.
  const flipX = orientation === 2 || orientation === 3 || orientation === 6 || orientation === 7;
  const flipY = orientation === 3 || orientation === 4 || orientation === 7 || orientation === 8;
  const ow = transpose ? h : w;
  const oh = transpose ? w : h;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < oh; y++) {
    const ty = flipY ? oh - 1 - y : y;
    for (let x = 0; x < ow; x++) {
      const tx = flipX ? ow - 1 - x : x;
      // (tx, ty) in the transposed image is (ty, tx) in the source.
      const s = transpose ? (tx * w + ty) * c : (ty * w + tx) * c;
      const d = (y * ow + x) * c;
      for (let k = 0; k < c; k++) out[d + k] = data[s + k];
    }
  }
  return { width: ow, height: oh, channels: c, data: out };
}
