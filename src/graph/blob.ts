// Blob: an N-D float32 tensor with data and diff, as Caffe's Blob<float>.
//
// Storage is a Float32Array of some capacity; `data`/`diff` are views of exactly `count`
// elements. Reshape reallocates only when the count outgrows the capacity (as Caffe), so views
// handed out earlier stay valid across same-size reshapes. Fresh storage is zero-filled. Data and
// diff are allocated on first use, as Caffe's SyncedMemory does: inference never pays for diffs,
// and a parameter whose values come from a weights file can take the decoded array itself
// (adoptData) instead of allocating, zeroing and copying.
import { totalmem } from 'node:os';
import { CaffeError } from '../util/errors.js';
import { toNumber, type Message } from '../proto/schema.js';

const MAX_BLOB_AXES = 32;
/** Upper bound on one blob's element count (Caffe limits to INT_MAX). */
export const MAX_BLOB_COUNT = 2 ** 31 - 1;

export class Blob {
  private _shape: number[] = [];
  private _count = 0;
  private _dataStore: Float32Array = new Float32Array(0);
  private _diffStore: Float32Array = new Float32Array(0);
  private _sharesData = false;
  private _storeOwner: object | null = null;
  /** null until first use after a reshape that outgrew the store (see `data`). */
  private _data: Float32Array | null = this._dataStore;
  private _diff: Float32Array | null = this._diffStore;

  /** No shape: an empty blob (count 0); `[]`: a scalar (count 1), as Caffe's Blob(shape). */
  constructor(shape?: readonly number[]) {
    if (shape) this.reshape(shape);
  }

  get shape(): readonly number[] {
    return this._shape;
  }
  get data(): Float32Array {
    if (this._data) return this._data;
    if (this._dataStore.length < this._count) {
      this._dataStore = allocate(this._count, this._shape);
      this._storeOwner = null;
    }
    this._data = this._count === this._dataStore.length ? this._dataStore : this._dataStore.subarray(0, this._count);
    return this._data;
  }

  /**
   * Takes `values` (exactly `count` floats) as this blob's data without copying, when the blob
   * has not allocated or handed out its data since it last outgrew its store; returns false (and
   * changes nothing) otherwise. The caller gives up `values`.
   */
  adoptData(values: Float32Array): boolean {
    if (this._data !== null || values.length !== this._count || this._count === 0) return false;
    this._dataStore = values;
    this._data = values;
    return true;
  }
  get diff(): Float32Array {
    if (this._diff) return this._diff;
    if (this._diffStore.length < this._count) this._diffStore = allocate(this._count, this._shape);
    this._diff = this._count === this._diffStore.length ? this._diffStore : this._diffStore.subarray(0, this._count);
    return this._diff;
  }
  get count(): number {
    return this._count;
  }
  get numAxes(): number {
    return this._shape.length;
  }

  /** Caffe's CanonicalAxisIndex: negative axes count from the end. */
  canonicalAxis(axis: number): number {
    const n = this._shape.length;
    if (axis < -n || axis >= Math.max(n, 1) && !(n === 0 && axis === 0)) {
      throw new CaffeError(`axis ${axis} out of range for a ${n}-D blob of shape ${this.shapeString()}`);
    }
    return axis < 0 ? axis + n : axis;
  }

  /** Size of one axis (negative counts from the end). */
  dim(axis: number): number {
    return this._shape[this.canonicalAxis(axis)];
  }

  /** Product of dims in [start, end). */
  countRange(start: number, end = this._shape.length): number {
    let c = 1;
    for (let i = start; i < end; i++) c *= this._shape[i];
    return c;
  }

  /** Legacy 4-D accessors (missing axes read as 1), as Caffe's LegacyShape. */
  legacyShape(index: number): number {
    const n = this._shape.length;
    if (n > 4) throw new CaffeError(`legacy accessor on a ${n}-D blob; use shape`);
    if (index >= n || index < -n) return 1;
    return this.dim(index);
  }
  get num(): number {
    return this.legacyShape(0);
  }
  get channels(): number {
    return this.legacyShape(1);
  }
  get height(): number {
    return this.legacyShape(2);
  }
  get width(): number {
    return this.legacyShape(3);
  }

  shapeString(): string {
    return `(${this._shape.join(',')})`;
  }

  reshape(shape: readonly number[]): void {
    if (shape.length > MAX_BLOB_AXES) throw new CaffeError(`blob of ${shape.length} axes exceeds ${MAX_BLOB_AXES}`);
    let count = 1;
    for (const d of shape) {
      // Caffe's shapes are ints: a larger dimension (of an empty blob, say) cannot exist there.
      if (!Number.isInteger(d) || d < 0 || d > MAX_BLOB_COUNT) throw new CaffeError(`invalid blob dimension ${d} in (${shape.join(',')})`);
      count *= d;
    }
    if (count > MAX_BLOB_COUNT) throw new CaffeError(`blob shape (${shape.join(',')}) exceeds ${MAX_BLOB_COUNT} elements`);
    // Checked now, allocated on first use (a hostile shape still fails here).
    if (count * 4 > maxBlobBytes) allocate(count, shape);
    this._shape = shape.slice();
    this._count = count;
    if (count > this._dataStore.length) this._data = null;
    else this._data = count === this._dataStore.length ? this._dataStore : this._dataStore.subarray(0, count);
    if (count > this._diffStore.length) this._diff = null;
    else this._diff = count === this._diffStore.length ? this._diffStore : this._diffStore.subarray(0, count);
  }

