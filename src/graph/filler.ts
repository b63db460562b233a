// Weight fillers (Caffe's FillerParameter / filler.hpp), drawing from the process-wide generator
// of src/kernels/rng.ts (seeded by setSeed, Caffe's random_seed).
//
//   constant            value
//   uniform             U(min, max)
//   gaussian            N(mean, std^2); with sparse >= 0 each value is kept with probability
//                       sparse / shape[0] and zeroed otherwise
//   positive_unitball   U(0, 1), then every slice along axis 0 scaled to sum to 1
//   xavier              U(-sqrt(3/n), sqrt(3/n))
//   msra                N(0, 2/n)
//   bilinear            the bilinear-upsampling kernel, for 4-D square filters (Deconvolution)
// where n (xavier, msra) is fan_in = count / shape[0], fan_out = count / shape[1] (count for a 1-D
// blob), or their mean, per variance_norm (FAN_IN, FAN_OUT, AVERAGE).
// Only gaussian accepts `sparse`; the others reject it as Caffe does.
import type { Message } from '../proto/schema.js';
import type { Blob } from './blob.js';
import { CaffeError } from '../util/errors.js';
import { globalRng } from '../kernels/rng.js';

export const FAN_IN = 0;
export const FAN_OUT = 1;
export const AVERAGE = 2;

export const FILLER_TYPES = ['constant', 'uniform', 'gaussian', 'positive_unitball', 'xavier', 'msra', 'bilinear'] as const;

function fail(type: string, blob: Blob, detail: string): CaffeError {
  return new CaffeError(`${type} filler on a blob of shape ${blob.shapeString()}: ${detail}`);
}

function noSparse(type: string, blob: Blob, f: Message | null | undefined): void {
  const sparse: number = f?.sparse ?? -1;
  if (sparse !== -1) throw fail(type, blob, `sparse = ${sparse} is not supported by this filler (only gaussian)`);
}

function nonEmpty(type: string, blob: Blob): void {
  if (blob.count === 0) throw fail(type, blob, 'the blob is empty');
}

/** n for xavier / msra from the blob's fans and variance_norm. */
function fanScale(type: string, blob: Blob, f: Message | null | undefined): number {
  nonEmpty(type, blob);
  const count = blob.count;
  const shape = blob.shape;
  if (shape.length === 0) throw fail(type, blob, 'a 0-D blob has no fan-in');
  const fanIn = Math.trunc(count / shape[0]);
  const fanOut = shape.length > 1 ? Math.trunc(count / shape[1]) : count;
  const norm: number = f?.variance_norm ?? FAN_IN;
  switch (norm) {
    case FAN_IN:
      return fanIn;
    case FAN_OUT:
      return fanOut;
    case AVERAGE:
      return (fanIn + fanOut) / 2;
    default:
      throw fail(type, blob, `unknown variance_norm ${norm}`);
  }
}

/** Fills blob.data as Caffe's GetFiller(param)->Fill(blob); a missing param means constant 0. */
export function fillBlob(blob: Blob, filler: Message | null | undefined): void {
  fillerFor(blob, filler)();
}

/**
 * Checks a filler against its blob now (throwing what Caffe would refuse) and returns the fill
 * itself, to run now or later (a net whose weights come from a file only draws for the blobs the
 * file does not hold: see deferFills).
 */
