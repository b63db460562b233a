// GEMM for row-major float32 matrices, with Caffe's caffe_cpu_gemm argument order:
//   C = alpha * op(A) * op(B) + beta * C,  op(A) is M x K, op(B) is K x N, C is M x N.
// Every heavy layer (Convolution, Deconvolution, InnerProduct, Embed, LSTM) goes through here.
// Placeholder reference implementation; the cache-blocked kernel replaces it.

export function gemm(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: Float32Array,
  B: Float32Array,
  beta: number,
  C: Float32Array,
): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const a = transA ? A[k * M + i] : A[i * K + k];
        const b = transB ? B[j * K + k] : B[k * N + j];
        s += a * b;
      }
      C[i * N + j] = alpha * s + (beta === 0 ? 0 : beta * C[i * N + j]);
    }
  }
}

/** y = alpha * op(A) * x + beta * y, A is M x N row-major (Caffe's caffe_cpu_gemv). */
export function gemv(
  transA: boolean,
  M: number,
  N: number,
  alpha: number,
  A: Float32Array,
  x: Float32Array,
  beta: number,
  y: Float32Array,
): void {
  const rows = transA ? N : M;
  const cols = transA ? M : N;
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let k = 0; k < cols; k++) s += (transA ? A[k * N + i] : A[i * N + k]) * x[k];
    y[i] = alpha * s + (beta === 0 ? 0 : beta * y[i]);
  }
}
