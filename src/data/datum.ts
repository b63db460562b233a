// caffe.Datum records (what Caffe's convert tools store in LMDB): decoding, encoding, and turning
// an encoded Datum (a PNG or JPEG file's bytes) into pixels the way Caffe's io.cpp does with
// OpenCV: DecodeDatumToCVMatNative (cv::imdecode with IMREAD_UNCHANGED: gray stays 1 channel,
// color is BGR, an alpha channel gives BGRA) or DecodeDatumToCVMat (IMREAD_COLOR / GRAYSCALE).
import { decodeMessage, encodeMessage } from '../format/binary.js';
import { decodeImage, decodePngBgra } from '../format/image.js';
import { newMessage } from '../proto/schema.js';
import { CaffeError } from '../util/errors.js';

export interface Datum {
  channels: number;
  height: number;
  width: number;
  /** The `data` bytes: CHW uint8 pixels, or an image file when `encoded`. Empty when absent. */
  data: Uint8Array;
  /** `float_data` (CHW), used when `data` is empty. */
  floatData: Float32Array;
  label: number;
  encoded: boolean;
}

/** Interleaved HWC 8-bit pixels (BGR / BGRA order for 3 / 4 channels), as a cv::Mat of CV_8UC{n}. */
export interface PixelImage {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

const EMPTY_BYTES = new Uint8Array(0);
const EMPTY_FLOATS = new Float32Array(0);

/** Decodes a serialized caffe.Datum. `where` names the record in errors. */
export function decodeDatum(bytes: Uint8Array, where = '<datum>'): Datum {
  const m = decodeMessage(bytes, 'Datum', where);
  return {
    channels: m.channels,
    height: m.height,
    width: m.width,
    data: m.data instanceof Uint8Array ? m.data : EMPTY_BYTES,
    floatData: m.float_data instanceof Float32Array ? m.float_data : m.float_data?.length ? Float32Array.from(m.float_data) : EMPTY_FLOATS,
    label: m.label,
    encoded: !!m.encoded,
  };
}

/** Serializes a Datum (for writing databases and tests); absent parts are left out. */
export function encodeDatum(d: Partial<Datum>): Uint8Array {
  const m = newMessage('Datum');
  if (d.channels !== undefined) m.channels = d.channels;
  if (d.height !== undefined) m.height = d.height;
  if (d.width !== undefined) m.width = d.width;
  if (d.data && d.data.length) m.data = d.data;
  if (d.label !== undefined) m.label = d.label;
  if (d.floatData && d.floatData.length) m.float_data = Float32Array.from(d.floatData);
  if (d.encoded) m.encoded = true;
  return encodeMessage(m, 'Datum');
}

/** How to decode an encoded Datum: as stored (native), forced to BGR, or forced to gray. */
export type DecodeMode = 'native' | 'color' | 'gray';

/** The image in an encoded Datum, decoded as Caffe's DataTransformer does. */
export function decodeDatumImage(datum: Datum, mode: DecodeMode, where = '<datum>'): PixelImage {
  if (!datum.data.length) throw new CaffeError(`${where}: encoded datum holds no image bytes`);
  return decodeImageBytes(datum.data, mode, where);
}

/** Decodes PNG/JPEG bytes: 'color' and 'gray' as cv::imdecode with IMREAD_COLOR / GRAYSCALE, 'native' as IMREAD_UNCHANGED. */
export function decodeImageBytes(bytes: Uint8Array, mode: DecodeMode, where = '<image>'): PixelImage {
  if (mode === 'color') return decodeImage(bytes, true, where);
  if (mode === 'gray') return decodeImage(bytes, false, where);
  const kind = storedLayout(bytes);
  if (kind.bitDepth16) {
    throw new CaffeError(`${where}: 16-bit PNG: decoded as stored (OpenCV's IMREAD_UNCHANGED) it is not 8-bit, which Caffe's transformer rejects; set transform_param force_color or force_gray`);
  }
  // IMREAD_UNCHANGED: OpenCV applies no EXIF orientation.
  if (kind.channels === 1) return decodeImage(bytes, false, where, { exifOrientation: false });
  if (kind.channels === 3) return decodeImage(bytes, true, where, { exifOrientation: false });
  // PNG with alpha (or a transparency chunk): BGRA, as OpenCV gives it.
  return decodePngBgra(bytes, where);
}

/** Channels an image file holds as stored (what IMREAD_UNCHANGED yields), from its header. */
function storedLayout(b: Uint8Array): { channels: number; bitDepth16: boolean } {
  if (b.length >= 33 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) {
    const bitDepth = b[24];
    const colorType = b[25];
    // tRNS before the first IDAT turns RGB / palette images into BGRA in OpenCV.
    let hasTrns = false;
    let pos = 8;
    while (pos + 8 <= b.length) {
      const len = ((b[pos] << 24) | (b[pos + 1] << 16) | (b[pos + 2] << 8) | b[pos + 3]) >>> 0;
      const type = String.fromCharCode(b[pos + 4], b[pos + 5], b[pos + 6], b[pos + 7]);
      if (type === 'IDAT' || type === 'IEND') break;
      if (type === 'tRNS') hasTrns = true;
      pos += 12 + len;
    }
    let channels: number;
    if (colorType === 4 || colorType === 6) channels = 4;
    else if (colorType === 2 || colorType === 3) channels = hasTrns ? 4 : 3;
    else channels = 1;
    return { channels, bitDepth16: bitDepth === 16 };
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    // Find the frame header (SOFn) and read its component count.
    let pos = 2;
    while (pos + 4 <= b.length) {
      if (b[pos] !== 0xff) {
        pos++;
        continue;
      }
      const marker = b[pos + 1];
      if (marker === 0xff) {
        pos++;
        continue;
      }
      if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        pos += 2;
        continue;
      }
      const len = (b[pos + 2] << 8) | b[pos + 3];
      const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
      if (isSof && pos + 9 < b.length) return { channels: b[pos + 9] === 1 ? 1 : 3, bitDepth16: false };
      if (marker === 0xda || marker === 0xd9) break;
      pos += 2 + len;
    }
    return { channels: 3, bitDepth16: false };
  }
  return { channels: 3, bitDepth16: false }; // not an image we know: decodeImage reports it
}
