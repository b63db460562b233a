// Tensor comparison as fixtures/FORMAT.md defines it:
// max|got - expected| <= abs + rel * max|expected|.

export interface Tolerance {
  abs: number;
  rel: number;
}

/** A case's bounds: `tolerance` for every tensor, `tensor_tolerance` by tensor file name. */
export interface CaseTolerances {
  tolerance?: Tolerance;
  tensor_tolerance?: Record<string, Tolerance>;
}

/**
 * The bound for one tensor file of a case: its own entry in `tensor_tolerance` (where Caffe itself
 * moves that tensor with its BLAS's summation order), else the case's `tolerance`, else `fallback`.
 */
export function toleranceFor(spec: CaseTolerances, file: string, fallback: Tolerance): Tolerance {
  const own = spec.tensor_tolerance && Object.hasOwn(spec.tensor_tolerance, file) ? spec.tensor_tolerance[file] : undefined;
  return own ?? spec.tolerance ?? fallback;
}

export interface Tensor {
  shape: readonly number[];
  data: ArrayLike<number>;
}

/** Returns null when the tensors match, else a sentence saying where and by how much. */
export function compareTensor(got: Tensor, expected: Tensor, tol: Tolerance): string | null {
  const gs = got.shape.join('x') || 'scalar';
  const es = expected.shape.join('x') || 'scalar';
  if (got.data.length !== expected.data.length) {
    return `shape ${gs} (${got.data.length} values), expected ${es} (${expected.data.length} values)`;
  }
  // The relative part scales with the largest finite expected value: Caffe writes NaN (0/0 in an
  // AVE window past the input, a root of a negative) and infinities, which match only themselves.
  let maxExp = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const a = Math.abs(expected.data[i]);
    if (a !== Infinity && a > maxExp) maxExp = a;
  }
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < got.data.length; i++) {
    const g = got.data[i];
    const e = expected.data[i];
    const err = g === e ? 0 : Number.isNaN(g) && Number.isNaN(e) ? 0 : Number.isFinite(g) && Number.isFinite(e) ? Math.abs(g - e) : Infinity;
    if (err > worstErr || (worst < 0 && err > 0)) {
      worstErr = err;
      worst = i;
    }
  }
  const limit = tol.abs + tol.rel * maxExp;
  if (worstErr <= limit) return null;
  return `max abs error ${worstErr.toPrecision(4)} at flat index ${worst} (got ${got.data[worst]}, expected ${expected.data[worst]}) exceeds ${limit.toPrecision(4)} (shape ${es})`;
}
