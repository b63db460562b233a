// Builds a TransformConfig (see transformer.ts) from a TransformationParameter: reads mean_file
// (relative to the working directory, as Caffe), checks the parameter, and draws the random seed
// the way Caffe's DataTransformer::InitRand does.
import { resolve } from 'node:path';
import { globalRng } from '../kernels/rng.js';
import { readBlobProto } from '../format/io.js';
import { has, type Message } from '../proto/schema.js';
import { Blob } from '../graph/blob.js';
import { copyProtoData } from '../layers/layer.js';
import { CaffeError } from '../util/errors.js';
import { TRAIN, type MeanImage, type TransformConfig } from './transformer.js';

/** Whether a transformer with these settings draws random numbers (Caffe's InitRand test). */
export function needsRandom(param: Message | null | undefined, phase: number): boolean {
  if (!param) return false;
  return !!param.mirror || (phase === TRAIN && param.crop_size > 0);
}

/**
 * The TransformConfig for a TransformationParameter (null: defaults). Reads mean_file (relative
 * to the working directory, as Caffe) and, when randomness is needed, draws the seed from
 * `seedSource` (default: the global generator, as Caffe's caffe_rng_rand()).
 */
export function makeTransformConfig(param: Message | null | undefined, phase: number, seedSource: () => number = () => globalRng().nextUint32()): TransformConfig {
  const cfg: TransformConfig = {
    phase,
    scale: param ? param.scale : 1,
    mirror: param ? !!param.mirror : false,
    cropSize: param ? param.crop_size : 0,
    mean: null,
    meanValues: [],
    forceColor: param ? !!param.force_color : false,
    forceGray: param ? !!param.force_gray : false,
    seed: null,
  };
  if (param) {
    const values: ArrayLike<number> = param.mean_value ?? [];
    if (has(param, 'mean_file') && values.length > 0) {
      throw new CaffeError('transform_param: cannot specify mean_file and mean_value at the same time');
    }
    if (has(param, 'mean_file')) cfg.mean = readMeanFile(param.mean_file);
    cfg.meanValues = Array.from(values, (v) => Math.fround(v));
    if (cfg.forceColor && cfg.forceGray) throw new CaffeError('transform_param: cannot set both force_color and force_gray');
  }
  if (needsRandom(param, phase)) cfg.seed = seedSource() >>> 0;
  return cfg;
}

/** Reads a mean .binaryproto (BlobProto) with the legacy 4-D view Caffe's transformer uses. */
export function readMeanFile(path: string): MeanImage {
  return meanFromBlobProto(readBlobProto(resolve(path)), path);
}

/** A decoded mean BlobProto (1 x C x H x W) as a MeanImage; `path` labels errors. */
export function meanFromBlobProto(proto: Message, path: string): MeanImage {
  let blob: Blob;
  try {
    const shape = Blob.shapeFromProto(proto);
    if (shape.length > 4) throw new CaffeError(`mean blob has ${shape.length} axes; a mean file is (1, C, H, W)`);
    blob = new Blob(shape);
    copyProtoData(proto, blob);
  } catch (e) {
    throw new CaffeError(`${path}: ${(e as Error).message}`);
  }
  return { channels: blob.channels, height: blob.height, width: blob.width, data: Float32Array.from(blob.data) };
}
