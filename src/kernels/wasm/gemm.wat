;; WebAssembly SIMD (128-bit, f32x4) single-precision GEMM for src/kernels/gemm-wasm.ts.
;; Assembled by scripts/build-wasm.mjs (wabt) into gemm.wasm next to this file; gemm-wasm.ts loads that.
;;
;;   C (M x N, row-major, row stride ldc) = alpha * op(A) * op(B) + beta * C
;;
;; Operands live in the linear memory, which the module imports (env.memory) so that gemm-wasm.ts
;; can share one memory between the calling thread and its gemm worker threads: the operands are
;; copied in (A, B, and C when beta != 0), the exported `gemm` runs (or several threads run it,
;; each on its own column or row panels of C, with its own packing scratch), and C is copied out.
;; All pointers are byte addresses; leading dimensions (lda, ldb, ldc) are in floats.
;; op(A)[i][k] = tA ? A[k*lda + i] : A[i*lda + k], op(B)[k][j] = tB ? B[j*ldb + k] : B[k*ldb + j]
;; (Caffe's caffe_cpu_gemm, row-major).
;;
;; Micro-kernel: a 2 x 16 tile of C' in eight f32x4 accumulators (2 rows x 4 vectors), fed per k
;; by four 16-byte loads of a packed B' panel and two load32_splat of a packed A' panel: 8
;; accumulators + 4 B' vectors + 1 broadcast + 1 product = 14 of the 15 xmm registers V8
;; allocates. No FMA in Node 20 (relaxed SIMD is behind a flag): 8 f32x4.mul + 8 f32x4.add per k,
;; which the FP ports of a Golden Cove core (mul on 2 ports, add on 2, 3 ports in all) retire in
;; ~5.3 cycles: 12 flops/cycle, ~43 GFLOP/s at 3.6 GHz; the kernel alone measures 42-44 there.
;; (4 x 8 measured the same; 6 x 8, 4 x 12, 3 x 16 spill; unrolling k makes V8 spill too, and so
;; does a k loop in a function of its own per tile, 28% slower. With f32x4.relaxed_madd, FMA,
;; a 3 x 12 tile measured 51: for engines where relaxed SIMD is on by default, Node 22+.)
;;
;; Two orientations, chosen per product by the caller (flag 4, "swap"):
;;   normal:  C' = C,   A' = op(A) (M x K), B' = op(B) (K x N): tiles are 2 rows x 16 columns of C
;;   swapped: C' = C^T, A' = op(B)^T (N x K), B' = op(A)^T (K x M): tiles are 16 rows x 2 columns
;; so that the 16-wide side lies along whichever of M and N wastes less padding (ResNet's N = 49
;; and 196 are no multiples of 16, its M are), and the stores of a swapped tile go through 4 x 4
;; shuffles and 8-byte lane stores. Every element of C is the same sequence of float32 operations
;; in both orientations, on any thread, wherever its tile lies: sum_k a*b in k order within a K
;; slice (a*b and b*a are the same float), then alpha*acc or alpha*acc + beta*C (first slice),
;; alpha*acc + C (later slices). beta == 0 never reads C (NaN in it cannot leak). This is also
;; the sequence of the 4 x 8 kernel this one replaced (KC 256 both): the same bits as before.
;;
;; Goto/BLIS blocking:
;;   for each ncb-wide column block of B'
;;     for each kcb-deep slice of K
;;       pack B'[slice, block] into 16-wide column panels (k-major, zero padded)
;;       for each mcb-tall row block of A'
;;         pack A'[block, slice] into 2-tall row panels (k-major, zero padded)
;;         for each B' panel: every A' panel against it (the B' panel stays in L1)
;; Packing reads rows of the source where they are contiguous (blocks of 4 rows for B', 2 for A')
;; and 4 x 4 shuffle transposes where they are not. Either operand may come already packed, in
;; the layout `pack` writes (flags 8: A' packed, 16: B' packed), which skips its packing.
(module
  ;; One page to start; gemm-wasm.ts grows it as needed (to 1 GiB; 4 GiB allowed here). Declared
  ;; shared (the threads feature): gemm-wasm.ts gives it a shared WebAssembly.Memory, or, when it
  ;; runs single-threaded, loads the module with this declaration rewritten to unshared (a
  ;; one-byte change in the import section, see unsharedMemory in gemm-wasm.ts).
  (import "env" "memory" (memory 1 65536 shared))

  ;; C' tiles for one packed B' panel (at b: kc x 16, k-major) against the packed A' panels of a
  ;; block (at a: mc rows in 2-row panels of kc x 2, k-major, one after the other). The tile of
  ;; panel q is C' rows 2q, 2q+1 from byte address c + 2q*rs; element (r, j) of a tile is at
  ;; c + r*rs + j*cs (normal: rs = 4 ldc, cs = 4; swapped, tr = 1: rs = 4, cs = 4 ldc). nr <= 16
  ;; columns are real (edge tiles go through the 32-float buffer at tile):
  ;;   mode 0: C' = alpha*acc   mode 1: C' = alpha*acc + C'   mode 2: C' = alpha*acc + beta*C'
  (func $tiles (param $kc i32) (param $a i32) (param $mc i32) (param $b i32) (param $c i32) (param $rs i32) (param $cs i32)
               (param $nr i32) (param $alpha f32) (param $beta f32) (param $mode i32) (param $tr i32) (param $tile i32)
    (local $c00 v128) (local $c01 v128) (local $c02 v128) (local $c03 v128) (local $c10 v128) (local $c11 v128) (local $c12 v128) (local $c13 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128) (local $av v128) (local $va v128) (local $vb v128)
    (local $lo v128) (local $hi v128)
    (local $i i32) (local $bp i32) (local $end i32) (local $mr i32) (local $o i32) (local $r i32) (local $j i32) (local $t i32) (local $x i32)
    (local $cs2 i32) (local $cs3 i32)
    (local.set $kc (i32.shl (local.get $kc) (i32.const 6)))
    (local.set $cs2 (i32.shl (local.get $cs) (i32.const 1)))
    (local.set $cs3 (i32.add (local.get $cs2) (local.get $cs)))
    (loop $panels
      (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c01 (v128.const i32x4 0 0 0 0))
      (local.set $c02 (v128.const i32x4 0 0 0 0)) (local.set $c03 (v128.const i32x4 0 0 0 0))
      (local.set $c10 (v128.const i32x4 0 0 0 0)) (local.set $c11 (v128.const i32x4 0 0 0 0))
      (local.set $c12 (v128.const i32x4 0 0 0 0)) (local.set $c13 (v128.const i32x4 0 0 0 0))
      (local.set $bp (local.get $b))
      (local.set $end (i32.add (local.get $b) (local.get $kc)))
      (loop $k
        (local.set $b0 (v128.load (local.get $bp)))
        (local.set $b1 (v128.load offset=16 (local.get $bp)))
        (local.set $b2 (v128.load offset=32 (local.get $bp)))
        (local.set $b3 (v128.load offset=48 (local.get $bp)))
        (local.set $av (v128.load32_splat (local.get $a)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $c02 (f32x4.add (local.get $c02) (f32x4.mul (local.get $av) (local.get $b2))))
        (local.set $c03 (f32x4.add (local.get $c03) (f32x4.mul (local.get $av) (local.get $b3))))
        (local.set $av (v128.load32_splat offset=4 (local.get $a)))
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $c12 (f32x4.add (local.get $c12) (f32x4.mul (local.get $av) (local.get $b2))))
        (local.set $c13 (f32x4.add (local.get $c13) (f32x4.mul (local.get $av) (local.get $b3))))
        (local.set $a (i32.add (local.get $a) (i32.const 8)))
        (local.set $bp (i32.add (local.get $bp) (i32.const 64)))
        (br_if $k (i32.lt_u (local.get $bp) (local.get $end))))
      ;; $a is now at the next A' panel.
      (local.set $va (f32x4.splat (local.get $alpha)))
      (local.set $c00 (f32x4.mul (local.get $va) (local.get $c00))) (local.set $c01 (f32x4.mul (local.get $va) (local.get $c01)))
      (local.set $c02 (f32x4.mul (local.get $va) (local.get $c02))) (local.set $c03 (f32x4.mul (local.get $va) (local.get $c03)))
      (local.set $c10 (f32x4.mul (local.get $va) (local.get $c10))) (local.set $c11 (f32x4.mul (local.get $va) (local.get $c11)))
      (local.set $c12 (f32x4.mul (local.get $va) (local.get $c12))) (local.set $c13 (f32x4.mul (local.get $va) (local.get $c13)))
      (local.set $mr (select (i32.const 2) (i32.sub (local.get $mc) (local.get $i)) (i32.gt_s (i32.sub (local.get $mc) (local.get $i)) (i32.const 2))))
      (block $stored
        (if (i32.and (i32.eq (local.get $mr) (i32.const 2)) (i32.eq (local.get $nr) (i32.const 16)))
          (then
            (if (i32.eqz (local.get $tr))
              (then
                ;; Normal full tile: two rows of 16 contiguous floats.
                (local.set $o (i32.add (local.get $c) (local.get $rs)))
                (if (i32.eqz (local.get $mode))
                  (then
                    (v128.store (local.get $c) (local.get $c00))
                    (v128.store offset=16 (local.get $c) (local.get $c01))
                    (v128.store offset=32 (local.get $c) (local.get $c02))
                    (v128.store offset=48 (local.get $c) (local.get $c03))
                    (v128.store (local.get $o) (local.get $c10))
                    (v128.store offset=16 (local.get $o) (local.get $c11))
                    (v128.store offset=32 (local.get $o) (local.get $c12))
                    (v128.store offset=48 (local.get $o) (local.get $c13))
                    (br $stored)))
                (if (i32.eq (local.get $mode) (i32.const 1))
                  (then
                    (v128.store (local.get $c) (f32x4.add (v128.load (local.get $c)) (local.get $c00)))
                    (v128.store offset=16 (local.get $c) (f32x4.add (v128.load offset=16 (local.get $c)) (local.get $c01)))
                    (v128.store offset=32 (local.get $c) (f32x4.add (v128.load offset=32 (local.get $c)) (local.get $c02)))
                    (v128.store offset=48 (local.get $c) (f32x4.add (v128.load offset=48 (local.get $c)) (local.get $c03)))
                    (v128.store (local.get $o) (f32x4.add (v128.load (local.get $o)) (local.get $c10)))
                    (v128.store offset=16 (local.get $o) (f32x4.add (v128.load offset=16 (local.get $o)) (local.get $c11)))
                    (v128.store offset=32 (local.get $o) (f32x4.add (v128.load offset=32 (local.get $o)) (local.get $c12)))
                    (v128.store offset=48 (local.get $o) (f32x4.add (v128.load offset=48 (local.get $o)) (local.get $c13)))
                    (br $stored)))
                (local.set $vb (f32x4.splat (local.get $beta)))
                (v128.store (local.get $c) (f32x4.add (f32x4.mul (local.get $vb) (v128.load (local.get $c))) (local.get $c00)))
                (v128.store offset=16 (local.get $c) (f32x4.add (f32x4.mul (local.get $vb) (v128.load offset=16 (local.get $c))) (local.get $c01)))
                (v128.store offset=32 (local.get $c) (f32x4.add (f32x4.mul (local.get $vb) (v128.load offset=32 (local.get $c))) (local.get $c02)))
                (v128.store offset=48 (local.get $c) (f32x4.add (f32x4.mul (local.get $vb) (v128.load offset=48 (local.get $c))) (local.get $c03)))
                (v128.store (local.get $o) (f32x4.add (f32x4.mul (local.get $vb) (v128.load (local.get $o))) (local.get $c10)))
                (v128.store offset=16 (local.get $o) (f32x4.add (f32x4.mul (local.get $vb) (v128.load offset=16 (local.get $o))) (local.get $c11)))
                (v128.store offset=32 (local.get $o) (f32x4.add (f32x4.mul (local.get $vb) (v128.load offset=32 (local.get $o))) (local.get $c12)))
                (v128.store offset=48 (local.get $o) (f32x4.add (f32x4.mul (local.get $vb) (v128.load offset=48 (local.get $o))) (local.get $c13)))
                (br $stored)))
            ;; Swapped full tile: C' rows r = 0, 1 are two adjacent columns of C, its 16 columns
            ;; 16 rows of C (stride cs). Accumulator vectors v of rows 0 and 1, interleaved,
            ;; give rows 4v .. 4v+3 of C as (C[m][n], C[m][n+1]) pairs: 8-byte lane stores.
            (local.set $vb (f32x4.splat (local.get $beta)))
            (local.set $o (local.get $c))
            (local.set $j (i32.const 0))
            (loop $vecs
              (local.set $lo (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c00) (local.get $c10)))
              (local.set $hi (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c00) (local.get $c10)))
              (if (local.get $mode)
                (then
                  (local.set $b0 (v128.load64_lane 1 (i32.add (local.get $o) (local.get $cs)) (v128.load64_zero (local.get $o))))
                  (local.set $b1 (v128.load64_lane 1 (i32.add (local.get $o) (local.get $cs3)) (v128.load64_zero (i32.add (local.get $o) (local.get $cs2)))))
                  (if (i32.eq (local.get $mode) (i32.const 1))
                    (then
                      (local.set $lo (f32x4.add (local.get $b0) (local.get $lo)))
                      (local.set $hi (f32x4.add (local.get $b1) (local.get $hi))))
                    (else
                      (local.set $lo (f32x4.add (f32x4.mul (local.get $vb) (local.get $b0)) (local.get $lo)))
                      (local.set $hi (f32x4.add (f32x4.mul (local.get $vb) (local.get $b1)) (local.get $hi)))))))
              (v128.store64_lane 0 (local.get $o) (local.get $lo))
              (v128.store64_lane 1 (i32.add (local.get $o) (local.get $cs)) (local.get $lo))
              (v128.store64_lane 0 (i32.add (local.get $o) (local.get $cs2)) (local.get $hi))
              (v128.store64_lane 1 (i32.add (local.get $o) (local.get $cs3)) (local.get $hi))
              ;; next vector: shift the accumulators down
              (local.set $c00 (local.get $c01)) (local.set $c01 (local.get $c02)) (local.set $c02 (local.get $c03))
              (local.set $c10 (local.get $c11)) (local.set $c11 (local.get $c12)) (local.set $c12 (local.get $c13))
              (local.set $o (i32.add (local.get $o) (i32.shl (local.get $cs) (i32.const 2))))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br_if $vecs (i32.lt_u (local.get $j) (i32.const 4))))
            (br $stored)))
        ;; Edge tile: the scaled accumulators to the tile buffer, then the valid mr x nr part into C'.
        (v128.store (local.get $tile) (local.get $c00))
        (v128.store offset=16 (local.get $tile) (local.get $c01))
        (v128.store offset=32 (local.get $tile) (local.get $c02))
        (v128.store offset=48 (local.get $tile) (local.get $c03))
        (v128.store offset=64 (local.get $tile) (local.get $c10))
        (v128.store offset=80 (local.get $tile) (local.get $c11))
        (v128.store offset=96 (local.get $tile) (local.get $c12))
        (v128.store offset=112 (local.get $tile) (local.get $c13))
        (local.set $r (i32.const 0))
        (loop $rows
          (local.set $o (i32.add (local.get $c) (i32.mul (local.get $r) (local.get $rs))))
          (local.set $t (i32.add (local.get $tile) (i32.shl (local.get $r) (i32.const 6))))
          (local.set $j (i32.const 0))
          (loop $cols
            (local.set $x (i32.add (local.get $o) (i32.mul (local.get $j) (local.get $cs))))
            (if (i32.eqz (local.get $mode))
              (then (f32.store (local.get $x) (f32.load (local.get $t))))
              (else (if (i32.eq (local.get $mode) (i32.const 1))
                (then (f32.store (local.get $x) (f32.add (f32.load (local.get $x)) (f32.load (local.get $t)))))
                (else (f32.store (local.get $x) (f32.add (f32.mul (local.get $beta) (f32.load (local.get $x))) (f32.load (local.get $t))))))))
            (local.set $t (i32.add (local.get $t) (i32.const 4)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br_if $cols (i32.lt_u (local.get $j) (local.get $nr))))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br_if $rows (i32.lt_u (local.get $r) (local.get $mr)))))
      (local.set $c (i32.add (local.get $c) (i32.shl (local.get $rs) (i32.const 1))))
      (local.set $i (i32.add (local.get $i) (i32.const 2)))
      (br_if $panels (i32.lt_s (local.get $i) (local.get $mc)))))

  ;; Pack rows i0 .. mc-1 of X (mc x kc, element (i, k) at src + 4 (i si + k sk)) into 2-row
  ;; panels at dst (panel element [k][r] at dst + (i/2 * kc + k) * 8 + r*4), row mc (odd mc) zero.
  ;; i0 even. The general (and slow) path: for edges.
  (func $pack_a_any (param $src i32) (param $si i32) (param $sk i32) (param $i0 i32) (param $mc i32) (param $kc i32) (param $dst i32)
    (local $i i32) (local $k i32) (local $s i32) (local $d i32)
    (local.set $i (local.get $i0))
    (loop $pairs
      (local.set $d (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $i) (local.get $kc)) (i32.const 2))))
      (local.set $s (i32.add (local.get $src) (i32.shl (i32.mul (local.get $i) (local.get $si)) (i32.const 2))))
      (local.set $k (i32.const 0))
      (loop $ks
        (f32.store (local.get $d) (f32.load (i32.add (local.get $s) (i32.shl (i32.mul (local.get $k) (local.get $sk)) (i32.const 2)))))
        (if (i32.lt_s (i32.add (local.get $i) (i32.const 1)) (local.get $mc))
          (then (f32.store offset=4 (local.get $d) (f32.load (i32.add (i32.add (local.get $s) (i32.shl (local.get $si) (i32.const 2)))
                                                                     (i32.shl (i32.mul (local.get $k) (local.get $sk)) (i32.const 2))))))
          (else (f32.store offset=4 (local.get $d) (f32.const 0))))
        (local.set $d (i32.add (local.get $d) (i32.const 8)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $ks (i32.lt_u (local.get $k) (local.get $kc))))
      (local.set $i (i32.add (local.get $i) (i32.const 2)))
      (br_if $pairs (i32.lt_s (local.get $i) (local.get $mc)))))

  ;; Pack X (mc x kc, element (i, k) at src + 4 (i si + k sk)) into 2-row panels at dst, as
  ;; $pack_a_any. One of si, sk is 1.
  (func $pack_a (param $src i32) (param $si i32) (param $sk i32) (param $mc i32) (param $kc i32) (param $dst i32)
    (local $i i32) (local $k i32) (local $s i32) (local $d i32) (local $k4 i32) (local $skB i32) (local $pB i32)
    (local $v0 v128) (local $v1 v128)
    (if (i32.eq (local.get $sk) (i32.const 1))
      (then
        ;; Rows contiguous along k: two rows at a time, 4 k at a time, interleaved.
        (local.set $k4 (i32.and (local.get $kc) (i32.const -4)))
        (local.set $i (i32.const 0))
        (if (i32.and (i32.ge_s (local.get $mc) (i32.const 2)) (i32.ge_s (local.get $k4) (i32.const 4))) (then
        (loop $pairs
          (local.set $s (i32.add (local.get $src) (i32.shl (i32.mul (local.get $i) (local.get $si)) (i32.const 2))))
          (local.set $d (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $i) (local.get $kc)) (i32.const 2))))
          (local.set $pB (i32.shl (local.get $si) (i32.const 2)))
          (local.set $k (i32.const 0))
          (loop $k4l
            (local.set $v0 (v128.load (local.get $s)))
            (local.set $v1 (v128.load (i32.add (local.get $s) (local.get $pB))))
            (v128.store (local.get $d) (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v0) (local.get $v1)))
            (v128.store offset=16 (local.get $d) (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v0) (local.get $v1)))
            (local.set $s (i32.add (local.get $s) (i32.const 16)))
            (local.set $d (i32.add (local.get $d) (i32.const 32)))
            (local.set $k (i32.add (local.get $k) (i32.const 4)))
            (br_if $k4l (i32.lt_u (local.get $k) (local.get $k4))))
          (if (i32.lt_u (local.get $k) (local.get $kc)) (then
          (loop $k1l
            (f32.store (local.get $d) (f32.load (local.get $s)))
            (f32.store offset=4 (local.get $d) (f32.load (i32.add (local.get $s) (local.get $pB))))
            (local.set $s (i32.add (local.get $s) (i32.const 4)))
            (local.set $d (i32.add (local.get $d) (i32.const 8)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br_if $k1l (i32.lt_u (local.get $k) (local.get $kc))))))
          (local.set $i (i32.add (local.get $i) (i32.const 2)))
          (br_if $pairs (i32.le_s (i32.add (local.get $i) (i32.const 2)) (local.get $mc))))))
        (if (i32.lt_s (local.get $i) (local.get $mc))
          (then (call $pack_a_any (local.get $src) (local.get $si) (local.get $sk) (local.get $i) (local.get $mc) (local.get $kc) (local.get $dst))))
        (return)))
    ;; Columns contiguous along i (si = 1): four rows (two panels) at a time, 2 k at a time, going
    ;; along the source rows.
    (local.set $skB (i32.shl (local.get $sk) (i32.const 2)))
    (local.set $pB (i32.shl (local.get $kc) (i32.const 3)))
    (local.set $i (i32.and (local.get $mc) (i32.const -4)))
    (if (i32.gt_s (local.get $i) (i32.const 0)) (then
    (local.set $k (i32.const 0))
    (if (i32.ge_u (local.get $kc) (i32.const 2)) (then
    (loop $k2l
      (local.set $s (i32.add (local.get $src) (i32.mul (local.get $k) (local.get $skB))))
      (local.set $d (i32.add (local.get $dst) (i32.shl (local.get $k) (i32.const 3))))
      (local.set $i (i32.const 0))
      (loop $quads
        (local.set $v0 (v128.load (local.get $s)))
        (local.set $v1 (v128.load (i32.add (local.get $s) (local.get $skB))))
        (v128.store (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $v0) (local.get $v1)))
        (v128.store (i32.add (local.get $d) (local.get $pB)) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $v0) (local.get $v1)))
        (local.set $s (i32.add (local.get $s) (i32.const 16)))
        (local.set $d (i32.add (local.get $d) (i32.shl (local.get $pB) (i32.const 1))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br_if $quads (i32.le_s (i32.add (local.get $i) (i32.const 4)) (local.get $mc))))
      (local.set $k (i32.add (local.get $k) (i32.const 2)))
      (br_if $k2l (i32.le_u (i32.add (local.get $k) (i32.const 2)) (local.get $kc))))))
    (if (i32.lt_u (local.get $k) (local.get $kc)) (then
      ;; the last k (odd kc)
      (local.set $s (i32.add (local.get $src) (i32.mul (local.get $k) (local.get $skB))))
      (local.set $d (i32.add (local.get $dst) (i32.shl (local.get $k) (i32.const 3))))
      (local.set $i (i32.const 0))
      (loop $quads1
        (local.set $v0 (v128.load (local.get $s)))
        (v128.store64_lane 0 (local.get $d) (local.get $v0))
        (v128.store64_lane 1 (i32.add (local.get $d) (local.get $pB)) (local.get $v0))
        (local.set $s (i32.add (local.get $s) (i32.const 16)))
        (local.set $d (i32.add (local.get $d) (i32.shl (local.get $pB) (i32.const 1))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br_if $quads1 (i32.le_s (i32.add (local.get $i) (i32.const 4)) (local.get $mc))))))))
    (if (i32.lt_s (local.get $i) (local.get $mc))
      (then (call $pack_a_any (local.get $src) (local.get $si) (local.get $sk) (local.get $i) (local.get $mc) (local.get $kc) (local.get $dst)))))

  ;; Pack columns j0 .. nc-1 of X (kc x nc, element (k, j) at src + 4 (k sk + j sj)) into 16-column
  ;; panels at dst (panel element [k][c] at dst + (j/16 * kc + k) * 64 + c*4), columns past nc
  ;; zero. j0 a multiple of 16. The general (and slow) path: for edges.
  (func $pack_b_any (param $src i32) (param $sk i32) (param $sj i32) (param $j0 i32) (param $nc i32) (param $kc i32) (param $dst i32)
    (local $j i32) (local $k i32) (local $c i32) (local $d i32)
    (local.set $j (local.get $j0))
    (loop $panels
      (local.set $d (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $j) (local.get $kc)) (i32.const 2))))
      (local.set $k (i32.const 0))
      (loop $ks
        (local.set $c (i32.const 0))
        (loop $cs
          (f32.store (local.get $d)
            (if (result f32) (i32.lt_s (i32.add (local.get $j) (local.get $c)) (local.get $nc))
              (then (f32.load (i32.add (local.get $src) (i32.shl (i32.add (i32.mul (local.get $k) (local.get $sk))
                                                                          (i32.mul (i32.add (local.get $j) (local.get $c)) (local.get $sj))) (i32.const 2)))))
              (else (f32.const 0))))
          (local.set $d (i32.add (local.get $d) (i32.const 4)))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br_if $cs (i32.lt_u (local.get $c) (i32.const 16))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $ks (i32.lt_u (local.get $k) (local.get $kc))))
      (local.set $j (i32.add (local.get $j) (i32.const 16)))
      (br_if $panels (i32.lt_s (local.get $j) (local.get $nc)))))

  ;; Pack X (kc x nc, element (k, j) at src + 4 (k sk + j sj)) into 16-column panels at dst, as
  ;; $pack_b_any. One of sk, sj is 1.
  (func $pack_b (param $src i32) (param $sk i32) (param $sj i32) (param $nc i32) (param $kc i32) (param $dst i32)
    (local $j i32) (local $k i32) (local $q i32) (local $s i32) (local $d i32) (local $n16 i32) (local $k4 i32)
    (local $skB i32) (local $sjB i32) (local $pB i32) (local $s2 i32) (local $s3 i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $n16 (i32.and (local.get $nc) (i32.const -16)))
    (local.set $k4 (i32.and (local.get $kc) (i32.const -4)))
    (local.set $pB (i32.shl (local.get $kc) (i32.const 6)))
    (if (i32.gt_s (local.get $n16) (i32.const 0)) (then
    (if (i32.eq (local.get $sj) (i32.const 1))
      (then
        ;; Rows contiguous along j: 4 rows at a time, 64 bytes of each into each panel.
        (local.set $skB (i32.shl (local.get $sk) (i32.const 2)))
        (local.set $s2 (i32.shl (local.get $skB) (i32.const 1)))
        (local.set $s3 (i32.add (local.get $s2) (local.get $skB)))
        (local.set $k (i32.const 0))
        (if (i32.gt_s (local.get $k4) (i32.const 0)) (then
        (loop $k4l
          (local.set $s (i32.add (local.get $src) (i32.mul (local.get $k) (local.get $skB))))
          (local.set $d (i32.add (local.get $dst) (i32.shl (local.get $k) (i32.const 6))))
          (local.set $j (i32.const 0))
          (loop $jl
            (v128.store (local.get $d) (v128.load (local.get $s)))
            (v128.store offset=16 (local.get $d) (v128.load offset=16 (local.get $s)))
            (v128.store offset=32 (local.get $d) (v128.load offset=32 (local.get $s)))
            (v128.store offset=48 (local.get $d) (v128.load offset=48 (local.get $s)))
            (local.set $q (i32.add (local.get $s) (local.get $skB)))
            (v128.store offset=64 (local.get $d) (v128.load (local.get $q)))
            (v128.store offset=80 (local.get $d) (v128.load offset=16 (local.get $q)))
            (v128.store offset=96 (local.get $d) (v128.load offset=32 (local.get $q)))
            (v128.store offset=112 (local.get $d) (v128.load offset=48 (local.get $q)))
            (local.set $q (i32.add (local.get $s) (local.get $s2)))
            (v128.store offset=128 (local.get $d) (v128.load (local.get $q)))
            (v128.store offset=144 (local.get $d) (v128.load offset=16 (local.get $q)))
            (v128.store offset=160 (local.get $d) (v128.load offset=32 (local.get $q)))
            (v128.store offset=176 (local.get $d) (v128.load offset=48 (local.get $q)))
            (local.set $q (i32.add (local.get $s) (local.get $s3)))
            (v128.store offset=192 (local.get $d) (v128.load (local.get $q)))
            (v128.store offset=208 (local.get $d) (v128.load offset=16 (local.get $q)))
            (v128.store offset=224 (local.get $d) (v128.load offset=32 (local.get $q)))
            (v128.store offset=240 (local.get $d) (v128.load offset=48 (local.get $q)))
            (local.set $s (i32.add (local.get $s) (i32.const 64)))
            (local.set $d (i32.add (local.get $d) (local.get $pB)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br_if $jl (i32.lt_u (local.get $j) (local.get $n16))))
          (local.set $k (i32.add (local.get $k) (i32.const 4)))
          (br_if $k4l (i32.lt_u (local.get $k) (local.get $k4))))))
        (if (i32.lt_u (local.get $k) (local.get $kc)) (then
        (loop $k1l
          (local.set $s (i32.add (local.get $src) (i32.mul (local.get $k) (local.get $skB))))
          (local.set $d (i32.add (local.get $dst) (i32.shl (local.get $k) (i32.const 6))))
          (local.set $j (i32.const 0))
          (loop $jl1
            (v128.store (local.get $d) (v128.load (local.get $s)))
            (v128.store offset=16 (local.get $d) (v128.load offset=16 (local.get $s)))
            (v128.store offset=32 (local.get $d) (v128.load offset=32 (local.get $s)))
            (v128.store offset=48 (local.get $d) (v128.load offset=48 (local.get $s)))
            (local.set $s (i32.add (local.get $s) (i32.const 64)))
            (local.set $d (i32.add (local.get $d) (local.get $pB)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br_if $jl1 (i32.lt_u (local.get $j) (local.get $n16))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $k1l (i32.lt_u (local.get $k) (local.get $kc)))))))
      (else
        ;; Columns contiguous along k (sk = 1): per panel, 4 x 4 transposes of 4 columns x 4 k.
        (local.set $sjB (i32.shl (local.get $sj) (i32.const 2)))
        (local.set $s2 (i32.shl (local.get $sjB) (i32.const 1)))
        (local.set $s3 (i32.add (local.get $s2) (local.get $sjB)))
        (local.set $j (i32.const 0))
        (loop $jp
          (local.set $q (i32.const 0))
          (loop $quad
            ;; columns j+q .. j+q+3, from their k = 0
            (local.set $s (i32.add (local.get $src) (i32.mul (i32.add (local.get $j) (local.get $q)) (local.get $sjB))))
            (local.set $d (i32.add (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $j) (local.get $kc)) (i32.const 2))) (i32.shl (local.get $q) (i32.const 2))))
            (local.set $k (i32.const 0))
            (if (i32.gt_s (local.get $k4) (i32.const 0)) (then
            (loop $kt
              (local.set $v0 (v128.load (local.get $s)))
              (local.set $v1 (v128.load (i32.add (local.get $s) (local.get $sjB))))
              (local.set $v2 (v128.load (i32.add (local.get $s) (local.get $s2))))
              (local.set $v3 (v128.load (i32.add (local.get $s) (local.get $s3))))
              (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v0) (local.get $v1)))
              (local.set $t1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v2) (local.get $v3)))
              (local.set $t2 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v0) (local.get $v1)))
              (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v2) (local.get $v3)))
              (v128.store (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t1)))
              (v128.store offset=64 (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t1)))
              (v128.store offset=128 (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t2) (local.get $t3)))
              (v128.store offset=192 (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t2) (local.get $t3)))
              (local.set $s (i32.add (local.get $s) (i32.const 16)))
              (local.set $d (i32.add (local.get $d) (i32.const 256)))
              (local.set $k (i32.add (local.get $k) (i32.const 4)))
              (br_if $kt (i32.lt_u (local.get $k) (local.get $k4))))))
            (if (i32.lt_u (local.get $k) (local.get $kc)) (then
            (loop $kt1
              (f32.store (local.get $d) (f32.load (local.get $s)))
              (f32.store offset=4 (local.get $d) (f32.load (i32.add (local.get $s) (local.get $sjB))))
              (f32.store offset=8 (local.get $d) (f32.load (i32.add (local.get $s) (local.get $s2))))
              (f32.store offset=12 (local.get $d) (f32.load (i32.add (local.get $s) (local.get $s3))))
              (local.set $s (i32.add (local.get $s) (i32.const 4)))
              (local.set $d (i32.add (local.get $d) (i32.const 64)))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br_if $kt1 (i32.lt_u (local.get $k) (local.get $kc))))))
            (local.set $q (i32.add (local.get $q) (i32.const 4)))
            (br_if $quad (i32.lt_u (local.get $q) (i32.const 16))))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br_if $jp (i32.lt_u (local.get $j) (local.get $n16))))))))
    (if (i32.lt_s (local.get $n16) (local.get $nc))
      (then (call $pack_b_any (local.get $src) (local.get $sk) (local.get $sj) (local.get $n16) (local.get $nc) (local.get $kc) (local.get $dst)))))

  ;; C (M x N, row stride ldc) = alpha * op(A) * op(B) + beta * C; addresses in bytes, strides in floats.
  ;; flags: 1 tA, 2 tB, 4 swapped orientation (see the top), 8 A' comes packed, 16 B' comes packed.
  ;; A packed operand (the layout `pack` writes, for the same kcb) is given by its address (pA or
  ;; pB, whichever operand it is), its padded row count as its leading dimension (lda or ldb), and
  ;; the first of its rows (A': offA) or columns (B': offB) this call uses.
  ;; M, N, K >= 1; mcb a multiple of 2, ncb of 16; beta == 0 never reads C.
  ;; packA holds mcb*kcb floats, packB kcb*ncb, tile 32 (all 16-byte aligned).
  (func (export "gemm") (param $flags i32) (param $M i32) (param $N i32) (param $K i32)
        (param $alpha f32) (param $pA i32) (param $lda i32) (param $pB i32) (param $ldb i32)
        (param $beta f32) (param $pC i32) (param $ldc i32) (param $offA i32) (param $offB i32)
        (param $packA i32) (param $packB i32) (param $tile i32) (param $mcb i32) (param $kcb i32) (param $ncb i32)
    (local $Mi i32) (local $Nj i32) (local $srcA i32) (local $si i32) (local $ska i32) (local $srcB i32) (local $skb i32) (local $sj i32)
    (local $rs i32) (local $cs i32) (local $tr i32) (local $lpa i32) (local $lpb i32)
    (local $j0 i32) (local $nc i32) (local $p0 i32) (local $kc i32) (local $i0 i32) (local $mc i32)
    (local $jr i32) (local $mode i32) (local $mode0 i32) (local $a i32) (local $b i32)
    (local.set $mode0 (select (i32.const 0) (select (i32.const 1) (i32.const 2) (f32.eq (local.get $beta) (f32.const 1))) (f32.eq (local.get $beta) (f32.const 0))))
    (if (i32.and (local.get $flags) (i32.const 4))
      (then
        ;; A' = op(B)^T: A'[i][k] = op(B)[k][i]; B' = op(A)^T: B'[k][j] = op(A)[j][k]; C' = C^T.
        (local.set $Mi (local.get $N)) (local.set $Nj (local.get $M))
        (local.set $srcA (local.get $pB)) (local.set $srcB (local.get $pA))
        (local.set $lpa (local.get $ldb)) (local.set $lpb (local.get $lda))
        (if (i32.and (local.get $flags) (i32.const 2))
          (then (local.set $si (local.get $ldb)) (local.set $ska (i32.const 1)))
          (else (local.set $si (i32.const 1)) (local.set $ska (local.get $ldb))))
        (if (i32.and (local.get $flags) (i32.const 1))
          (then (local.set $skb (local.get $lda)) (local.set $sj (i32.const 1)))
          (else (local.set $skb (i32.const 1)) (local.set $sj (local.get $lda))))
        (local.set $rs (i32.const 4)) (local.set $cs (i32.shl (local.get $ldc) (i32.const 2))) (local.set $tr (i32.const 1)))
      (else
        (local.set $Mi (local.get $M)) (local.set $Nj (local.get $N))
        (local.set $srcA (local.get $pA)) (local.set $srcB (local.get $pB))
        (local.set $lpa (local.get $lda)) (local.set $lpb (local.get $ldb))
        (if (i32.and (local.get $flags) (i32.const 1))
          (then (local.set $si (i32.const 1)) (local.set $ska (local.get $lda)))
          (else (local.set $si (local.get $lda)) (local.set $ska (i32.const 1))))
        (if (i32.and (local.get $flags) (i32.const 2))
          (then (local.set $skb (i32.const 1)) (local.set $sj (local.get $ldb)))
          (else (local.set $skb (local.get $ldb)) (local.set $sj (i32.const 1))))
        (local.set $rs (i32.shl (local.get $ldc) (i32.const 2))) (local.set $cs (i32.const 4)) (local.set $tr (i32.const 0))))
    (local.set $j0 (i32.const 0))
    (loop $J
      (local.set $nc (select (local.get $ncb) (i32.sub (local.get $Nj) (local.get $j0)) (i32.gt_s (i32.sub (local.get $Nj) (local.get $j0)) (local.get $ncb))))
      (local.set $p0 (i32.const 0))
      (loop $P
        (local.set $kc (select (local.get $kcb) (i32.sub (local.get $K) (local.get $p0)) (i32.gt_s (i32.sub (local.get $K) (local.get $p0)) (local.get $kcb))))
        (if (i32.and (local.get $flags) (i32.const 16))
          (then (local.set $b (i32.add (local.get $srcB) (i32.shl (i32.add (i32.mul (local.get $p0) (local.get $lpb))
                                                                            (i32.mul (i32.add (local.get $offB) (local.get $j0)) (local.get $kc))) (i32.const 2)))))
          (else
            (local.set $b (local.get $packB))
            (call $pack_b (i32.add (local.get $srcB) (i32.shl (i32.add (i32.mul (local.get $p0) (local.get $skb)) (i32.mul (local.get $j0) (local.get $sj))) (i32.const 2)))
              (local.get $skb) (local.get $sj) (local.get $nc) (local.get $kc) (local.get $packB))))
        (local.set $mode (select (local.get $mode0) (i32.const 1) (i32.eqz (local.get $p0))))
        (local.set $i0 (i32.const 0))
        (loop $I
          (local.set $mc (select (local.get $mcb) (i32.sub (local.get $Mi) (local.get $i0)) (i32.gt_s (i32.sub (local.get $Mi) (local.get $i0)) (local.get $mcb))))
          (if (i32.and (local.get $flags) (i32.const 8))
            (then (local.set $a (i32.add (local.get $srcA) (i32.shl (i32.add (i32.mul (local.get $p0) (local.get $lpa))
                                                                              (i32.mul (i32.add (local.get $offA) (local.get $i0)) (local.get $kc))) (i32.const 2)))))
            (else
              (local.set $a (local.get $packA))
              (call $pack_a (i32.add (local.get $srcA) (i32.shl (i32.add (i32.mul (local.get $i0) (local.get $si)) (i32.mul (local.get $p0) (local.get $ska))) (i32.const 2)))
                (local.get $si) (local.get $ska) (local.get $mc) (local.get $kc) (local.get $packA))))
          (local.set $jr (i32.const 0))
          (loop $JR
            (call $tiles (local.get $kc) (local.get $a) (local.get $mc)
              (i32.add (local.get $b) (i32.shl (i32.mul (local.get $jr) (local.get $kc)) (i32.const 2)))
              (i32.add (local.get $pC) (i32.add (i32.mul (local.get $i0) (local.get $rs)) (i32.mul (i32.add (local.get $j0) (local.get $jr)) (local.get $cs))))
              (local.get $rs) (local.get $cs)
              (select (i32.const 16) (i32.sub (local.get $nc) (local.get $jr)) (i32.gt_s (i32.sub (local.get $nc) (local.get $jr)) (i32.const 16)))
              (local.get $alpha) (local.get $beta) (local.get $mode) (local.get $tr) (local.get $tile))
            (local.set $jr (i32.add (local.get $jr) (i32.const 16)))
            (br_if $JR (i32.lt_s (local.get $jr) (local.get $nc))))
          (local.set $i0 (i32.add (local.get $i0) (local.get $mcb)))
          (br_if $I (i32.lt_s (local.get $i0) (local.get $Mi))))
        (local.set $p0 (i32.add (local.get $p0) (local.get $kcb)))
        (br_if $P (i32.lt_s (local.get $p0) (local.get $K))))
      (local.set $j0 (i32.add (local.get $j0) (local.get $ncb)))
      (br_if $J (i32.lt_s (local.get $j0) (local.get $Nj)))))

  ;; Packs a whole operand for `gemm` (flag 8 or 16): X, rows x K, element (i, k) at
  ;; src + 4 (i si + k sk) (one of si, sk is 1), as `gemm` packs it, slice by slice of kcb: 2-row
  ;; panels (wide = 0, an A' operand) or 16-row panels (wide = 1, a B' operand, whose rows are
  ;; B' columns). Slice p0 starts at dst + 4 p0 rowsPad, rowsPad = rows rounded up to 2 or 16;
  ;; rowsPad * K floats in all.
  (func (export "pack") (param $wide i32) (param $src i32) (param $si i32) (param $sk i32) (param $rows i32) (param $K i32) (param $kcb i32) (param $dst i32)
    (local $p0 i32) (local $kc i32) (local $pad i32)
    (local.set $pad (select (i32.and (i32.add (local.get $rows) (i32.const 15)) (i32.const -16))
                            (i32.and (i32.add (local.get $rows) (i32.const 1)) (i32.const -2)) (local.get $wide)))
    (local.set $p0 (i32.const 0))
    (loop $P
      (local.set $kc (select (local.get $kcb) (i32.sub (local.get $K) (local.get $p0)) (i32.gt_s (i32.sub (local.get $K) (local.get $p0)) (local.get $kcb))))
      (if (local.get $wide)
        (then (call $pack_b (i32.add (local.get $src) (i32.shl (i32.mul (local.get $p0) (local.get $sk)) (i32.const 2)))
          (local.get $sk) (local.get $si) (local.get $rows) (local.get $kc) (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $p0) (local.get $pad)) (i32.const 2)))))
        (else (call $pack_a (i32.add (local.get $src) (i32.shl (i32.mul (local.get $p0) (local.get $sk)) (i32.const 2)))
          (local.get $si) (local.get $sk) (local.get $rows) (local.get $kc) (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $p0) (local.get $pad)) (i32.const 2))))))
      (local.set $p0 (i32.add (local.get $p0) (local.get $kcb)))
      (br_if $P (i32.lt_s (local.get $p0) (local.get $K)))))

  ;; Micro-tile shape, for gemm-wasm.ts to check against its own constants.
  (global (export "mr") i32 (i32.const 2))
  (global (export "nr") i32 (i32.const 16))
)
