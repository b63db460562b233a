// Random parameters for a net that has no trained weights, for benchmarks and smoke tests
// (`caffe-ts init`): a blob whose layer declares a filler keeps what that filler drew when the net
// was built (Caffe's own initialisation); one without a filler, which Caffe would leave at
// constant 0, is drawn from a gaussian scaled by its fan-in so activations keep their size
// through a deep net (no zeros, no overflow, no denormals that would skew a timing).
// BatchNorm's statistics get a mean near 0, a variance near 1 and a scale factor of 1.
import { has, type Message } from '../proto/schema.js';
import { globalRng, setSeed } from '../kernels/rng.js';
import type { Net } from './net.js';
import type { Blob } from './blob.js';

/** The layer's type-specific parameter message, e.g. convolution_param for Convolution. */
function typeParam(layerParam: Message): Message | null {
  for (const key of Object.keys(layerParam)) {
    if (key.endsWith('_param') && key !== 'transform_param' && key !== 'loss_param' && layerParam[key]) return layerParam[key];
  }
  return null;
}

/** True when the layer's prototxt names a filler for its parameter blob `i`. */
function declaresFiller(layerParam: Message, i: number): boolean {
  const p = typeParam(layerParam);
  if (!p) return false;
  const names = i === 0 ? ['weight_filler', 'filler'] : i === 1 ? ['bias_filler'] : [];
  return names.some((n) => has(p, n));
}

function gaussianFill(blob: Blob, std: number): void {
  const d = blob.data;
  for (let k = 0; k < d.length; k++) d[k] = globalRng().gaussian(0, std);
}

/**
 * Fills every parameter blob of `net` that has no declared filler (see the file comment), drawing
 * from the process-wide generator (reseeded first when `seed` is given).
 */
export function initParams(net: Net, seed?: number): void {
  if (seed !== undefined) setSeed(seed);
  net.layers.forEach((layer) => {
    const blobs = layer.blobs;
    if (layer.type === 'BatchNorm' && blobs.length === 3) {
      const [mean, variance, factor] = blobs;
      gaussianFill(mean, 0.1);
      for (let k = 0; k < variance.count; k++) variance.data[k] = 1 + 0.2 * globalRng().uniform(-1, 1);
      factor.data.fill(1);
      return;
    }
    blobs.forEach((blob, i) => {
      if (declaresFiller(layer.param, i) || blob.count === 0) return;
      const fanIn = blob.shape.length > 1 ? blob.count / blob.shape[0] : 0;
      gaussianFill(blob, fanIn > 0 ? Math.sqrt(1 / fanIn) : 0.1);
    });
  });
}
