;; WebAssembly SIMD (128-bit, f32x4) single-precision GEMM for src/kernels/gemm.ts.
;; Assembled by scripts/build-wasm.mjs (wabt) into gemm.wasm next to this file; gemm.ts loads that.
;;
;;   C (M x N, row-major, row stride ldc) = alpha * op(A) * op(B) + beta * C
;;
;; Operands live in the linear memory, which the module imports (env.memory) so that gemm.ts can
;; share one memory between the calling thread and its gemm worker threads: gemm.ts copies A, B
;; (and C when beta != 0) in, calls the exported `gemm` (or several threads call it, each on its
;; own column or row panels of C, with its own packing scratch), and copies C out. All pointers
;; are byte addresses; leading dimensions (lda, ldb, ldc) are in floats.
;; op(A)[i][k] = tA ? A[k*lda + i] : A[i*lda + k], op(B)[k][j] = tB ? B[j*ldb + k] : B[k*ldb + j]
;; (Caffe's caffe_cpu_gemm, row-major).
;;
;; Goto/BLIS blocking, the same scheme as the JS kernel:
;;   for each ncb-wide column block of op(B)
;;     for each kcb-deep slice of K
;;       pack op(B)[slice, block] into 8-wide column panels (k-major, zero padded)
;;       for each mcb-tall row block of op(A)
;;         pack op(A)[block, slice] into 4-tall row panels (k-major, zero padded)
;;         for every (B panel, A panel) pair: 4 x 8 micro-kernel
;; The micro-kernel holds the 4 x 8 tile in eight f32x4 accumulators (8 + 2 B vectors + 1
;; broadcast A = 11 of the 15 xmm registers V8 allocates; 6 x 8 and 8 x 8 spilled and measured
;; slower). Per k: two 16-byte B loads, four load32_splat of A, 8 f32x4.mul + 8 f32x4.add (no
;; relaxed-SIMD FMA in Node 20). Sums are float32, one partial sum per kcb slice of K.
;; The first K slice writes C = alpha*acc (beta == 0: C is never read, so NaN in it cannot leak)
;; or alpha*acc + beta*C; later slices add alpha*acc.
;; Packing uses 4x4 shuffle transposes where the source is strided (A untransposed, B transposed).
;; Scratch (packed panels, edge tile) and operand placement are chosen by gemm.ts.
(module
  ;; One page to start; gemm.ts grows it for scratch and operands, never past the maximum (128 MiB).
  ;; Declared shared (the threads feature): gemm.ts gives it a shared WebAssembly.Memory, or, when
  ;; it runs single-threaded, loads the module with this declaration rewritten to unshared (a
  ;; one-byte change in the import section, see unsharedMemory in gemm.ts).
  (import "env" "memory" (memory 1 2048 shared))

  ;; Micro-kernel: acc (4 x 8) = packed A panel (at a: kc x 4, k-major) times packed B panel (at b:
  ;; kc x 8, k-major), then into the C tile at byte address c (row stride ldc bytes), of which the
  ;; top-left mr x nr part is real (edge tiles go through the 32-float buffer at tile):
  ;;   mode 0: C = alpha*acc   mode 1: C = alpha*acc + C   mode 2: C = alpha*acc + beta*C
  (func $kernel (param $kc i32) (param $a i32) (param $b i32) (param $c i32) (param $ldc i32)
                (param $mr i32) (param $nr i32) (param $alpha f32) (param $beta f32) (param $mode i32) (param $tile i32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128) (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $b0 v128) (local $b1 v128) (local $av v128) (local $va v128) (local $vb v128)
    (local $end i32) (local $o i32) (local $r i32) (local $j i32) (local $t i32) (local $x i32)
    (local.set $end (i32.add (local.get $b) (i32.shl (local.get $kc) (i32.const 5))))
    (loop $k
      (local.set $b0 (v128.load (local.get $b)))
      (local.set $b1 (v128.load offset=16 (local.get $b)))
      (local.set $av (v128.load32_splat (local.get $a)))
      (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $av) (local.get $b0))))
      (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $av) (local.get $b1))))
      (local.set $av (v128.load32_splat offset=4 (local.get $a)))
      (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $av) (local.get $b0))))
      (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $av) (local.get $b1))))
      (local.set $av (v128.load32_splat offset=8 (local.get $a)))
      (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $av) (local.get $b0))))
      (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $av) (local.get $b1))))
      (local.set $av (v128.load32_splat offset=12 (local.get $a)))
      (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $av) (local.get $b0))))
      (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $av) (local.get $b1))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 32)))
      (br_if $k (i32.lt_u (local.get $b) (local.get $end))))
    (local.set $va (f32x4.splat (local.get $alpha)))
    (local.set $vb (f32x4.splat (local.get $beta)))
    (if (i32.and (i32.eq (local.get $mr) (i32.const 4)) (i32.eq (local.get $nr) (i32.const 8)))
      (then
        (if (i32.eqz (local.get $mode))
          (then
            (local.set $o (local.get $c))
            (v128.store (local.get $o) (f32x4.mul (local.get $va) (local.get $c00)))
            (v128.store offset=16 (local.get $o) (f32x4.mul (local.get $va) (local.get $c01)))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (v128.store (local.get $o) (f32x4.mul (local.get $va) (local.get $c10)))
            (v128.store offset=16 (local.get $o) (f32x4.mul (local.get $va) (local.get $c11)))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (v128.store (local.get $o) (f32x4.mul (local.get $va) (local.get $c20)))
            (v128.store offset=16 (local.get $o) (f32x4.mul (local.get $va) (local.get $c21)))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (v128.store (local.get $o) (f32x4.mul (local.get $va) (local.get $c30)))
            (v128.store offset=16 (local.get $o) (f32x4.mul (local.get $va) (local.get $c31)))
            (return)))
        (if (i32.eq (local.get $mode) (i32.const 1))
          (then
            (local.set $o (local.get $c))
            (v128.store (local.get $o) (f32x4.add (v128.load (local.get $o)) (f32x4.mul (local.get $va) (local.get $c00))))
            (v128.store offset=16 (local.get $o) (f32x4.add (v128.load offset=16 (local.get $o)) (f32x4.mul (local.get $va) (local.get $c01))))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (v128.store (local.get $o) (f32x4.add (v128.load (local.get $o)) (f32x4.mul (local.get $va) (local.get $c10))))
            (v128.store offset=16 (local.get $o) (f32x4.add (v128.load offset=16 (local.get $o)) (f32x4.mul (local.get $va) (local.get $c11))))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (v128.store (local.get $o) (f32x4.add (v128.load (local.get $o)) (f32x4.mul (local.get $va) (local.get $c20))))
            (v128.store offset=16 (local.get $o) (f32x4.add (v128.load offset=16 (local.get $o)) (f32x4.mul (local.get $va) (local.get $c21))))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (v128.store (local.get $o) (f32x4.add (v128.load (local.get $o)) (f32x4.mul (local.get $va) (local.get $c30))))
            (v128.store offset=16 (local.get $o) (f32x4.add (v128.load offset=16 (local.get $o)) (f32x4.mul (local.get $va) (local.get $c31))))
            (return)))
            (local.set $o (local.get $c))
            (v128.store (local.get $o) (f32x4.add (f32x4.mul (local.get $vb) (v128.load (local.get $o))) (f32x4.mul (local.get $va) (local.get $c00))))
            (v128.store offset=16 (local.get $o) (f32x4.add (f32x4.mul (local.get $vb) (v128.load offset=16 (local.get $o))) (f32x4.mul (local.get $va) (local.get $c01))))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (v128.store (local.get $o) (f32x4.add (f32x4.mul (local.get $vb) (v128.load (local.get $o))) (f32x4.mul (local.get $va) (local.get $c10))))
            (v128.store offset=16 (local.get $o) (f32x4.add (f32x4.mul (local.get $vb) (v128.load offset=16 (local.get $o))) (f32x4.mul (local.get $va) (local.get $c11))))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (v128.store (local.get $o) (f32x4.add (f32x4.mul (local.get $vb) (v128.load (local.get $o))) (f32x4.mul (local.get $va) (local.get $c20))))
            (v128.store offset=16 (local.get $o) (f32x4.add (f32x4.mul (local.get $vb) (v128.load offset=16 (local.get $o))) (f32x4.mul (local.get $va) (local.get $c21))))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (v128.store (local.get $o) (f32x4.add (f32x4.mul (local.get $vb) (v128.load (local.get $o))) (f32x4.mul (local.get $va) (local.get $c30))))
            (v128.store offset=16 (local.get $o) (f32x4.add (f32x4.mul (local.get $vb) (v128.load offset=16 (local.get $o))) (f32x4.mul (local.get $va) (local.get $c31))))
        (return)))
    ;; edge tile: scaled accumulators to the tile buffer, then the valid mr x nr part into C
    (v128.store (local.get $tile) (f32x4.mul (local.get $va) (local.get $c00)))
    (v128.store offset=16 (local.get $tile) (f32x4.mul (local.get $va) (local.get $c01)))
    (v128.store offset=32 (local.get $tile) (f32x4.mul (local.get $va) (local.get $c10)))
    (v128.store offset=48 (local.get $tile) (f32x4.mul (local.get $va) (local.get $c11)))
    (v128.store offset=64 (local.get $tile) (f32x4.mul (local.get $va) (local.get $c20)))
    (v128.store offset=80 (local.get $tile) (f32x4.mul (local.get $va) (local.get $c21)))
    (v128.store offset=96 (local.get $tile) (f32x4.mul (local.get $va) (local.get $c30)))
    (v128.store offset=112 (local.get $tile) (f32x4.mul (local.get $va) (local.get $c31)))
    (local.set $r (i32.const 0))
    (loop $rows
      (local.set $o (i32.add (local.get $c) (i32.mul (local.get $r) (local.get $ldc))))
      (local.set $t (i32.add (local.get $tile) (i32.shl (local.get $r) (i32.const 5))))
      (local.set $j (i32.const 0))
      (loop $cols
        (local.set $x (i32.add (local.get $o) (i32.shl (local.get $j) (i32.const 2))))
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

  ;; Pack op(A)[i0 .. i0+mc, p0 .. p0+kc] into panels of 4 rows at dst: panel element [k][r] at
  ;; dst + (panel*kc + k)*16 + r*4; rows past mc are zero.
  (func $pack_a (param $tA i32) (param $pA i32) (param $lda i32) (param $i0 i32) (param $mc i32)
                (param $p0 i32) (param $kc i32) (param $dst i32)
    (local $r0 i32) (local $rows i32) (local $src i32) (local $k i32) (local $r i32) (local $ldaB i32) (local $l2 i32) (local $l3 i32) (local $k4 i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128) (local $v4 v128) (local $v5 v128) (local $v6 v128) (local $v7 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $ldaB (i32.shl (local.get $lda) (i32.const 2)))
    (local.set $l2 (i32.shl (local.get $ldaB) (i32.const 1)))
    (local.set $l3 (i32.add (local.get $l2) (local.get $ldaB)))
    (local.set $k4 (i32.and (local.get $kc) (i32.const -4)))
    (local.set $r0 (i32.const 0))
    (loop $panels
      (local.set $rows (select (i32.const 4) (i32.sub (local.get $mc) (local.get $r0)) (i32.gt_s (i32.sub (local.get $mc) (local.get $r0)) (i32.const 4))))
      (if (local.get $tA)
        (then
          (local.set $src (i32.add (local.get $pA) (i32.shl (i32.add (i32.mul (local.get $p0) (local.get $lda)) (i32.add (local.get $i0) (local.get $r0))) (i32.const 2))))
          (local.set $k (i32.const 0))
          (if (i32.eq (local.get $rows) (i32.const 4))
            (then
              (loop $kt
                (v128.store (local.get $dst) (v128.load (local.get $src)))
                (local.set $src (i32.add (local.get $src) (local.get $ldaB)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br_if $kt (i32.lt_u (local.get $k) (local.get $kc)))))
            (else
              (loop $kte
                (f64.store (local.get $dst) (f64.const 0))
                (f64.store offset=8 (local.get $dst) (f64.const 0))
                (local.set $r (i32.const 0))
                (loop $rt
                  (f32.store (i32.add (local.get $dst) (i32.shl (local.get $r) (i32.const 2))) (f32.load (i32.add (local.get $src) (i32.shl (local.get $r) (i32.const 2)))))
                  (local.set $r (i32.add (local.get $r) (i32.const 1)))
                  (br_if $rt (i32.lt_u (local.get $r) (local.get $rows))))
                (local.set $src (i32.add (local.get $src) (local.get $ldaB)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br_if $kte (i32.lt_u (local.get $k) (local.get $kc)))))))
        (else
          (local.set $src (i32.add (local.get $pA) (i32.shl (i32.add (i32.mul (i32.add (local.get $i0) (local.get $r0)) (local.get $lda)) (local.get $p0)) (i32.const 2))))
          (local.set $k (i32.const 0))
          (if (i32.eq (local.get $rows) (i32.const 4))
            (then
              (if (i32.lt_u (local.get $k) (local.get $k4)) (then
              (loop $k4l
                (local.set $v0 (v128.load (local.get $src)))
                (local.set $v1 (v128.load (i32.add (local.get $src) (local.get $ldaB))))
                (local.set $v2 (v128.load (i32.add (local.get $src) (local.get $l2))))
                (local.set $v3 (v128.load (i32.add (local.get $src) (local.get $l3))))
                (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v0) (local.get $v1)))
                (local.set $t1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v2) (local.get $v3)))
                (local.set $t2 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v0) (local.get $v1)))
                (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v2) (local.get $v3)))
                (local.set $v4 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t1)))
                (local.set $v5 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t1)))
                (local.set $v6 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t2) (local.get $t3)))
                (local.set $v7 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t2) (local.get $t3)))
                (v128.store (local.get $dst) (local.get $v4))
                (v128.store offset=16 (local.get $dst) (local.get $v5))
                (v128.store offset=32 (local.get $dst) (local.get $v6))
                (v128.store offset=48 (local.get $dst) (local.get $v7))
                (local.set $src (i32.add (local.get $src) (i32.const 16)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
                (local.set $k (i32.add (local.get $k) (i32.const 4)))
                (br_if $k4l (i32.lt_u (local.get $k) (local.get $k4))))))
              (if (i32.lt_u (local.get $k) (local.get $kc)) (then
              (loop $k1l
                (f32.store (local.get $dst) (f32.load (local.get $src)))
                (f32.store offset=4 (local.get $dst) (f32.load (i32.add (local.get $src) (local.get $ldaB))))
                (f32.store offset=8 (local.get $dst) (f32.load (i32.add (local.get $src) (local.get $l2))))
                (f32.store offset=12 (local.get $dst) (f32.load (i32.add (local.get $src) (local.get $l3))))
                (local.set $src (i32.add (local.get $src) (i32.const 4)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br_if $k1l (i32.lt_u (local.get $k) (local.get $kc)))))))
            (else
              (loop $kne
                (f64.store (local.get $dst) (f64.const 0))
                (f64.store offset=8 (local.get $dst) (f64.const 0))
                (local.set $r (i32.const 0))
                (loop $rn
                  (f32.store (i32.add (local.get $dst) (i32.shl (local.get $r) (i32.const 2))) (f32.load (i32.add (local.get $src) (i32.mul (local.get $r) (local.get $ldaB)))))
                  (local.set $r (i32.add (local.get $r) (i32.const 1)))
                  (br_if $rn (i32.lt_u (local.get $r) (local.get $rows))))
                (local.set $src (i32.add (local.get $src) (i32.const 4)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br_if $kne (i32.lt_u (local.get $k) (local.get $kc))))))))
      (local.set $r0 (i32.add (local.get $r0) (i32.const 4)))
      (br_if $panels (i32.lt_s (local.get $r0) (local.get $mc)))))

  ;; Pack op(B)[p0 .. p0+kc, j0 .. j0+nc] into panels of 8 columns at dst: panel element [k][c] at
  ;; dst + (panel*kc + k)*32 + c*4; columns past nc are zero.
  (func $pack_b (param $tB i32) (param $pB i32) (param $ldb i32) (param $j0 i32) (param $nc i32)
                (param $p0 i32) (param $kc i32) (param $dst i32)
    (local $c0 i32) (local $cols i32) (local $src i32) (local $k i32) (local $cc i32) (local $ldbB i32) (local $k4 i32)
    (local $l1 i32) (local $l2 i32) (local $l3 i32) (local $l4 i32) (local $l5 i32) (local $l6 i32) (local $l7 i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128) (local $v4 v128) (local $v5 v128) (local $v6 v128) (local $v7 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $ldbB (i32.shl (local.get $ldb) (i32.const 2)))
    (local.set $l1 (local.get $ldbB))
    (local.set $l2 (i32.mul (local.get $ldbB) (i32.const 2)))
    (local.set $l3 (i32.mul (local.get $ldbB) (i32.const 3)))
    (local.set $l4 (i32.mul (local.get $ldbB) (i32.const 4)))
    (local.set $l5 (i32.mul (local.get $ldbB) (i32.const 5)))
    (local.set $l6 (i32.mul (local.get $ldbB) (i32.const 6)))
    (local.set $l7 (i32.mul (local.get $ldbB) (i32.const 7)))
    (local.set $k4 (i32.and (local.get $kc) (i32.const -4)))
    (local.set $c0 (i32.const 0))
    (loop $panels
      (local.set $cols (select (i32.const 8) (i32.sub (local.get $nc) (local.get $c0)) (i32.gt_s (i32.sub (local.get $nc) (local.get $c0)) (i32.const 8))))
      (local.set $k (i32.const 0))
      (if (i32.eqz (local.get $tB))
        (then
          (local.set $src (i32.add (local.get $pB) (i32.shl (i32.add (i32.mul (local.get $p0) (local.get $ldb)) (i32.add (local.get $j0) (local.get $c0))) (i32.const 2))))
          (if (i32.eq (local.get $cols) (i32.const 8))
            (then
              (loop $kn
                (v128.store (local.get $dst) (v128.load (local.get $src)))
                (v128.store offset=16 (local.get $dst) (v128.load offset=16 (local.get $src)))
                (local.set $src (i32.add (local.get $src) (local.get $ldbB)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br_if $kn (i32.lt_u (local.get $k) (local.get $kc)))))
            (else
              (loop $kne
                (v128.store (local.get $dst) (v128.const i32x4 0 0 0 0))
                (v128.store offset=16 (local.get $dst) (v128.const i32x4 0 0 0 0))
                (local.set $cc (i32.const 0))
                (loop $cn
                  (f32.store (i32.add (local.get $dst) (i32.shl (local.get $cc) (i32.const 2))) (f32.load (i32.add (local.get $src) (i32.shl (local.get $cc) (i32.const 2)))))
                  (local.set $cc (i32.add (local.get $cc) (i32.const 1)))
                  (br_if $cn (i32.lt_u (local.get $cc) (local.get $cols))))
                (local.set $src (i32.add (local.get $src) (local.get $ldbB)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br_if $kne (i32.lt_u (local.get $k) (local.get $kc)))))))
        (else
          (local.set $src (i32.add (local.get $pB) (i32.shl (i32.add (i32.mul (i32.add (local.get $j0) (local.get $c0)) (local.get $ldb)) (local.get $p0)) (i32.const 2))))
          (if (i32.eq (local.get $cols) (i32.const 8))
            (then
              (if (i32.lt_u (local.get $k) (local.get $k4)) (then
              (loop $kt4
                (local.set $v0 (v128.load (local.get $src)))
                (local.set $v1 (v128.load (i32.add (local.get $src) (local.get $l1))))
                (local.set $v2 (v128.load (i32.add (local.get $src) (local.get $l2))))
                (local.set $v3 (v128.load (i32.add (local.get $src) (local.get $l3))))
                (local.set $v4 (v128.load (i32.add (local.get $src) (local.get $l4))))
                (local.set $v5 (v128.load (i32.add (local.get $src) (local.get $l5))))
                (local.set $v6 (v128.load (i32.add (local.get $src) (local.get $l6))))
                (local.set $v7 (v128.load (i32.add (local.get $src) (local.get $l7))))
                (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v0) (local.get $v1)))
                (local.set $t1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v2) (local.get $v3)))
                (local.set $t2 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v0) (local.get $v1)))
                (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v2) (local.get $v3)))
                (local.set $v0 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t1)))
                (local.set $v1 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t1)))
                (local.set $v2 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t2) (local.get $t3)))
                (local.set $v3 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t2) (local.get $t3)))
                (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v4) (local.get $v5)))
                (local.set $t1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v6) (local.get $v7)))
                (local.set $t2 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v4) (local.get $v5)))
                (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v6) (local.get $v7)))
                (local.set $v4 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t1)))
                (local.set $v5 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t1)))
                (local.set $v6 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t2) (local.get $t3)))
                (local.set $v7 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t2) (local.get $t3)))
                (v128.store (local.get $dst) (local.get $v0))
                (v128.store offset=16 (local.get $dst) (local.get $v4))
                (v128.store offset=32 (local.get $dst) (local.get $v1))
                (v128.store offset=48 (local.get $dst) (local.get $v5))
                (v128.store offset=64 (local.get $dst) (local.get $v2))
                (v128.store offset=80 (local.get $dst) (local.get $v6))
                (v128.store offset=96 (local.get $dst) (local.get $v3))
                (v128.store offset=112 (local.get $dst) (local.get $v7))
                (local.set $src (i32.add (local.get $src) (i32.const 16)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 128)))
                (local.set $k (i32.add (local.get $k) (i32.const 4)))
                (br_if $kt4 (i32.lt_u (local.get $k) (local.get $k4))))))
              (if (i32.lt_u (local.get $k) (local.get $kc)) (then
              (loop $kt1
                (f32.store (local.get $dst) (f32.load (local.get $src)))
                (f32.store offset=4 (local.get $dst) (f32.load (i32.add (local.get $src) (local.get $l1))))
                (f32.store offset=8 (local.get $dst) (f32.load (i32.add (local.get $src) (local.get $l2))))
                (f32.store offset=12 (local.get $dst) (f32.load (i32.add (local.get $src) (local.get $l3))))
                (f32.store offset=16 (local.get $dst) (f32.load (i32.add (local.get $src) (local.get $l4))))
                (f32.store offset=20 (local.get $dst) (f32.load (i32.add (local.get $src) (local.get $l5))))
                (f32.store offset=24 (local.get $dst) (f32.load (i32.add (local.get $src) (local.get $l6))))
                (f32.store offset=28 (local.get $dst) (f32.load (i32.add (local.get $src) (local.get $l7))))
                (local.set $src (i32.add (local.get $src) (i32.const 4)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br_if $kt1 (i32.lt_u (local.get $k) (local.get $kc)))))))
            (else
              (loop $kte
                (v128.store (local.get $dst) (v128.const i32x4 0 0 0 0))
                (v128.store offset=16 (local.get $dst) (v128.const i32x4 0 0 0 0))
                (local.set $cc (i32.const 0))
                (loop $ct
                  (f32.store (i32.add (local.get $dst) (i32.shl (local.get $cc) (i32.const 2))) (f32.load (i32.add (local.get $src) (i32.mul (local.get $cc) (local.get $ldbB)))))
                  (local.set $cc (i32.add (local.get $cc) (i32.const 1)))
                  (br_if $ct (i32.lt_u (local.get $cc) (local.get $cols))))
                (local.set $src (i32.add (local.get $src) (i32.const 4)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br_if $kte (i32.lt_u (local.get $k) (local.get $kc))))))))
      (local.set $c0 (i32.add (local.get $c0) (i32.const 8)))
      (br_if $panels (i32.lt_s (local.get $c0) (local.get $nc)))))

  ;; C (M x N, row stride ldc) = alpha * op(A) * op(B) + beta * C; all addresses in bytes, strides in floats.
  ;; M, N, K >= 1; mcb a multiple of 4, ncb a multiple of 8; beta == 0 never reads C.
  ;; packA holds mcb*kcb floats, packB kcb*ncb floats, tile 32 floats (16-byte aligned).
  (func (export "gemm") (param $tA i32) (param $tB i32) (param $M i32) (param $N i32) (param $K i32)
        (param $alpha f32) (param $pA i32) (param $lda i32) (param $pB i32) (param $ldb i32)
        (param $beta f32) (param $pC i32) (param $ldc i32)
        (param $packA i32) (param $packB i32) (param $tile i32) (param $mcb i32) (param $kcb i32) (param $ncb i32)
    (local $j0 i32) (local $nc i32) (local $p0 i32) (local $kc i32) (local $i0 i32) (local $mc i32)
    (local $jr i32) (local $nr i32) (local $ir i32) (local $mr i32) (local $mode i32) (local $mode0 i32) (local $ldcB i32)
    (local.set $mode0 (select (i32.const 0) (select (i32.const 1) (i32.const 2) (f32.eq (local.get $beta) (f32.const 1))) (f32.eq (local.get $beta) (f32.const 0))))
    (local.set $ldcB (i32.shl (local.get $ldc) (i32.const 2)))
    (local.set $j0 (i32.const 0))
    (loop $J
      (local.set $nc (select (local.get $ncb) (i32.sub (local.get $N) (local.get $j0)) (i32.gt_s (i32.sub (local.get $N) (local.get $j0)) (local.get $ncb))))
      (local.set $p0 (i32.const 0))
      (loop $P
        (local.set $kc (select (local.get $kcb) (i32.sub (local.get $K) (local.get $p0)) (i32.gt_s (i32.sub (local.get $K) (local.get $p0)) (local.get $kcb))))
        (call $pack_b (local.get $tB) (local.get $pB) (local.get $ldb) (local.get $j0) (local.get $nc) (local.get $p0) (local.get $kc) (local.get $packB))
        (local.set $mode (select (local.get $mode0) (i32.const 1) (i32.eqz (local.get $p0))))
        (local.set $i0 (i32.const 0))
        (loop $I
          (local.set $mc (select (local.get $mcb) (i32.sub (local.get $M) (local.get $i0)) (i32.gt_s (i32.sub (local.get $M) (local.get $i0)) (local.get $mcb))))
          (call $pack_a (local.get $tA) (local.get $pA) (local.get $lda) (local.get $i0) (local.get $mc) (local.get $p0) (local.get $kc) (local.get $packA))
          (local.set $jr (i32.const 0))
          (loop $JR
            (local.set $nr (select (i32.const 8) (i32.sub (local.get $nc) (local.get $jr)) (i32.gt_s (i32.sub (local.get $nc) (local.get $jr)) (i32.const 8))))
            (local.set $ir (i32.const 0))
            (loop $IR
              (local.set $mr (select (i32.const 4) (i32.sub (local.get $mc) (local.get $ir)) (i32.gt_s (i32.sub (local.get $mc) (local.get $ir)) (i32.const 4))))
              (call $kernel (local.get $kc)
                (i32.add (local.get $packA) (i32.shl (i32.mul (local.get $ir) (local.get $kc)) (i32.const 2)))
                (i32.add (local.get $packB) (i32.shl (i32.mul (local.get $jr) (local.get $kc)) (i32.const 2)))
                (i32.add (local.get $pC) (i32.shl (i32.add (i32.mul (i32.add (local.get $i0) (local.get $ir)) (local.get $ldc)) (i32.add (local.get $j0) (local.get $jr))) (i32.const 2)))
                (local.get $ldcB) (local.get $mr) (local.get $nr) (local.get $alpha) (local.get $beta) (local.get $mode) (local.get $tile))
              (local.set $ir (i32.add (local.get $ir) (i32.const 4)))
              (br_if $IR (i32.lt_s (local.get $ir) (local.get $mc))))
            (local.set $jr (i32.add (local.get $jr) (i32.const 8)))
            (br_if $JR (i32.lt_s (local.get $jr) (local.get $nc))))
          (local.set $i0 (i32.add (local.get $i0) (local.get $mcb)))
          (br_if $I (i32.lt_s (local.get $i0) (local.get $M))))
        (local.set $p0 (i32.add (local.get $p0) (local.get $kcb)))
        (br_if $P (i32.lt_s (local.get $p0) (local.get $K))))
      (local.set $j0 (i32.add (local.get $j0) (local.get $ncb)))
      (br_if $J (i32.lt_s (local.get $j0) (local.get $N)))))
  ;; Micro-tile shape, for gemm.ts to check against its own constants.
  (global (export "mr") i32 (i32.const 4))
  (global (export "nr") i32 (i32.const 8))
)
