;; WebAssembly SIMD (f32x4) transforms of Winograd F(4x4,3x3) (weights, input, output) and
;; F(2x2,3x3) (input, output) for src/kernels/winograd.ts (which holds the plain-JS versions, the layout and the matrices).
;; Assembled by scripts/build-wasm.mjs (wabt) into winograd.wasm next to this file.
;;
;; Why: in JS the two transforms took 40-57% of an F(4,3) forward on 28x28-56x56 images (the
;; 36 products the rest). Here the four lanes are four horizontally adjacent tiles: a tile row's
;; 6 x 6 input patches are read as rows of 20 floats and transposed in registers (shuffles) so
;; that lane l holds tile j+l, the 1-D transforms are then the scalar formulas on vectors, and the
;; 36 results of 4 tiles are 36 contiguous 4-float stores into V (tiles are consecutive there).
;; The output transform reads 4 tiles per position the same way and transposes back before
;; storing rows. Arithmetic is float32 (the JS versions work in doubles): F(4,3)'s error stays
;; within the float32 bounds test/winograd.test.ts asserts.
;; All pointers are byte addresses; strides are in bytes unless named in floats.
(module
  ;; Imported (declared shared, like the other kernels): winograd.ts instantiates the module on
  ;; a memory of its own (the declaration rewritten to unshared), and on the GEMM's shared memory
  ;; to transform blobs that live there in place.
  (import "env" "memory" (memory 1 65536 shared))

  ;; The first n lanes of the npos vectors at E (16 bytes apart) to V + p * ps, p < npos: the
  ;; input transforms' last tiles of a row, which fill fewer than four lanes.
  (func $lanes (param $E i32) (param $V i32) (param $ps i32) (param $npos i32) (param $n i32)
    (local $p i32) (local $l i32)
    (block $bp (loop $lp
      (br_if $bp (i32.ge_u (local.get $p) (local.get $npos)))
      (local.set $l (i32.const 0))
      (block $bl (loop $ll
        (br_if $bl (i32.ge_u (local.get $l) (local.get $n)))
        (f32.store (i32.add (i32.add (local.get $V) (i32.mul (local.get $p) (local.get $ps))) (i32.shl (local.get $l) (i32.const 2)))
          (f32.load (i32.add (i32.add (local.get $E) (i32.shl (local.get $p) (i32.const 4))) (i32.shl (local.get $l) (i32.const 2)))))
        (local.set $l (i32.add (local.get $l) (i32.const 1)))
        (br $ll)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $lp))))

  ;; n floats from src to dst: the output transforms' clipped row ends.
  (func $copy (param $src i32) (param $dst i32) (param $n i32)
    (local $b i32)
    (block $bb (loop $lb
      (br_if $bb (i32.ge_s (local.get $b) (local.get $n)))
      (f32.store (i32.add (local.get $dst) (i32.shl (local.get $b) (i32.const 2)))
        (f32.load (i32.add (local.get $src) (i32.shl (local.get $b) (i32.const 2)))))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $lb))))

  ;; dst[k * ds] = (B^T d)_k for d_k = src[k * ss], k < 6, four lanes at a time.
  ;; B^T rows: [4 0 -5 0 1 0] [0 -4 -4 1 1 0] [0 4 -4 -1 1 0] [0 -2 -1 2 1 0] [0 2 -1 -2 1 0] [0 4 0 -5 0 1]
  (func $bt6 (param $s i32) (param $ss i32) (param $d i32) (param $ds i32)
    (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128) (local $d4 v128) (local $d5 v128)
    (local $e v128) (local $f v128) (local $g v128) (local $h v128) (local $four v128) (local $five v128)
    (local.set $four (f32x4.splat (f32.const 4)))
    (local.set $five (f32x4.splat (f32.const 5)))
    (local.set $d0 (v128.load (local.get $s)))
    (local.set $s (i32.add (local.get $s) (local.get $ss)))
    (local.set $d1 (v128.load (local.get $s)))
    (local.set $s (i32.add (local.get $s) (local.get $ss)))
    (local.set $d2 (v128.load (local.get $s)))
    (local.set $s (i32.add (local.get $s) (local.get $ss)))
    (local.set $d3 (v128.load (local.get $s)))
    (local.set $s (i32.add (local.get $s) (local.get $ss)))
    (local.set $d4 (v128.load (local.get $s)))
    (local.set $s (i32.add (local.get $s) (local.get $ss)))
    (local.set $d5 (v128.load (local.get $s)))
    (local.set $e (f32x4.sub (local.get $d4) (f32x4.mul (local.get $four) (local.get $d2))))
    (local.set $f (f32x4.sub (local.get $d4) (local.get $d2)))
    (local.set $g (f32x4.sub (f32x4.mul (local.get $four) (local.get $d1)) (local.get $d3)))
    (local.set $h (f32x4.add (f32x4.sub (local.get $d1) (local.get $d3)) (f32x4.sub (local.get $d1) (local.get $d3))))
    (v128.store (local.get $d)
      (f32x4.add (f32x4.sub (f32x4.mul (local.get $four) (local.get $d0)) (f32x4.mul (local.get $five) (local.get $d2))) (local.get $d4)))
    (local.set $d (i32.add (local.get $d) (local.get $ds)))
    (v128.store (local.get $d) (f32x4.sub (local.get $e) (local.get $g)))
    (local.set $d (i32.add (local.get $d) (local.get $ds)))
    (v128.store (local.get $d) (f32x4.add (local.get $e) (local.get $g)))
    (local.set $d (i32.add (local.get $d) (local.get $ds)))
    (v128.store (local.get $d) (f32x4.sub (local.get $f) (local.get $h)))
    (local.set $d (i32.add (local.get $d) (local.get $ds)))
    (v128.store (local.get $d) (f32x4.add (local.get $f) (local.get $h)))
    (local.set $d (i32.add (local.get $d) (local.get $ds)))
    (v128.store (local.get $d)
      (f32x4.add (f32x4.sub (f32x4.mul (local.get $four) (local.get $d1)) (f32x4.mul (local.get $five) (local.get $d3))) (local.get $d5))))

  ;; dst[k * ds] = (A^T m)_k for m_k = src[k * ss], k < 6 in, 4 out.
  ;; A^T rows: [1 1 1 1 1 0] [0 1 -1 2 -2 0] [0 1 1 4 4 0] [0 1 -1 8 -8 1]
  (func $at6 (param $s i32) (param $ss i32) (param $d i32) (param $ds i32)
    (local $m0 v128) (local $m5 v128) (local $a v128) (local $b v128) (local $c v128) (local $e v128)
    (local $m1 v128) (local $m2 v128) (local $m3 v128) (local $m4 v128)
    (local.set $m0 (v128.load (local.get $s)))
    (local.set $s (i32.add (local.get $s) (local.get $ss)))
    (local.set $m1 (v128.load (local.get $s)))
    (local.set $s (i32.add (local.get $s) (local.get $ss)))
    (local.set $m2 (v128.load (local.get $s)))
    (local.set $s (i32.add (local.get $s) (local.get $ss)))
    (local.set $m3 (v128.load (local.get $s)))
    (local.set $s (i32.add (local.get $s) (local.get $ss)))
    (local.set $m4 (v128.load (local.get $s)))
    (local.set $s (i32.add (local.get $s) (local.get $ss)))
    (local.set $m5 (v128.load (local.get $s)))
    (local.set $a (f32x4.add (local.get $m1) (local.get $m2)))
    (local.set $b (f32x4.sub (local.get $m1) (local.get $m2)))
    (local.set $c (f32x4.add (local.get $m3) (local.get $m4)))
    (local.set $e (f32x4.sub (local.get $m3) (local.get $m4)))
    (v128.store (local.get $d) (f32x4.add (f32x4.add (local.get $m0) (local.get $a)) (local.get $c)))
    (local.set $d (i32.add (local.get $d) (local.get $ds)))
    (v128.store (local.get $d) (f32x4.add (local.get $b) (f32x4.mul (f32x4.splat (f32.const 2)) (local.get $e))))
    (local.set $d (i32.add (local.get $d) (local.get $ds)))
    (v128.store (local.get $d) (f32x4.add (local.get $a) (f32x4.mul (f32x4.splat (f32.const 4)) (local.get $c))))
    (local.set $d (i32.add (local.get $d) (local.get $ds)))
    (v128.store (local.get $d)
      (f32x4.add (f32x4.add (local.get $b) (f32x4.mul (f32x4.splat (f32.const 8)) (local.get $e))) (local.get $m5))))

;; dst[k * ds] = (G g)_k for g_k = src[k * ss], k < 3 in, 6 out.
  ;; G rows: [1/4 0 0] [-1/6 -1/6 -1/6] [-1/6 1/6 -1/6] [1/24 1/12 1/6] [1/24 -1/12 1/6] [0 0 1]
  (func $gt6 (param $s i32) (param $ss i32) (param $d i32) (param $ds i32)
    (local $g0 v128) (local $g1 v128) (local $g2 v128) (local $e v128) (local $q v128) (local $h v128)
    (local.set $g0 (v128.load (local.get $s)))
    (local.set $s (i32.add (local.get $s) (local.get $ss)))
    (local.set $g1 (v128.load (local.get $s)))
    (local.set $s (i32.add (local.get $s) (local.get $ss)))
    (local.set $g2 (v128.load (local.get $s)))
    (local.set $e (f32x4.add (local.get $g0) (local.get $g2)))
    (local.set $q (f32x4.add (f32x4.mul (local.get $g0) (f32x4.splat (f32.const 0x1.555556p-5)))
      (f32x4.mul (local.get $g2) (f32x4.splat (f32.const 0x1.555556p-3)))))
    (local.set $h (f32x4.mul (local.get $g1) (f32x4.splat (f32.const 0x1.555556p-4))))
    (v128.store (local.get $d) (f32x4.mul (local.get $g0) (f32x4.splat (f32.const 0.25))))
    (local.set $d (i32.add (local.get $d) (local.get $ds)))
    (v128.store (local.get $d) (f32x4.mul (f32x4.add (local.get $e) (local.get $g1)) (f32x4.splat (f32.const -0x1.555556p-3))))
    (local.set $d (i32.add (local.get $d) (local.get $ds)))
    (v128.store (local.get $d) (f32x4.mul (f32x4.sub (local.get $g1) (local.get $e)) (f32x4.splat (f32.const 0x1.555556p-3))))
    (local.set $d (i32.add (local.get $d) (local.get $ds)))
    (v128.store (local.get $d) (f32x4.add (local.get $q) (local.get $h)))
    (local.set $d (i32.add (local.get $d) (local.get $ds)))
    (v128.store (local.get $d) (f32x4.sub (local.get $q) (local.get $h)))
    (local.set $d (i32.add (local.get $d) (local.get $ds)))
    (v128.store (local.get $d) (local.get $g2)))

  ;; U[p * ps + 4 o] = (G g_o G^T)_p for the 3x3 kernels g_o at w (9 floats each), o < count,
  ;; count a multiple of 4 (four kernels per vector). S: 512 bytes of scratch.
  (func (export "weights4") (param $w i32) (param $count i32) (param $U i32) (param $ps i32) (param $S i32)
    (local $o i32) (local $l i32) (local $k i32) (local $T i32) (local $src i32)
    (local.set $T (i32.add (local.get $S) (i32.const 144)))
    (block $bo (loop $lo
      (br_if $bo (i32.ge_u (local.get $o) (local.get $count)))
      ;; Transpose four kernels: S[k] lane l = w[(o + l) * 9 + k].
      (local.set $l (i32.const 0))
      (block $bl (loop $ll
        (br_if $bl (i32.ge_u (local.get $l) (i32.const 4)))
        (local.set $src (i32.add (local.get $w) (i32.mul (i32.add (local.get $o) (local.get $l)) (i32.const 36))))
        (local.set $k (i32.const 0))
        (block $bk (loop $lk
          (br_if $bk (i32.ge_u (local.get $k) (i32.const 9)))
          (f32.store (i32.add (i32.add (local.get $S) (i32.shl (local.get $k) (i32.const 4))) (i32.shl (local.get $l) (i32.const 2)))
            (f32.load (i32.add (local.get $src) (i32.shl (local.get $k) (i32.const 2)))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $lk)))
        (local.set $l (i32.add (local.get $l) (i32.const 1)))
        (br $ll)))
      ;; G down the kernel's columns (T is 6 x 3) ...
      (call $gt6 (local.get $S) (i32.const 48) (local.get $T) (i32.const 48))
      (call $gt6 (i32.add (local.get $S) (i32.const 16)) (i32.const 48) (i32.add (local.get $T) (i32.const 16)) (i32.const 48))
      (call $gt6 (i32.add (local.get $S) (i32.const 32)) (i32.const 48) (i32.add (local.get $T) (i32.const 32)) (i32.const 48))
      ;; ... then along T's rows, into the 36 planes.
      (local.set $k (i32.const 0))
      (block $br (loop $lr
        (br_if $br (i32.ge_u (local.get $k) (i32.const 6)))
        (call $gt6 (i32.add (local.get $T) (i32.mul (local.get $k) (i32.const 48))) (i32.const 16)
          (i32.add (i32.add (local.get $U) (i32.shl (local.get $o) (i32.const 2))) (i32.mul (local.get $k) (i32.mul (local.get $ps) (i32.const 6))))
          (local.get $ps))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $lr)))
      (local.set $o (i32.add (local.get $o) (i32.const 4)))
      (br $lo))))

;; ---- F(2x2,3x3): B^T rows [1 0 -1 0] [0 1 1 0] [0 -1 1 0] [0 1 0 -1], A^T rows [1 1 1 0] [0 1 -1 -1]

  ;; dst[k * ds] = (B^T d)_k for d_k = src[k * ss], k < 4.
  (func $bt4 (param $s i32) (param $ss i32) (param $d i32) (param $ds i32)
    (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128)
    (local.set $d0 (v128.load (local.get $s)))
    (local.set $s (i32.add (local.get $s) (local.get $ss)))
    (local.set $d1 (v128.load (local.get $s)))
    (local.set $s (i32.add (local.get $s) (local.get $ss)))
    (local.set $d2 (v128.load (local.get $s)))
    (local.set $s (i32.add (local.get $s) (local.get $ss)))
    (local.set $d3 (v128.load (local.get $s)))
    (v128.store (local.get $d) (f32x4.sub (local.get $d0) (local.get $d2)))
    (local.set $d (i32.add (local.get $d) (local.get $ds)))
    (v128.store (local.get $d) (f32x4.add (local.get $d1) (local.get $d2)))
    (local.set $d (i32.add (local.get $d) (local.get $ds)))
    (v128.store (local.get $d) (f32x4.sub (local.get $d2) (local.get $d1)))
    (local.set $d (i32.add (local.get $d) (local.get $ds)))
    (v128.store (local.get $d) (f32x4.sub (local.get $d1) (local.get $d3))))

  ;; dst[k * ds] = (A^T m)_k for m_k = src[k * ss], k < 4 in, 2 out.
  (func $at4 (param $s i32) (param $ss i32) (param $d i32) (param $ds i32)
    (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $m3 v128)
    (local.set $m0 (v128.load (local.get $s)))
    (local.set $s (i32.add (local.get $s) (local.get $ss)))
    (local.set $m1 (v128.load (local.get $s)))
    (local.set $s (i32.add (local.get $s) (local.get $ss)))
    (local.set $m2 (v128.load (local.get $s)))
    (local.set $s (i32.add (local.get $s) (local.get $ss)))
    (local.set $m3 (v128.load (local.get $s)))
    (v128.store (local.get $d) (f32x4.add (f32x4.add (local.get $m0) (local.get $m1)) (local.get $m2)))
    (local.set $d (i32.add (local.get $d) (local.get $ds)))
    (v128.store (local.get $d) (f32x4.sub (f32x4.sub (local.get $m1) (local.get $m2)) (local.get $m3))))

  ;; input4's F(2,3) twin: 4x4 tiles, stride 2 (plane row stride pw >= 2 tw + 2 floats; dropped
  ;; lanes read up to 8 floats past the plane's rows). S: 512 bytes of scratch.
  (func (export "input2") (param $P i32) (param $pw i32) (param $th i32) (param $tw i32) (param $V i32) (param $ps i32) (param $S i32)
    (local $i i32) (local $j i32) (local $r i32) (local $y i32) (local $k i32) (local $n i32)
    (local $a0 v128) (local $a1 v128) (local $b0 v128) (local $b1 v128)
    (local $E i32) (local $out i32) (local $os i32)
    (local.set $E (i32.add (local.get $S) (i32.const 256)))
    (block $bi (loop $li
      (br_if $bi (i32.ge_u (local.get $i) (local.get $th)))
      (local.set $j (i32.const 0))
      (block $bj (loop $lj
        (br_if $bj (i32.ge_u (local.get $j) (local.get $tw)))
        ;; S[y][k] lane l = P[2i + y][2(j + l) + k]: even and odd lanes of two loads, twice.
        (local.set $r (i32.add (local.get $P)
          (i32.shl (i32.add (i32.mul (i32.shl (local.get $i) (i32.const 1)) (local.get $pw)) (i32.shl (local.get $j) (i32.const 1))) (i32.const 2))))
        (local.set $y (i32.const 0))
        (block $by (loop $ly
          (br_if $by (i32.ge_u (local.get $y) (i32.const 4)))
          (local.set $a0 (v128.load (local.get $r)))
          (local.set $a1 (v128.load offset=16 (local.get $r)))
          (local.set $b0 (v128.load offset=8 (local.get $r)))
          (local.set $b1 (v128.load offset=24 (local.get $r)))
          (local.set $k (i32.add (local.get $S) (i32.shl (local.get $y) (i32.const 6))))
          (v128.store (local.get $k) (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a0) (local.get $a1)))
          (v128.store offset=16 (local.get $k) (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a0) (local.get $a1)))
          (v128.store offset=32 (local.get $k) (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $b0) (local.get $b1)))
          (v128.store offset=48 (local.get $k) (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $b0) (local.get $b1)))
          (local.set $r (i32.add (local.get $r) (i32.shl (local.get $pw) (i32.const 2))))
          (local.set $y (i32.add (local.get $y) (i32.const 1)))
          (br $ly)))
        (local.set $k (i32.const 0))
        (block $bk (loop $lk
          (br_if $bk (i32.ge_u (local.get $k) (i32.const 4)))
          (call $bt4 (i32.add (local.get $S) (i32.shl (local.get $k) (i32.const 4))) (i32.const 64)
            (i32.add (local.get $S) (i32.shl (local.get $k) (i32.const 4))) (i32.const 64))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $lk)))
        (local.set $n (i32.sub (local.get $tw) (local.get $j)))
        (if (i32.gt_u (local.get $n) (i32.const 4)) (then (local.set $n (i32.const 4))))
        (if (i32.eq (local.get $n) (i32.const 4))
          (then
            (local.set $out (local.get $V))
            (local.set $os (local.get $ps)))
          (else
            (local.set $out (local.get $E))
            (local.set $os (i32.const 16))))
        (local.set $y (i32.const 0))
        (block $br (loop $lr
          (br_if $br (i32.ge_u (local.get $y) (i32.const 4)))
          (call $bt4 (i32.add (local.get $S) (i32.shl (local.get $y) (i32.const 6))) (i32.const 16)
            (i32.add (local.get $out) (i32.mul (local.get $y) (i32.shl (local.get $os) (i32.const 2)))) (local.get $os))
          (local.set $y (i32.add (local.get $y) (i32.const 1)))
          (br $lr)))
        (if (i32.lt_u (local.get $n) (i32.const 4))
          (then (call $lanes (local.get $E) (local.get $V) (local.get $ps) (i32.const 16) (local.get $n))))
        (local.set $V (i32.add (local.get $V) (i32.shl (local.get $n) (i32.const 2))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $lj)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $li))))

  ;; output4's F(2,3) twin: 2x2 output tiles. S: 256 bytes of scratch.
  (func (export "output2") (param $M i32) (param $ps i32) (param $th i32) (param $tw i32) (param $Y i32) (param $Ho i32) (param $Wo i32) (param $bias f32) (param $S i32)
    (local $i i32) (local $j i32) (local $k i32) (local $a i32) (local $n i32)
    (local $rows i32) (local $cols i32) (local $q i32) (local $src i32) (local $S2 i32)
    (local $o0 v128) (local $o1 v128) (local $vb v128)
    (local.set $vb (f32x4.splat (local.get $bias)))
    (local.set $S2 (i32.add (local.get $S) (i32.const 128)))
    (block $bi (loop $li
      (br_if $bi (i32.ge_u (local.get $i) (local.get $th)))
      (local.set $rows (i32.sub (local.get $Ho) (i32.shl (local.get $i) (i32.const 1))))
      (if (i32.gt_s (local.get $rows) (i32.const 2)) (then (local.set $rows (i32.const 2))))
      (local.set $j (i32.const 0))
      (block $bj (loop $lj
        (br_if $bj (i32.ge_u (local.get $j) (local.get $tw)))
        (local.set $k (i32.const 0))
        (block $bk (loop $lk
          (br_if $bk (i32.ge_u (local.get $k) (i32.const 4)))
          (call $at4 (i32.add (local.get $M) (i32.mul (local.get $k) (local.get $ps))) (i32.shl (local.get $ps) (i32.const 2))
            (i32.add (local.get $S) (i32.shl (local.get $k) (i32.const 4))) (i32.const 64))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $lk)))
        ;; Rows a of the four tiles, interleaved: S2[a] = output row a, columns 2j .. 2j + 7.
        (local.set $a (i32.const 0))
        (block $ba (loop $la
          (br_if $ba (i32.ge_u (local.get $a) (i32.const 2)))
          (call $at4 (i32.add (local.get $S) (i32.shl (local.get $a) (i32.const 6))) (i32.const 16) (local.get $S2) (i32.const 16))
          (local.set $o0 (f32x4.add (v128.load (local.get $S2)) (local.get $vb)))
          (local.set $o1 (f32x4.add (v128.load offset=16 (local.get $S2)) (local.get $vb)))
          (local.set $q (i32.add (local.get $S2) (i32.add (i32.const 32) (i32.shl (local.get $a) (i32.const 5)))))
          (v128.store (local.get $q) (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $o0) (local.get $o1)))
          (v128.store offset=16 (local.get $q) (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $o0) (local.get $o1)))
          (local.set $a (i32.add (local.get $a) (i32.const 1)))
          (br $la)))
        (local.set $n (i32.sub (local.get $tw) (local.get $j)))
        (if (i32.gt_s (local.get $n) (i32.const 4)) (then (local.set $n (i32.const 4))))
        (local.set $cols (i32.sub (local.get $Wo) (i32.shl (local.get $j) (i32.const 1))))
        (local.set $a (i32.const 0))
        (block $bs (loop $ls
          (br_if $bs (i32.ge_u (local.get $a) (local.get $rows)))
          (local.set $q (i32.add (local.get $Y) (i32.shl
            (i32.add (i32.mul (i32.add (i32.shl (local.get $i) (i32.const 1)) (local.get $a)) (local.get $Wo)) (i32.shl (local.get $j) (i32.const 1)))
            (i32.const 2))))
          (local.set $src (i32.add (local.get $S2) (i32.add (i32.const 32) (i32.shl (local.get $a) (i32.const 5)))))
          (if (i32.ge_s (local.get $cols) (i32.const 8))
            (then
              (v128.store (local.get $q) (v128.load (local.get $src)))
              (v128.store offset=16 (local.get $q) (v128.load offset=16 (local.get $src))))
            (else (call $copy (local.get $src) (local.get $q) (local.get $cols))))
          (local.set $a (i32.add (local.get $a) (i32.const 1)))
          (br $ls)))
        (local.set $M (i32.add (local.get $M) (i32.shl (local.get $n) (i32.const 2))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $lj)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $li))))

  ;; Copies the H x W plane at src into the plane at dst (row stride pw floats) at row padH,
  ;; column padW; the rest of dst keeps its zeros.
  (func (export "pad") (param $src i32) (param $H i32) (param $W i32) (param $dst i32) (param $pw i32) (param $padH i32) (param $padW i32)
    (local $y i32) (local $x i32) (local $row i32) (local $w4 i32)
    (local.set $w4 (i32.and (local.get $W) (i32.const -4)))
    (local.set $dst (i32.add (local.get $dst)
      (i32.shl (i32.add (i32.mul (local.get $padH) (local.get $pw)) (local.get $padW)) (i32.const 2))))
    (local.set $pw (i32.shl (local.get $pw) (i32.const 2)))
    (block $by (loop $ly
      (br_if $by (i32.ge_u (local.get $y) (local.get $H)))
      (local.set $x (i32.const 0))
      (block $b4 (loop $l4
        (br_if $b4 (i32.ge_u (local.get $x) (local.get $w4)))
        (local.set $row (i32.shl (local.get $x) (i32.const 2)))
        (v128.store (i32.add (local.get $dst) (local.get $row)) (v128.load (i32.add (local.get $src) (local.get $row))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (br $l4)))
      (block $b1 (loop $l1
        (br_if $b1 (i32.ge_u (local.get $x) (local.get $W)))
        (local.set $row (i32.shl (local.get $x) (i32.const 2)))
        (f32.store (i32.add (local.get $dst) (local.get $row)) (f32.load (i32.add (local.get $src) (local.get $row))))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (br $l1)))
      (local.set $src (i32.add (local.get $src) (i32.shl (local.get $W) (i32.const 2))))
      (local.set $dst (i32.add (local.get $dst) (local.get $pw)))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $ly))))

  ;; V[p * ps + 4 t] = (B^T d B)_p for every 6x6 tile t (stride 4) of the padded plane P (row
  ;; stride pw floats, at least 4 tw + 2), tiles numbered row-major from V's address. Lanes past
  ;; the row's last tile read up to 16 floats past the plane's rows (the caller leaves room) and
  ;; are dropped. S: 1152 bytes of scratch.
  (func (export "input4") (param $P i32) (param $pw i32) (param $th i32) (param $tw i32) (param $V i32) (param $ps i32) (param $S i32)
    (local $i i32) (local $j i32) (local $r i32) (local $y i32) (local $k i32) (local $n i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $a4 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local $E i32) (local $out i32) (local $os i32)
    (local.set $E (i32.add (local.get $S) (i32.const 576)))
    (block $bi (loop $li
      (br_if $bi (i32.ge_u (local.get $i) (local.get $th)))
      (local.set $j (i32.const 0))
      (block $bj (loop $lj
        (br_if $bj (i32.ge_u (local.get $j) (local.get $tw)))
        ;; Rows y of the four patches, transposed: S[y][k] lane l = P[4i + y][4(j + l) + k].
        (local.set $r (i32.add (local.get $P)
          (i32.shl (i32.add (i32.mul (i32.shl (local.get $i) (i32.const 2)) (local.get $pw)) (i32.shl (local.get $j) (i32.const 2))) (i32.const 2))))
        (local.set $y (i32.const 0))
        (block $by (loop $ly
          (br_if $by (i32.ge_u (local.get $y) (i32.const 6)))
          (local.set $a0 (v128.load (local.get $r)))
          (local.set $a1 (v128.load offset=16 (local.get $r)))
          (local.set $a2 (v128.load offset=32 (local.get $r)))
          (local.set $a3 (v128.load offset=48 (local.get $r)))
          (local.set $a4 (v128.load offset=64 (local.get $r)))
          (local.set $k (i32.add (local.get $S) (i32.mul (local.get $y) (i32.const 96))))
          (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a0) (local.get $a1)))
          (local.set $t1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a2) (local.get $a3)))
          (local.set $t2 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a0) (local.get $a1)))
          (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a2) (local.get $a3)))
          (v128.store (local.get $k) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t1)))
          (v128.store offset=16 (local.get $k) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t1)))
          (v128.store offset=32 (local.get $k) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t2) (local.get $t3)))
          (v128.store offset=48 (local.get $k) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t2) (local.get $t3)))
          ;; Columns 4 and 5: lanes 0 and 1 of a1..a4.
          (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a1) (local.get $a2)))
          (local.set $t1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a3) (local.get $a4)))
          (v128.store offset=64 (local.get $k) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t1)))
          (v128.store offset=80 (local.get $k) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t1)))
          (local.set $r (i32.add (local.get $r) (i32.shl (local.get $pw) (i32.const 2))))
          (local.set $y (i32.add (local.get $y) (i32.const 1)))
          (br $ly)))
        ;; B^T down the columns, in place ...
        (local.set $k (i32.const 0))
        (block $bk (loop $lk
          (br_if $bk (i32.ge_u (local.get $k) (i32.const 6)))
          (call $bt6 (i32.add (local.get $S) (i32.shl (local.get $k) (i32.const 4))) (i32.const 96)
            (i32.add (local.get $S) (i32.shl (local.get $k) (i32.const 4))) (i32.const 96))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $lk)))
        ;; ... then B along the rows, into V (4 whole tiles) or the scratch E (the row's last few).
        (local.set $n (i32.sub (local.get $tw) (local.get $j)))
        (if (i32.gt_u (local.get $n) (i32.const 4)) (then (local.set $n (i32.const 4))))
        (if (i32.eq (local.get $n) (i32.const 4))
          (then
            (local.set $out (local.get $V))
            (local.set $os (local.get $ps)))
          (else
            (local.set $out (local.get $E))
            (local.set $os (i32.const 16))))
        (local.set $y (i32.const 0))
        (block $br (loop $lr
          (br_if $br (i32.ge_u (local.get $y) (i32.const 6)))
          (call $bt6 (i32.add (local.get $S) (i32.mul (local.get $y) (i32.const 96))) (i32.const 16)
            (i32.add (local.get $out) (i32.mul (local.get $y) (i32.mul (local.get $os) (i32.const 6)))) (local.get $os))
          (local.set $y (i32.add (local.get $y) (i32.const 1)))
          (br $lr)))
        (if (i32.lt_u (local.get $n) (i32.const 4))
          (then (call $lanes (local.get $E) (local.get $V) (local.get $ps) (i32.const 36) (local.get $n))))
        (local.set $V (i32.add (local.get $V) (i32.shl (local.get $n) (i32.const 2))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $lj)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $li))))

  ;; y[(4i + a) Wo + 4j + b] = (A^T M A)_ab + bias for every tile (i, j) of th x tw, clipped to
  ;; Ho x Wo; M[p * ps + 4 t] holds position p of tile t (row-major from M's address; lanes past
  ;; the last tile read up to 3 floats past the last plane, and are dropped). S: 704 bytes of scratch.
  (func (export "output4") (param $M i32) (param $ps i32) (param $th i32) (param $tw i32) (param $Y i32) (param $Ho i32) (param $Wo i32) (param $bias f32) (param $S i32)
    (local $i i32) (local $j i32) (local $k i32) (local $a i32) (local $n i32)
    (local $rows i32) (local $cols i32) (local $q i32) (local $src i32) (local $S2 i32)
    (local $o0 v128) (local $o1 v128) (local $o2 v128) (local $o3 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local $vb v128)
    (local.set $vb (f32x4.splat (local.get $bias)))
    (local.set $S2 (i32.add (local.get $S) (i32.const 384)))
    (block $bi (loop $li
      (br_if $bi (i32.ge_u (local.get $i) (local.get $th)))
      (local.set $rows (i32.sub (local.get $Ho) (i32.shl (local.get $i) (i32.const 2))))
      (if (i32.gt_s (local.get $rows) (i32.const 4)) (then (local.set $rows (i32.const 4))))
      (local.set $j (i32.const 0))
      (block $bj (loop $lj
        (br_if $bj (i32.ge_u (local.get $j) (local.get $tw)))
        ;; A^T down the columns: S[a][k] = sum over rows of M[6 r + k] ...
        (local.set $k (i32.const 0))
        (block $bk (loop $lk
          (br_if $bk (i32.ge_u (local.get $k) (i32.const 6)))
          (call $at6 (i32.add (local.get $M) (i32.mul (local.get $k) (local.get $ps))) (i32.mul (local.get $ps) (i32.const 6))
            (i32.add (local.get $S) (i32.shl (local.get $k) (i32.const 4))) (i32.const 96))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $lk)))
        ;; ... A along the rows, + bias, transposed so that S2[a][l] = output row a of tile j + l.
        (local.set $a (i32.const 0))
        (block $ba (loop $la
          (br_if $ba (i32.ge_u (local.get $a) (i32.const 4)))
          (call $at6 (i32.add (local.get $S) (i32.mul (local.get $a) (i32.const 96))) (i32.const 16) (local.get $S2) (i32.const 16))
          (local.set $o0 (f32x4.add (v128.load (local.get $S2)) (local.get $vb)))
          (local.set $o1 (f32x4.add (v128.load offset=16 (local.get $S2)) (local.get $vb)))
          (local.set $o2 (f32x4.add (v128.load offset=32 (local.get $S2)) (local.get $vb)))
          (local.set $o3 (f32x4.add (v128.load offset=48 (local.get $S2)) (local.get $vb)))
          (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $o0) (local.get $o1)))
          (local.set $t1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $o2) (local.get $o3)))
          (local.set $t2 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $o0) (local.get $o1)))
          (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $o2) (local.get $o3)))
          (local.set $q (i32.add (local.get $S2) (i32.add (i32.const 64) (i32.shl (local.get $a) (i32.const 6)))))
          (v128.store (local.get $q) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t1)))
          (v128.store offset=16 (local.get $q) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t1)))
          (v128.store offset=32 (local.get $q) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t2) (local.get $t3)))
          (v128.store offset=48 (local.get $q) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t2) (local.get $t3)))
          (local.set $a (i32.add (local.get $a) (i32.const 1)))
          (br $la)))
        ;; Store: whole rows of 4 tiles when they fit, else clipped element by element.
        (local.set $n (i32.sub (local.get $tw) (local.get $j)))
        (if (i32.gt_s (local.get $n) (i32.const 4)) (then (local.set $n (i32.const 4))))
        (local.set $cols (i32.sub (local.get $Wo) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $a (i32.const 0))
        (block $bs (loop $ls
          (br_if $bs (i32.ge_u (local.get $a) (local.get $rows)))
          (local.set $q (i32.add (local.get $Y) (i32.shl
            (i32.add (i32.mul (i32.add (i32.shl (local.get $i) (i32.const 2)) (local.get $a)) (local.get $Wo)) (i32.shl (local.get $j) (i32.const 2)))
            (i32.const 2))))
          (local.set $src (i32.add (local.get $S2) (i32.add (i32.const 64) (i32.shl (local.get $a) (i32.const 6)))))
          (if (i32.ge_s (local.get $cols) (i32.const 16))
            (then
              (v128.store (local.get $q) (v128.load (local.get $src)))
              (v128.store offset=16 (local.get $q) (v128.load offset=16 (local.get $src)))
              (v128.store offset=32 (local.get $q) (v128.load offset=32 (local.get $src)))
              (v128.store offset=48 (local.get $q) (v128.load offset=48 (local.get $src))))
            (else (call $copy (local.get $src) (local.get $q) (local.get $cols))))
          (local.set $a (i32.add (local.get $a) (i32.const 1)))
          (br $ls)))
        (local.set $M (i32.add (local.get $M) (i32.shl (local.get $n) (i32.const 2))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $lj)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $li))))
)