export function fillerFor(blob: Blob, filler: Message | null | undefined): () => void {
  const type: string = filler?.type ?? 'constant';
  const rng = globalRng;
  switch (type) {
    case 'constant': {
      nonEmpty(type, blob);
      noSparse(type, blob, filler);
      const value = filler?.value ?? 0;
      return () => blob.data.fill(value);
    }
    case 'uniform': {
      nonEmpty(type, blob);
      const lo: number = filler?.min ?? 0;
      const hi: number = filler?.max ?? 1;
      if (!(lo <= hi)) throw fail(type, blob, `min ${lo} must not exceed max ${hi}`);
      noSparse(type, blob, filler);
      return () => rng().fillUniform(blob.data, lo, hi);
    }
    case 'gaussian': {
      nonEmpty(type, blob);
      const std: number = filler?.std ?? 1;
      if (!(std >= 0)) throw fail(type, blob, `std must be >= 0, got ${std}`);
      const sparse: number = filler?.sparse ?? -1;
      if (sparse < -1) throw fail(type, blob, `sparse must be >= -1, got ${sparse}`);
      let p = 1;
      if (sparse >= 0) {
        // Sparse init for weight matrices: on average `sparse` non-zero inputs per output.
        if (blob.numAxes < 1) throw fail(type, blob, 'sparse gaussian needs at least one axis');
        p = sparse / blob.shape[0];
        if (p > 1) throw fail(type, blob, `sparse ${sparse} exceeds the ${blob.shape[0]} outputs (probability ${p} > 1)`);
      }
      const mean = filler?.mean ?? 0;
      return () => {
        const r = rng();
        const data = blob.data;
        r.fillGaussian(data, mean, std);
        if (sparse >= 0) for (let i = 0; i < data.length; i++) if (!(r.random() < p)) data[i] = 0;
      };
    }
    case 'positive_unitball': {
      nonEmpty(type, blob);
      const num = blob.numAxes > 0 ? blob.shape[0] : 1;
      const dim = Math.trunc(blob.count / num);
      if (dim === 0) throw fail(type, blob, 'slices along axis 0 are empty');
      noSparse(type, blob, filler);
      return () => {
        const data = blob.data;
        rng().fillUniform(data, 0, 1);
        for (let i = 0; i < num; i++) {
          let sum = 0;
          for (let j = 0; j < dim; j++) sum += data[i * dim + j];
          for (let j = 0; j < dim; j++) data[i * dim + j] /= sum;
        }
      };
    }
    case 'xavier': {
      const n = fanScale(type, blob, filler);
      const scale = Math.fround(Math.sqrt(3 / n));
      noSparse(type, blob, filler);
      return () => rng().fillUniform(blob.data, -scale, scale);
    }
    case 'msra': {
      const n = fanScale(type, blob, filler);
      noSparse(type, blob, filler);
      return () => rng().fillGaussian(blob.data, 0, Math.fround(Math.sqrt(2 / n)));
    }
    case 'bilinear': {
      if (blob.numAxes !== 4) throw fail(type, blob, 'the blob must be 4-D');
      const w = blob.shape[3];
      const h = blob.shape[2];
      if (w !== h) throw fail(type, blob, `the filter must be square, got ${h}x${w}`);
      noSparse(type, blob, filler);
      return () => {
        const data = blob.data;
        // Kernel centred on c (in units of the upsampling factor f), a tent of width 1 per axis.
        const f = Math.ceil(w / 2);
        const c = (w - 1) / (2 * f);
        for (let i = 0; i < data.length; i++) {
          const x = i % w;
          const y = Math.floor(i / w) % h;
          data[i] = (1 - Math.abs(x / f - c)) * (1 - Math.abs(y / f - c));
        }
      };
    }
    default:
      throw new CaffeError(`unknown filler type '${type}' (known: ${FILLER_TYPES.join(', ')})`);
  }
}

// Deferred fills (see fillerFor): while a deferral is open, Layer.fillParam queues its fills.
let pending: { blob: Blob; run: () => void }[] | null = null;

/** Queues `run` for `blob` when a deferral is open (returns true), else returns false. */
export function deferFill(blob: Blob, run: () => void): boolean {
  if (pending === null) return false;
  pending.push({ blob, run });
  return true;
}

/**
 * Runs `build` with fills deferred, then `load`, which returns the blobs it wrote; the queued fills
 * of every other blob then run in their original order (same generator stream as filling
 * eagerly, minus the draws for blobs whose values were loaded anyway).
 */
export function withDeferredFills<T>(build: () => T, load: (built: T) => Set<Blob>): T {
  const outer = pending;
  const mine: { blob: Blob; run: () => void }[] = [];
  pending = mine;
  let built: T;
  try {
    built = build();
  } finally {
    pending = outer;
  }
  const loaded = load(built);
  // A blob that came to share another's storage (weight sharing, a recurrent layer's unrolled
  // net) dropped its own fill when it did, as an eager fill would have been dropped.
  for (const f of mine) if (!loaded.has(f.blob) && !f.blob.sharesData) f.run();
  return built;
}