  reshapeLike(other: Blob): void {
    this.reshape(other.shape);
  }

  /** Shape from a BlobShape message or legacy num/channels/height/width fields. */
  static shapeFromProto(proto: Message): number[] {
    if (proto.shape && Object.hasOwn(proto, 'shape')) return proto.shape.dim.map(toNumber);
    if (Object.hasOwn(proto, 'num') || Object.hasOwn(proto, 'channels') || Object.hasOwn(proto, 'height') || Object.hasOwn(proto, 'width')) {
      return [proto.num, proto.channels, proto.height, proto.width];
    }
    return [];
  }

  /**
   * Makes this blob's data a view of `store` (which must hold its count): the inference memory
   * plan (src/graph/memory-plan.ts) gives blobs that are never alive together one buffer.
   */
  useDataStore(store: Float32Array, owner: object | null = null): void {
    if (store.length < this._count) throw new CaffeError(`useDataStore: ${store.length} floats cannot hold ${this.shapeString()}`);
    // An arena in the kernels' shared memory is given back when its owner is collected (see
    // sharedArena): every blob viewing it holds the owner.
    this._storeOwner = owner;
    this._dataStore = store;
    this._data = this._count === store.length ? store : store.subarray(0, this._count);
  }

  /**
   * Lets go of the data storage (the next use allocates a fresh, zeroed store): a net planning its
   * memory again hands its blobs back their own storage first, so that the new plan sees which
   * blobs share it from the layers' reshape, not from the old plan.
   */
  /** The owner of the arena this blob's data lies in (see useDataStore), or null. */
  get storeOwner(): object | null {
    return this._storeOwner;
  }

  releaseDataStore(): void {
    this._storeOwner = null;
    this._dataStore = new Float32Array(0);
    this._data = this._count === 0 ? this._dataStore : null;
  }

  /** True once shareData made this blob a view of another's storage. */
  get sharesData(): boolean {
    return this._sharesData;
  }

  /** Makes this blob use other's data storage (weight sharing); Caffe's ShareData. */
  shareData(other: Blob): void {
    this._sharesData = true;
    if (this._count !== other._count) throw new CaffeError(`shareData: count ${this._count} != ${other._count}`);
    this._data = other.data;
    this._dataStore = other._dataStore;
    this._storeOwner = other._storeOwner;
  }

  /** Makes this blob use other's diff storage; Caffe's ShareDiff. */
  shareDiff(other: Blob): void {
    if (this._count !== other._count) throw new CaffeError(`shareDiff: count ${this._count} != ${other._count}`);
    this._diff = other.diff;
    this._diffStore = other._diffStore;
  }

  copyFrom(source: Blob, copyDiff = false, reshape = false): void {
    if (source._count !== this._count || source._shape.some((d, i) => d !== this._shape[i])) {
      if (reshape) this.reshapeLike(source);
      else throw new CaffeError(`copyFrom: shape ${source.shapeString()} does not match ${this.shapeString()}`);
    }
    if (copyDiff) this.diff.set(source.diff);
    else this.data.set(source.data);
  }

  /** Sum of absolute values / squares, as Caffe's asum_/sumsq_ helpers. */
  asumData(): number {
    let s = 0;
    const d = this.data;
    for (let i = 0; i < this._count; i++) s += Math.abs(d[i]);
    return s;
  }
  asumDiff(): number {
    let s = 0;
    const d = this.diff;
    for (let i = 0; i < this._count; i++) s += Math.abs(d[i]);
    return s;
  }
  sumsqData(): number {
    let s = 0;
    const d = this.data;
    for (let i = 0; i < this._count; i++) s += d[i] * d[i];
    return s;
  }
  sumsqDiff(): number {
    let s = 0;
    const d = this.diff;
    for (let i = 0; i < this._count; i++) s += d[i] * d[i];
    return s;
  }
  scaleData(f: number): void {
    const d = this.data;
    for (let i = 0; i < this._count; i++) d[i] *= f;
  }
  scaleDiff(f: number): void {
    const d = this.diff;
    for (let i = 0; i < this._count; i++) d[i] *= f;
  }
}

/** Upper bound on one allocation, so a hostile shape fails cleanly instead of exhausting memory. */
export let maxBlobBytes = Math.floor(totalmem() / 2);
export function setMaxBlobBytes(bytes: number): void {
  maxBlobBytes = bytes;
}

function allocate(count: number, shape: readonly number[]): Float32Array {
  if (count * 4 > maxBlobBytes) {
    throw new CaffeError(`blob of shape (${shape.join(',')}) needs ${(count * 4 / 2 ** 30).toFixed(1)} GiB, over the limit of ${(maxBlobBytes / 2 ** 30).toFixed(1)} GiB (setMaxBlobBytes)`);
  }
  try {
    return new Float32Array(count);
  } catch (e) {
    throw new CaffeError(`cannot allocate a blob of shape (${shape.join(',')}): ${(e as Error).message}`);
  }
}
