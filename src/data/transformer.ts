// Caffe's DataTransformer (data_transformer.cpp): turns a Datum or a decoded image into one CHW
// float item of a batch, applying, in Caffe's order and float32 arithmetic:
//
//   crop      crop_size: a random offset in TRAIN (h_off then w_off drawn), the centre in TEST
//   mirror    drawn first for every item when `mirror` is set (a coin flip), flips the columns
//   mean      mean_file (a BlobProto, indexed at the crop position in the full-size mean) or
//             mean_value (one for all channels or one per channel), never both
//   scale     out = (pixel - mean) * scale
//
// Encoded Datums are decoded first (force_color / force_gray, else as stored), exactly as Caffe
// decodes them to a cv::Mat and transforms that. Random draws come from the transformer's own
// MT19937 stream, seeded (as Caffe's InitRand) with one draw from the global generator when the
// transformer needs randomness (mirror, or crop in TRAIN): `Rand(n)` is `next uint32 % n`.
//
// Everything a transformer needs is a plain, structured-cloneable TransformConfig (built from a
// TransformationParameter by transform-config.ts), so the same transformer can be rebuilt inside
// the prefetch worker.
import { Rng } from '../kernels/rng.js';
import { CaffeError } from '../util/errors.js';
import { decodeDatumImage, type Datum, type PixelImage } from './datum.js';

export const TRAIN = 0;
export const TEST = 1;

export interface MeanImage {
  /** Caffe's legacy channels/height/width of the mean blob. */
  channels: number;
  height: number;
  width: number;
  data: Float32Array;
}

export interface TransformConfig {
  phase: number;
  scale: number;
  mirror: boolean;
  cropSize: number;
  mean: MeanImage | null;
  /** mean_value entries (float32). */
  meanValues: number[];
  forceColor: boolean;
  forceGray: boolean;
  /** Seed of the transformer's random stream; null when it draws nothing. */
  seed: number | null;
}

export class DataTransformer {
  private readonly rng: Rng | null;
  private meanValues: number[];

  constructor(readonly config: TransformConfig) {
    this.rng = config.seed === null ? null : new Rng(config.seed);
    this.meanValues = config.meanValues.slice();
  }

  /** Caffe's Rand(n): next raw draw modulo n. */
  private rand(n: number): number {
    if (!this.rng) throw new CaffeError('transformer drew a random number without a random stream');
    return this.rng.nextUint32() % n;
  }

  /** Decodes an encoded Datum as Caffe does before transforming it; other Datums pass through. */
  prepare(datum: Datum, where = '<datum>'): Datum | PixelImage {
    if (!datum.encoded) return datum;
    const { forceColor, forceGray } = this.config;
    if (forceColor && forceGray) throw new CaffeError('cannot set both force_color and force_gray');
    return decodeDatumImage(datum, forceColor ? 'color' : forceGray ? 'gray' : 'native', where);
  }

  /** Caffe's InferBlobShape: [1, C, crop or H, crop or W]. */
  inferShape(item: Datum | PixelImage): number[] {
    const crop = this.config.cropSize;
    const { channels, height, width } = item;
    if (!(channels > 0)) throw new CaffeError(`datum has ${channels} channels; expected at least 1`);
    if (height < crop || width < crop) throw new CaffeError(`crop_size ${crop} exceeds the ${height}x${width} input`);
    return [1, channels, crop ? crop : height, crop ? crop : width];
  }

  private checkMeanValues(channels: number): void {
    const mv = this.meanValues;
    if (mv.length === 0) return;
    if (mv.length !== 1 && mv.length !== channels) {
      throw new CaffeError(`specify either 1 mean_value or as many as channels (${channels}); got ${mv.length}`);
    }
    if (channels > 1 && mv.length === 1) while (mv.length < channels) mv.push(mv[0]);
  }

  private checkMean(channels: number, height: number, width: number): Float32Array | null {
    const mean = this.config.mean;
    if (!mean) return null;
    if (mean.channels !== channels || mean.height !== height || mean.width !== width) {
      throw new CaffeError(`mean_file is ${mean.channels}x${mean.height}x${mean.width} (CxHxW) but the input is ${channels}x${height}x${width}`);
    }
    return mean.data;
  }

