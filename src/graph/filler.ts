// Weight fillers (Caffe's FillerParameter). Placeholder with 'constant' only; the full set
// (uniform, gaussian+sparse, positive_unitball, xavier, msra, bilinear) lands with the kernels.
import type { Message } from '../proto/schema.js';
import type { Blob } from './blob.js';
import { CaffeError } from '../util/errors.js';

export function fillBlob(blob: Blob, filler: Message | null | undefined): void {
  const type: string = filler?.type ?? 'constant';
  if (type === 'constant') {
    blob.data.fill(filler?.value ?? 0);
    return;
  }
  throw new CaffeError(`filler type '${type}' is not implemented yet`);
}