  /**
   * Transforms one prepared item (see `prepare`) into out[offset ...], checking that it has the
   * shape [1, C, H, W] the batch was sized for.
   */
  transform(item: Datum | PixelImage, out: Float32Array, offset: number, shape: readonly number[]): void {
    const [, c, h, w] = shape;
    if (item.channels !== c) throw new CaffeError(`item has ${item.channels} channels but the batch has ${c} (each batch is shaped by its first item)`);
    const crop = this.config.cropSize;
    if (crop) {
      if (crop !== h || crop !== w) throw new CaffeError(`crop_size ${crop} does not match the batch's ${h}x${w}`);
    } else if (item.height !== h || item.width !== w) {
      throw new CaffeError(`item is ${item.height}x${item.width} but the batch is ${h}x${w} (items of one batch must have one size; set crop_size or resize them)`);
    }
    if ('floatData' in item) this.transformDatum(item, out, offset);
    else this.transformImage(item, out, offset);
  }

  /** The crop of an h x w input: random in TRAIN, centred in TEST; the whole input without crop_size. */
  private cropWindow(h: number, w: number): { height: number; width: number; hOff: number; wOff: number } {
    const crop = this.config.cropSize;
    if (!crop) return { height: h, width: w, hOff: 0, wOff: 0 };
    if (this.config.phase === TRAIN) {
      const hOff = this.rand(h - crop + 1);
      return { height: crop, width: crop, hOff, wOff: this.rand(w - crop + 1) };
    }
    return { height: crop, width: crop, hOff: Math.floor((h - crop) / 2), wOff: Math.floor((w - crop) / 2) };
  }

  /** Transform(const Datum&, Dtype*): uint8 `data` or `float_data`, CHW. */
  transformDatum(datum: Datum, out: Float32Array, offset = 0): void {
    const { channels, height: dh, width: dw } = datum;
    const crop = this.config.cropSize;
    const scale = this.config.scale;
    const doMirror = this.config.mirror && this.rand(2) !== 0;
    const hasUint8 = datum.data.length > 0;
    if (!(channels > 0)) throw new CaffeError(`datum has ${channels} channels; expected at least 1`);
    if (dh < crop || dw < crop) throw new CaffeError(`crop_size ${crop} exceeds the datum's ${dh}x${dw}`);
    const need = channels * dh * dw;
    const src: ArrayLike<number> = hasUint8 ? datum.data : datum.floatData;
    if (src.length < need) {
      throw new CaffeError(`datum ${channels}x${dh}x${dw} needs ${need} values but holds ${src.length} ${hasUint8 ? 'data bytes' : 'float_data values'}`);
    }
    const mean = this.checkMean(channels, dh, dw);
    this.checkMeanValues(channels);
    const mv = this.meanValues;
    const { height, width, hOff, wOff } = this.cropWindow(dh, dw);
    for (let c = 0; c < channels; c++) {
      const m = mv.length ? mv[c] : 0;
      for (let hh = 0; hh < height; hh++) {
        const rowIn = (c * dh + hOff + hh) * dw + wOff;
        const rowOut = offset + (c * height + hh) * width;
        for (let ww = 0; ww < width; ww++) {
          const di = rowIn + ww;
          const ti = doMirror ? rowOut + (width - 1 - ww) : rowOut + ww;
          const x = src[di];
          if (mean) out[ti] = Math.fround(x - mean[di]) * scale;
          else if (mv.length) out[ti] = Math.fround(x - m) * scale;
          else out[ti] = x * scale;
        }
      }
    }
  }

  /** Transform(const cv::Mat&, Blob*): an 8-bit HWC image (BGR/BGRA/gray) to CHW. */
  transformImage(img: PixelImage, out: Float32Array, offset = 0): void {
    const { channels, height: ih, width: iw, data } = img;
    const crop = this.config.cropSize;
    const scale = this.config.scale;
    const doMirror = this.config.mirror && this.rand(2) !== 0;
    if (!(channels > 0)) throw new CaffeError(`image has ${channels} channels`);
    if (ih < crop || iw < crop) throw new CaffeError(`crop_size ${crop} exceeds the image's ${ih}x${iw}`);
    const mean = this.checkMean(channels, ih, iw);
    this.checkMeanValues(channels);
    const mv = this.meanValues;
    const { height, width, hOff, wOff } = this.cropWindow(ih, iw);
    for (let hh = 0; hh < height; hh++) {
      let pi = ((hOff + hh) * iw + wOff) * channels;
      for (let ww = 0; ww < width; ww++) {
        for (let c = 0; c < channels; c++) {
          const ti = offset + (c * height + hh) * width + (doMirror ? width - 1 - ww : ww);
          const x = data[pi++];
          if (mean) out[ti] = Math.fround(x - mean[(c * ih + hOff + hh) * iw + wOff + ww]) * scale;
          else if (mv.length) out[ti] = Math.fround(x - mv[c]) * scale;
          else out[ti] = x * scale;
        }
      }
    }
  }
}
