;; Depthwise 2-D convolution forward (one filter per channel: Convolution with group == channels
;; == num_output), WebAssembly SIMD (f32x4), for src/kernels/depthwise.ts.
;; Assembled by scripts/build-wasm.mjs (wabt) into depthwise.wasm next to this file.
;;
;; Why: Caffe runs such a layer as one M = 1, K = kH * kW GEMM per channel over im2col's columns,
;; which is all overhead (MobileNets spend half their forward there). Here each channel plane is
;; copied once into a zero-padded scratch, so the loops below read every tap without a bounds
;; check, and four adjacent outputs of a row are computed per f32x4: the 3x3 kernels with stride
;; 1 and 2 (MobileNet's) are unrolled with their 9 weights in registers, stride 2 picking the even
;; and odd input columns with shuffles, two output rows at a time (they share input rows); every
;; other geometry takes a generic row loop.
;;
;; Each output sums its taps as im2col + GEMM orders them (ky, then kx, ascending), each product
;; rounded to float32 and then added (no fused multiply-add); padding taps multiply a 0, as GEMM
;; multiplies im2col's zeros. The layer's epilogue (bias, or folded BatchNorm/Scale and ReLU) is
;; applied as each vector is stored, instead of in another pass over the output. depthwise.ts's
;; JS loop computes the same float32 operations, so both give the same bits. All pointers are
;; byte addresses.
(module
  ;; Imported, so that depthwise.ts can instantiate the module on the GEMM worker pool's shared
  ;; memory too (each thread a chunk of channels); alone it gets an unshared memory of its own.
  (import "env" "memory" (memory 1 65536 shared))

  ;; The padded plane both directions lay out (depthwise.ts reserves the same): Wp x Hp floats
  ;; holding every row and column any tap of any output reads, with the outputs rounded up to
  ;; whole vectors, + 4 floats of slack per row; globals, set by $geometry.
  (global $n4 (mut i32) (i32.const 0))
  (global $Wp (mut i32) (i32.const 0))
  (global $Hp (mut i32) (i32.const 0))
  (global $nrows (mut i32) (i32.const 0))
  (global $ncols (mut i32) (i32.const 0))

  ;; Sets the globals; nrows x ncols: the input rows and columns that land inside the padded plane
  ;; (those past it are never read).
  (func $geometry (param $H i32) (param $W i32) (param $kH i32) (param $kW i32) (param $sH i32) (param $sW i32)
    (param $padH i32) (param $padW i32) (param $dH i32) (param $dW i32) (param $Ho i32) (param $Wo i32)
    (local $v i32)
    (global.set $n4 (i32.shr_u (i32.add (local.get $Wo) (i32.const 3)) (i32.const 2)))
    (global.set $Wp (i32.add (i32.add (i32.mul (i32.shl (global.get $n4) (i32.const 2)) (local.get $sW))
      (i32.mul (i32.sub (local.get $kW) (i32.const 1)) (local.get $dW))) (i32.const 4)))
    (global.set $Hp (i32.add (i32.add (i32.mul (i32.sub (local.get $Ho) (i32.const 1)) (local.get $sH))
      (i32.mul (i32.sub (local.get $kH) (i32.const 1)) (local.get $dH))) (i32.const 1)))
    (local.set $v (i32.sub (global.get $Hp) (local.get $padH)))
    (if (i32.gt_s (local.get $v) (local.get $H)) (then (local.set $v (local.get $H))))
    (if (i32.lt_s (local.get $v) (i32.const 0)) (then (local.set $v (i32.const 0))))
    (global.set $nrows (local.get $v))
    (local.set $v (i32.sub (global.get $Wp) (local.get $padW)))
    (if (i32.gt_s (local.get $v) (local.get $W)) (then (local.set $v (local.get $W))))
    (if (i32.lt_s (local.get $v) (i32.const 0)) (then (local.set $v (i32.const 0))))
    (global.set $ncols (local.get $v)))

  ;; Copies the nrows x ncols corner of the W-wide plane at src to the padded plane at pPad, whose
  ;; padding is already zero, or back (toPad 0); back, the rest of the plane's rows is zeroed.
  (func $planeCopy (param $src i32) (param $W i32) (param $H i32) (param $pPad i32) (param $padH i32) (param $padW i32) (param $toPad i32)
    (local $r i32) (local $dst i32) (local $rb i32)
    (local.set $rb (i32.shl (global.get $Wp) (i32.const 2)))
    (local.set $dst (i32.add (local.get $pPad)
      (i32.shl (i32.add (i32.mul (local.get $padH) (global.get $Wp)) (local.get $padW)) (i32.const 2))))
    (block $rd (loop $rl
      (br_if $rd (i32.ge_s (local.get $r) (local.get $H)))
      (if (i32.lt_s (local.get $r) (global.get $nrows))
        (then (if (local.get $toPad)
          (then (memory.copy (local.get $dst) (local.get $src) (i32.shl (global.get $ncols) (i32.const 2))))
          (else
            (memory.copy (local.get $src) (local.get $dst) (i32.shl (global.get $ncols) (i32.const 2)))
            (memory.fill (i32.add (local.get $src) (i32.shl (global.get $ncols) (i32.const 2))) (i32.const 0)
              (i32.shl (i32.sub (local.get $W) (global.get $ncols)) (i32.const 2))))))
        (else (if (i32.eqz (local.get $toPad))
          (then (memory.fill (local.get $src) (i32.const 0) (i32.shl (local.get $W) (i32.const 2)))))))
      (local.set $dst (i32.add (local.get $dst) (local.get $rb)))
      (local.set $src (i32.add (local.get $src) (i32.shl (local.get $W) (i32.const 2))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl))))

  ;; C channel planes H x W at pIn -> C planes Ho x Wo at pOut, weights C x kH x kW at pW; the
  ;; epilogue of channel c on each output, by flags: 2, v = v * a[c]; 1, v = v + b[c]; 4, ReLU
  ;; (slope 0: v > 0 ? v : 0 * v, so NaN stays NaN and negatives become -0), each rounded to
  ;; float32, in that order (a and b: C floats at pA, pB): a conv's bias, or its folded
  ;; BatchNorm/Scale/ReLU, with the bits of rows.ts's maps run after it. pPad: scratch for one
  ;; padded plane + 16 bytes. Nothing past a row's last output is written (a partial last vector is
  ;; stored lane by lane), so the output may be a blob among others.
  (func (export "depthwise")
    (param $pIn i32) (param $pOut i32) (param $pW i32) (param $pA i32) (param $pB i32) (param $flags i32)
    (param $C i32) (param $H i32) (param $W i32) (param $kH i32) (param $kW i32)
    (param $sH i32) (param $sW i32) (param $padH i32) (param $padW i32) (param $dH i32) (param $dW i32)
    (param $Ho i32) (param $Wo i32) (param $pPad i32)
    (local $rb i32) (local $kind i32) (local $c i32)
    (local $out i32) (local $pw i32) (local $va v128) (local $vb v128)
    (call $geometry (local.get $H) (local.get $W) (local.get $kH) (local.get $kW) (local.get $sH) (local.get $sW)
      (local.get $padH) (local.get $padW) (local.get $dH) (local.get $dW) (local.get $Ho) (local.get $Wo))
    (local.set $rb (i32.shl (global.get $Wp) (i32.const 2)))
    (memory.fill (local.get $pPad) (i32.const 0) (i32.add (i32.mul (global.get $Hp) (local.get $rb)) (i32.const 16)))
    (if (i32.and (i32.and (i32.eq (local.get $kH) (i32.const 3)) (i32.eq (local.get $kW) (i32.const 3)))
                 (i32.and (i32.eq (local.get $dH) (i32.const 1)) (i32.eq (local.get $dW) (i32.const 1))))
      (then (local.set $kind (local.get $sW))))
    (local.set $out (local.get $pOut))
    (block $cd (loop $cl
      (br_if $cd (i32.ge_u (local.get $c) (local.get $C)))
      (call $planeCopy (i32.add (local.get $pIn) (i32.shl (i32.mul (local.get $c) (i32.mul (local.get $H) (local.get $W))) (i32.const 2)))
        (local.get $W) (local.get $H) (local.get $pPad) (local.get $padH) (local.get $padW) (i32.const 1))
      (local.set $pw (i32.add (local.get $pW) (i32.shl (i32.mul (local.get $c) (i32.mul (local.get $kH) (local.get $kW))) (i32.const 2))))
      (if (i32.and (local.get $flags) (i32.const 2))
        (then (local.set $va (v128.load32_splat (i32.add (local.get $pA) (i32.shl (local.get $c) (i32.const 2)))))))
      (if (i32.and (local.get $flags) (i32.const 1))
        (then (local.set $vb (v128.load32_splat (i32.add (local.get $pB) (i32.shl (local.get $c) (i32.const 2)))))))
      (if (i32.eq (local.get $kind) (i32.const 1))
        (then (call $plane3s1 (local.get $pPad) (local.get $rb) (local.get $out) (local.get $Ho) (local.get $Wo) (local.get $sH)
          (local.get $pw) (local.get $flags) (local.get $va) (local.get $vb)))
        (else (if (i32.eq (local.get $kind) (i32.const 2))
          (then (call $plane3s2 (local.get $pPad) (local.get $rb) (local.get $out) (local.get $Ho) (local.get $Wo) (local.get $sH)
            (local.get $pw) (local.get $flags) (local.get $va) (local.get $vb)))
          (else (call $plane (local.get $pPad) (local.get $rb) (local.get $out) (local.get $Ho) (local.get $Wo) (local.get $sH)
            (local.get $pw) (local.get $flags) (local.get $va) (local.get $vb)
            (local.get $kH) (local.get $kW) (local.get $sW) (local.get $dH) (local.get $dW))))))
      (local.set $out (i32.add (local.get $out) (i32.shl (i32.mul (local.get $Ho) (local.get $Wo)) (i32.const 2))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $cl))))

  ;; The last (Wo % 4) outputs of a row at o, from the lanes of v: only those are stored.
  (func $tail (param $o i32) (param $v v128) (param $n i32)
    (v128.store32_lane 0 (local.get $o) (local.get $v))
    (if (i32.gt_u (local.get $n) (i32.const 1)) (then (v128.store32_lane offset=4 1 (local.get $o) (local.get $v))))
    (if (i32.gt_u (local.get $n) (i32.const 2)) (then (v128.store32_lane offset=8 2 (local.get $o) (local.get $v)))))

  ;; Each plane function below computes one channel's Ho x Wo outputs at o from its padded plane
  ;; at p (rb bytes a row; output row y reads from row y * sH), weights at pw: each row 4 outputs
  ;; per vector (ceil(Wo / 4) of them), each vector stored with the epilogue (flags, va, vb: see
  ;; "depthwise"), which is written out in each, not called, as it runs once per vector. The
  ;; weights are splatted once per plane: with 7 x 7 planes that was as much work as the taps.

  ;; 3x3 taps, stride 1, dilation 1: output row y from the padded rows at r, r + rb, r + 2 rb.
  (func $plane3s1 (param $p i32) (param $rb i32) (param $o i32) (param $Ho i32) (param $Wo i32) (param $sH i32) (param $pw i32)
    (param $flags i32) (param $va v128) (param $vb v128)
    (local $y i32) (local $r i32) (local $e i32) (local $full i32) (local $q i32) (local $o2 i32) (local $acc v128) (local $acc2 v128)
    (local $a v128) (local $b v128) (local $c v128)
    (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128) (local $w4 v128)
    (local $w5 v128) (local $w6 v128) (local $w7 v128) (local $w8 v128)
    (local.set $w0 (f32x4.splat (f32.load offset=0 (local.get $pw))))
    (local.set $w1 (f32x4.splat (f32.load offset=4 (local.get $pw))))
    (local.set $w2 (f32x4.splat (f32.load offset=8 (local.get $pw))))
    (local.set $w3 (f32x4.splat (f32.load offset=12 (local.get $pw))))
    (local.set $w4 (f32x4.splat (f32.load offset=16 (local.get $pw))))
    (local.set $w5 (f32x4.splat (f32.load offset=20 (local.get $pw))))
    (local.set $w6 (f32x4.splat (f32.load offset=24 (local.get $pw))))
    (local.set $w7 (f32x4.splat (f32.load offset=28 (local.get $pw))))
    (local.set $w8 (f32x4.splat (f32.load offset=32 (local.get $pw))))
    (local.set $y (i32.const 0))
    ;; Stride 1 down the plane: two output rows at a time, which share two of their input rows
    ;; (12 loads for 2 vectors instead of 18, and two independent sums in flight).
    (local.set $o2 (i32.shl (local.get $Wo) (i32.const 2)))
    (if (i32.eq (local.get $sH) (i32.const 1)) (then
      (block $pairsDone (loop $pairs
        (br_if $pairsDone (i32.gt_u (i32.add (local.get $y) (i32.const 2)) (local.get $Ho)))
        (local.set $r (local.get $p))
        (local.set $full (i32.add (local.get $o) (i32.shl (i32.and (local.get $Wo) (i32.const -4)) (i32.const 2))))
        (local.set $e (i32.add (local.get $o) (local.get $o2)))
        (block $d (loop $l
          (br_if $d (i32.ge_u (local.get $o) (local.get $e)))
          (local.set $a (v128.load (local.get $r)))
          (local.set $b (v128.load offset=4 (local.get $r)))
          (local.set $c (v128.load offset=8 (local.get $r)))
          (local.set $acc (f32x4.mul (local.get $a) (local.get $w0)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $b) (local.get $w1))))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $c) (local.get $w2))))
          (local.set $q (i32.add (local.get $r) (local.get $rb)))
          (local.set $a (v128.load (local.get $q)))
          (local.set $b (v128.load offset=4 (local.get $q)))
          (local.set $c (v128.load offset=8 (local.get $q)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $a) (local.get $w3))))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $b) (local.get $w4))))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $c) (local.get $w5))))
          (local.set $acc2 (f32x4.mul (local.get $a) (local.get $w0)))
          (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul (local.get $b) (local.get $w1))))
          (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul (local.get $c) (local.get $w2))))
          (local.set $q (i32.add (local.get $q) (local.get $rb)))
          (local.set $a (v128.load (local.get $q)))
          (local.set $b (v128.load offset=4 (local.get $q)))
          (local.set $c (v128.load offset=8 (local.get $q)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $a) (local.get $w6))))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $b) (local.get $w7))))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $c) (local.get $w8))))
          (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul (local.get $a) (local.get $w3))))
          (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul (local.get $b) (local.get $w4))))
          (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul (local.get $c) (local.get $w5))))
          (local.set $q (i32.add (local.get $q) (local.get $rb)))
          (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul (v128.load (local.get $q)) (local.get $w6))))
          (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul (v128.load offset=4 (local.get $q)) (local.get $w7))))
          (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul (v128.load offset=8 (local.get $q)) (local.get $w8))))
          ;; epilogue
          (if (i32.and (local.get $flags) (i32.const 2)) (then
            (local.set $acc (f32x4.mul (local.get $acc) (local.get $va)))
            (local.set $acc2 (f32x4.mul (local.get $acc2) (local.get $va)))))
          (if (i32.and (local.get $flags) (i32.const 1)) (then
            (local.set $acc (f32x4.add (local.get $acc) (local.get $vb)))
            (local.set $acc2 (f32x4.add (local.get $acc2) (local.get $vb)))))
          (if (i32.and (local.get $flags) (i32.const 4)) (then
            (local.set $acc (v128.bitselect (local.get $acc)
              (f32x4.mul (local.get $acc) (v128.const i32x4 0 0 0 0)) (f32x4.gt (local.get $acc) (v128.const i32x4 0 0 0 0))))
            (local.set $acc2 (v128.bitselect (local.get $acc2)
              (f32x4.mul (local.get $acc2) (v128.const i32x4 0 0 0 0)) (f32x4.gt (local.get $acc2) (v128.const i32x4 0 0 0 0))))))
          (if (i32.lt_u (local.get $o) (local.get $full))
            (then
              (v128.store (local.get $o) (local.get $acc))
              (v128.store (i32.add (local.get $o) (local.get $o2)) (local.get $acc2)))
            (else
              (call $tail (local.get $o) (local.get $acc) (i32.shr_u (i32.sub (local.get $e) (local.get $o)) (i32.const 2)))
              (call $tail (i32.add (local.get $o) (local.get $o2)) (local.get $acc2) (i32.shr_u (i32.sub (local.get $e) (local.get $o)) (i32.const 2)))))
          (local.set $o (i32.add (local.get $o) (i32.const 16)))
          (local.set $r (i32.add (local.get $r) (i32.const 16)))
          (br $l)))
        (local.set $o (i32.add (local.get $e) (local.get $o2)))
        (local.set $p (i32.add (local.get $p) (i32.shl (local.get $rb) (i32.const 1))))
        (local.set $y (i32.add (local.get $y) (i32.const 2)))
        (br $pairs)))))
    ;; The other rows one at a time.
    (block $rowsDone (loop $rows
      (br_if $rowsDone (i32.ge_u (local.get $y) (local.get $Ho)))
      (local.set $r (local.get $p))
      (local.set $full (i32.add (local.get $o) (i32.shl (i32.and (local.get $Wo) (i32.const -4)) (i32.const 2))))
      (local.set $e (i32.add (local.get $o) (i32.shl (local.get $Wo) (i32.const 2))))
      (block $d (loop $l
        (br_if $d (i32.ge_u (local.get $o) (local.get $e)))
        (local.set $acc (f32x4.mul (v128.load (local.get $r)) (local.get $w0)))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load offset=4 (local.get $r)) (local.get $w1))))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load offset=8 (local.get $r)) (local.get $w2))))
        (local.set $q (i32.add (local.get $r) (local.get $rb)))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (local.get $q)) (local.get $w3))))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load offset=4 (local.get $q)) (local.get $w4))))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load offset=8 (local.get $q)) (local.get $w5))))
        (local.set $q (i32.add (local.get $q) (local.get $rb)))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (local.get $q)) (local.get $w6))))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load offset=4 (local.get $q)) (local.get $w7))))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load offset=8 (local.get $q)) (local.get $w8))))
        ;; epilogue
        (if (i32.and (local.get $flags) (i32.const 2)) (then (local.set $acc (f32x4.mul (local.get $acc) (local.get $va)))))
        (if (i32.and (local.get $flags) (i32.const 1)) (then (local.set $acc (f32x4.add (local.get $acc) (local.get $vb)))))
        (if (i32.and (local.get $flags) (i32.const 4)) (then (local.set $acc (v128.bitselect (local.get $acc)
          (f32x4.mul (local.get $acc) (v128.const i32x4 0 0 0 0)) (f32x4.gt (local.get $acc) (v128.const i32x4 0 0 0 0))))))
        (if (i32.lt_u (local.get $o) (local.get $full))
          (then (v128.store (local.get $o) (local.get $acc)))
          (else (call $tail (local.get $o) (local.get $acc) (i32.shr_u (i32.sub (local.get $e) (local.get $o)) (i32.const 2)))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (local.set $r (i32.add (local.get $r) (i32.const 16)))
        (br $l)))
      ;; (o is past e after a partial last vector)
      (local.set $o (local.get $e))
      (local.set $p (i32.add (local.get $p) (i32.mul (local.get $sH) (local.get $rb))))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $rows))))

  ;; Stride 2: the 4 outputs of a vector read padded columns 2x .. 2x + 8 of each row: from the
  ;; loads a (2x..), b (2x+4..), c (2x+8..), tap 0 takes the even lanes of a:b, tap 1 the odd
  ;; ones, tap 2 the even lanes shifted by one with c's first.
  (func $plane3s2 (param $p i32) (param $rb i32) (param $o i32) (param $Ho i32) (param $Wo i32) (param $sH i32) (param $pw i32)
    (param $flags i32) (param $va v128) (param $vb v128)
    (local $y i32) (local $r i32) (local $e i32) (local $full i32) (local $q i32) (local $o2 i32)
    (local $acc v128) (local $acc2 v128) (local $a v128) (local $bb v128) (local $ev v128) (local $t1 v128) (local $t2 v128)
    (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128) (local $w4 v128)
    (local $w5 v128) (local $w6 v128) (local $w7 v128) (local $w8 v128)
    (local.set $w0 (f32x4.splat (f32.load offset=0 (local.get $pw))))
    (local.set $w1 (f32x4.splat (f32.load offset=4 (local.get $pw))))
    (local.set $w2 (f32x4.splat (f32.load offset=8 (local.get $pw))))
    (local.set $w3 (f32x4.splat (f32.load offset=12 (local.get $pw))))
    (local.set $w4 (f32x4.splat (f32.load offset=16 (local.get $pw))))
    (local.set $w5 (f32x4.splat (f32.load offset=20 (local.get $pw))))
    (local.set $w6 (f32x4.splat (f32.load offset=24 (local.get $pw))))
    (local.set $w7 (f32x4.splat (f32.load offset=28 (local.get $pw))))
    (local.set $w8 (f32x4.splat (f32.load offset=32 (local.get $pw))))
    (local.set $y (i32.const 0))
    ;; Stride 2 down the plane: two output rows at a time, which share one input row.
    (local.set $o2 (i32.shl (local.get $Wo) (i32.const 2)))
    (if (i32.eq (local.get $sH) (i32.const 2)) (then
      (block $pairsDone (loop $pairs
        (br_if $pairsDone (i32.gt_u (i32.add (local.get $y) (i32.const 2)) (local.get $Ho)))
        (local.set $r (local.get $p))
        (local.set $full (i32.add (local.get $o) (i32.shl (i32.and (local.get $Wo) (i32.const -4)) (i32.const 2))))
        (local.set $e (i32.add (local.get $o) (local.get $o2)))
        (block $d (loop $l
          (br_if $d (i32.ge_u (local.get $o) (local.get $e)))
          (local.set $a (v128.load (local.get $r)))
          (local.set $bb (v128.load offset=16 (local.get $r)))
          (local.set $ev (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a) (local.get $bb)))
          (local.set $acc (f32x4.mul (local.get $ev) (local.get $w0)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
            (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a) (local.get $bb)) (local.get $w1))))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
            (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 (local.get $ev) (v128.load offset=32 (local.get $r))) (local.get $w2))))
          (local.set $q (i32.add (local.get $r) (local.get $rb)))
          (local.set $a (v128.load (local.get $q)))
          (local.set $bb (v128.load offset=16 (local.get $q)))
          (local.set $ev (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a) (local.get $bb)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $ev) (local.get $w3))))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
            (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a) (local.get $bb)) (local.get $w4))))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
            (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 (local.get $ev) (v128.load offset=32 (local.get $q))) (local.get $w5))))
          (local.set $q (i32.add (local.get $q) (local.get $rb)))
          ;; row 2 of the first output row, row 0 of the second: its three tap vectors once
          (local.set $a (v128.load (local.get $q)))
          (local.set $bb (v128.load offset=16 (local.get $q)))
          (local.set $ev (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a) (local.get $bb)))
          (local.set $t1 (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a) (local.get $bb)))
          (local.set $t2 (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 (local.get $ev) (v128.load offset=32 (local.get $q))))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $ev) (local.get $w6))))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $t1) (local.get $w7))))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $t2) (local.get $w8))))
          (local.set $acc2 (f32x4.mul (local.get $ev) (local.get $w0)))
          (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul (local.get $t1) (local.get $w1))))
          (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul (local.get $t2) (local.get $w2))))
          (local.set $q (i32.add (local.get $q) (local.get $rb)))
          (local.set $a (v128.load (local.get $q)))
          (local.set $bb (v128.load offset=16 (local.get $q)))
          (local.set $ev (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a) (local.get $bb)))
          (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul (local.get $ev) (local.get $w3))))
          (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul
            (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a) (local.get $bb)) (local.get $w4))))
          (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul
            (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 (local.get $ev) (v128.load offset=32 (local.get $q))) (local.get $w5))))
          (local.set $q (i32.add (local.get $q) (local.get $rb)))
          (local.set $a (v128.load (local.get $q)))
          (local.set $bb (v128.load offset=16 (local.get $q)))
          (local.set $ev (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a) (local.get $bb)))
          (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul (local.get $ev) (local.get $w6))))
          (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul
            (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a) (local.get $bb)) (local.get $w7))))
          (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul
            (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 (local.get $ev) (v128.load offset=32 (local.get $q))) (local.get $w8))))
          ;; epilogue
          (if (i32.and (local.get $flags) (i32.const 2)) (then
            (local.set $acc (f32x4.mul (local.get $acc) (local.get $va)))
            (local.set $acc2 (f32x4.mul (local.get $acc2) (local.get $va)))))
          (if (i32.and (local.get $flags) (i32.const 1)) (then
            (local.set $acc (f32x4.add (local.get $acc) (local.get $vb)))
            (local.set $acc2 (f32x4.add (local.get $acc2) (local.get $vb)))))
          (if (i32.and (local.get $flags) (i32.const 4)) (then
            (local.set $acc (v128.bitselect (local.get $acc)
              (f32x4.mul (local.get $acc) (v128.const i32x4 0 0 0 0)) (f32x4.gt (local.get $acc) (v128.const i32x4 0 0 0 0))))
            (local.set $acc2 (v128.bitselect (local.get $acc2)
              (f32x4.mul (local.get $acc2) (v128.const i32x4 0 0 0 0)) (f32x4.gt (local.get $acc2) (v128.const i32x4 0 0 0 0))))))
          (if (i32.lt_u (local.get $o) (local.get $full))
            (then
              (v128.store (local.get $o) (local.get $acc))
              (v128.store (i32.add (local.get $o) (local.get $o2)) (local.get $acc2)))
            (else
              (call $tail (local.get $o) (local.get $acc) (i32.shr_u (i32.sub (local.get $e) (local.get $o)) (i32.const 2)))
              (call $tail (i32.add (local.get $o) (local.get $o2)) (local.get $acc2) (i32.shr_u (i32.sub (local.get $e) (local.get $o)) (i32.const 2)))))
          (local.set $o (i32.add (local.get $o) (i32.const 16)))
          (local.set $r (i32.add (local.get $r) (i32.const 32)))
          (br $l)))
        (local.set $o (i32.add (local.get $e) (local.get $o2)))
        (local.set $p (i32.add (local.get $p) (i32.shl (local.get $rb) (i32.const 2))))
        (local.set $y (i32.add (local.get $y) (i32.const 2)))
        (br $pairs)))))
    ;; The other rows one at a time.
    (block $rowsDone (loop $rows
      (br_if $rowsDone (i32.ge_u (local.get $y) (local.get $Ho)))
      (local.set $r (local.get $p))
      (local.set $full (i32.add (local.get $o) (i32.shl (i32.and (local.get $Wo) (i32.const -4)) (i32.const 2))))
      (local.set $e (i32.add (local.get $o) (i32.shl (local.get $Wo) (i32.const 2))))
      (block $d (loop $l
        (br_if $d (i32.ge_u (local.get $o) (local.get $e)))
        ;; row 0
        (local.set $a (v128.load (local.get $r)))
        (local.set $bb (v128.load offset=16 (local.get $r)))
        (local.set $ev (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a) (local.get $bb)))
        (local.set $acc (f32x4.mul (local.get $ev) (local.get $w0)))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
          (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a) (local.get $bb)) (local.get $w1))))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
          (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 (local.get $ev) (v128.load offset=32 (local.get $r))) (local.get $w2))))
        ;; row 1
        (local.set $q (i32.add (local.get $r) (local.get $rb)))
        (local.set $a (v128.load (local.get $q)))
        (local.set $bb (v128.load offset=16 (local.get $q)))
        (local.set $ev (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a) (local.get $bb)))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $ev) (local.get $w3))))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
          (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a) (local.get $bb)) (local.get $w4))))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
          (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 (local.get $ev) (v128.load offset=32 (local.get $q))) (local.get $w5))))
        ;; row 2
        (local.set $q (i32.add (local.get $q) (local.get $rb)))
        (local.set $a (v128.load (local.get $q)))
        (local.set $bb (v128.load offset=16 (local.get $q)))
        (local.set $ev (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a) (local.get $bb)))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $ev) (local.get $w6))))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
          (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a) (local.get $bb)) (local.get $w7))))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
          (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 (local.get $ev) (v128.load offset=32 (local.get $q))) (local.get $w8))))
        ;; epilogue
        (if (i32.and (local.get $flags) (i32.const 2)) (then (local.set $acc (f32x4.mul (local.get $acc) (local.get $va)))))
        (if (i32.and (local.get $flags) (i32.const 1)) (then (local.set $acc (f32x4.add (local.get $acc) (local.get $vb)))))
        (if (i32.and (local.get $flags) (i32.const 4)) (then (local.set $acc (v128.bitselect (local.get $acc)
          (f32x4.mul (local.get $acc) (v128.const i32x4 0 0 0 0)) (f32x4.gt (local.get $acc) (v128.const i32x4 0 0 0 0))))))
        (if (i32.lt_u (local.get $o) (local.get $full))
          (then (v128.store (local.get $o) (local.get $acc)))
          (else (call $tail (local.get $o) (local.get $acc) (i32.shr_u (i32.sub (local.get $e) (local.get $o)) (i32.const 2)))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (local.set $r (i32.add (local.get $r) (i32.const 32)))
        (br $l)))
      ;; (o is past e after a partial last vector)
      (local.set $o (local.get $e))
      (local.set $p (i32.add (local.get $p) (i32.mul (local.get $sH) (local.get $rb))))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $rows))))

  ;; Any kernel, stride, dilation: the taps in a loop, the 4 inputs of a tap gathered by stride.
  (func $plane (param $p i32) (param $rb i32) (param $o i32) (param $Ho i32) (param $Wo i32) (param $sH i32) (param $pw i32)
    (param $flags i32) (param $va v128) (param $vb v128)
    (param $kH i32) (param $kW i32) (param $sW i32) (param $dH i32) (param $dW i32)
    (local $y i32) (local $r i32) (local $e i32) (local $full i32) (local $ky i32) (local $kx i32) (local $q i32) (local $t i32) (local $w i32) (local $s4 i32)
    (local $acc v128) (local $prod v128)
    (local.set $s4 (i32.shl (local.get $sW) (i32.const 2)))
    (local.set $y (i32.const 0))
    (block $rowsDone (loop $rows
      (br_if $rowsDone (i32.ge_u (local.get $y) (local.get $Ho)))
      (local.set $r (local.get $p))
      (local.set $full (i32.add (local.get $o) (i32.shl (i32.and (local.get $Wo) (i32.const -4)) (i32.const 2))))
      (local.set $e (i32.add (local.get $o) (i32.shl (local.get $Wo) (i32.const 2))))
      (block $d (loop $l
        (br_if $d (i32.ge_u (local.get $o) (local.get $e)))
        (local.set $w (local.get $pw))
        (local.set $q (local.get $r))
        (local.set $ky (i32.const 0))
        (block $yd (loop $yl
          (br_if $yd (i32.ge_u (local.get $ky) (local.get $kH)))
          (local.set $t (local.get $q))
          (local.set $kx (i32.const 0))
          (block $xd (loop $xl
            (br_if $xd (i32.ge_u (local.get $kx) (local.get $kW)))
            (local.set $prod (f32x4.mul (call $gather (local.get $t) (local.get $sW)) (f32x4.splat (f32.load (local.get $w)))))
            (if (i32.eq (local.get $w) (local.get $pw))
              (then (local.set $acc (local.get $prod)))
              (else (local.set $acc (f32x4.add (local.get $acc) (local.get $prod)))))
            (local.set $w (i32.add (local.get $w) (i32.const 4)))
            (local.set $t (i32.add (local.get $t) (i32.shl (local.get $dW) (i32.const 2))))
            (local.set $kx (i32.add (local.get $kx) (i32.const 1)))
            (br $xl)))
          (local.set $q (i32.add (local.get $q) (i32.mul (local.get $dH) (local.get $rb))))
          (local.set $ky (i32.add (local.get $ky) (i32.const 1)))
          (br $yl)))
        ;; epilogue
        (if (i32.and (local.get $flags) (i32.const 2)) (then (local.set $acc (f32x4.mul (local.get $acc) (local.get $va)))))
        (if (i32.and (local.get $flags) (i32.const 1)) (then (local.set $acc (f32x4.add (local.get $acc) (local.get $vb)))))
        (if (i32.and (local.get $flags) (i32.const 4)) (then (local.set $acc (v128.bitselect (local.get $acc)
          (f32x4.mul (local.get $acc) (v128.const i32x4 0 0 0 0)) (f32x4.gt (local.get $acc) (v128.const i32x4 0 0 0 0))))))
        (if (i32.lt_u (local.get $o) (local.get $full))
          (then (v128.store (local.get $o) (local.get $acc)))
          (else (call $tail (local.get $o) (local.get $acc) (i32.shr_u (i32.sub (local.get $e) (local.get $o)) (i32.const 2)))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (local.set $r (i32.add (local.get $r) (i32.shl (local.get $s4) (i32.const 2))))
        (br $l)))
      ;; (o is past e after a partial last vector)
      (local.set $o (local.get $e))
      (local.set $p (i32.add (local.get $p) (i32.mul (local.get $sH) (local.get $rb))))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $rows))))

  ;; ---- backward ----------------------------------------------------------------------------

  ;; Gradients of "depthwise" for C channels: with wantDw, dW (C x kH x kW at pDw) += sum over the
  ;; outputs of dy (C x Ho x Wo at pDy) * the input tap (x: C x H x W at pX); with wantDx, dx
  ;; (C x H x W at pDx) = the taps of w (at pW) times dy scattered back, overwritten.
  ;; pPadX, pPadDx: two padded planes (+ 16 bytes each); pAcc: 144 bytes for $dw3.
  ;; dx sums as col2im does (tap by tap, ky then kx, each f32(w * dy) added to a zeroed plane), so
  ;; its bits are Caffe's im2col + GEMM ones; dW sums per tap over rows then columns, in 4 lane
  ;; partial sums over the columns up to Wo rounded down to a multiple of 4 and a scalar one over
  ;; the rest, then ((l0 + l1) + (l2 + l3)) + rest is added to dW (depthwise.ts mirrors this).
  (func (export "depthwise_backward")
    (param $pX i32) (param $pDy i32) (param $pW i32) (param $pDx i32) (param $pDw i32) (param $wantDx i32) (param $wantDw i32)
    (param $C i32) (param $H i32) (param $W i32) (param $kH i32) (param $kW i32)
    (param $sH i32) (param $sW i32) (param $padH i32) (param $padW i32) (param $dH i32) (param $dW i32)
    (param $Ho i32) (param $Wo i32) (param $pPadX i32) (param $pPadDx i32) (param $pAcc i32)
    (local $fused i32) (local $rb i32) (local $c i32) (local $ky i32) (local $kx i32) (local $oy i32) (local $ox i32) (local $wo4 i32)
    (local $dy i32) (local $xr i32) (local $pw i32) (local $plane i32) (local $padBytes i32) (local $s4 i32)
    (local $acc v128) (local $v v128) (local $wv v128) (local $t f32) (local $w f32) (local $g f32)
    (call $geometry (local.get $H) (local.get $W) (local.get $kH) (local.get $kW) (local.get $sH) (local.get $sW)
      (local.get $padH) (local.get $padW) (local.get $dH) (local.get $dW) (local.get $Ho) (local.get $Wo))
    (local.set $rb (i32.shl (global.get $Wp) (i32.const 2)))
    (local.set $padBytes (i32.add (i32.mul (global.get $Hp) (local.get $rb)) (i32.const 16)))
    (local.set $wo4 (i32.and (local.get $Wo) (i32.const -4)))
    (local.set $s4 (i32.shl (local.get $sW) (i32.const 2)))
    (local.set $fused (i32.and (i32.and (i32.and (i32.eq (local.get $kH) (i32.const 3)) (i32.eq (local.get $kW) (i32.const 3)))
      (i32.and (i32.eq (local.get $dH) (i32.const 1)) (i32.eq (local.get $dW) (i32.const 1))))
      (i32.le_u (i32.sub (local.get $sW) (i32.const 1)) (i32.const 1))))
    (memory.fill (local.get $pPadX) (i32.const 0) (local.get $padBytes))
    (block $cd (loop $cl
      (br_if $cd (i32.ge_u (local.get $c) (local.get $C)))
      (local.set $plane (i32.shl (i32.mul (local.get $c) (i32.mul (local.get $H) (local.get $W))) (i32.const 2)))
      (local.set $pw (i32.shl (i32.mul (local.get $c) (i32.mul (local.get $kH) (local.get $kW))) (i32.const 2)))
      (if (local.get $wantDw) (then
        (call $planeCopy (i32.add (local.get $pX) (local.get $plane)) (local.get $W) (local.get $H) (local.get $pPadX)
          (local.get $padH) (local.get $padW) (i32.const 1))
        (if (local.get $fused) (then
          (call $dw3 (local.get $pPadX) (local.get $rb)
            (i32.add (local.get $pDy) (i32.shl (i32.mul (local.get $c) (i32.mul (local.get $Ho) (local.get $Wo))) (i32.const 2)))
            (local.get $Ho) (local.get $Wo) (local.get $wo4) (local.get $sH) (local.get $sW) (local.get $pAcc))))
        (local.set $ky (i32.const 0))
        (block $yd (loop $yl
          (br_if $yd (i32.ge_u (local.get $ky) (local.get $kH)))
          (local.set $kx (i32.const 0))
          (block $xd (loop $xl
            (br_if $xd (i32.ge_u (local.get $kx) (local.get $kW)))
            (local.set $acc (v128.const i32x4 0 0 0 0))
            (if (local.get $fused) (then (local.set $acc (v128.load (i32.add (local.get $pAcc)
              (i32.shl (i32.add (i32.mul (local.get $ky) (i32.const 3)) (local.get $kx)) (i32.const 4)))))))
            (local.set $t (f32.const 0))
            (local.set $dy (i32.add (local.get $pDy) (i32.shl (i32.mul (local.get $c) (i32.mul (local.get $Ho) (local.get $Wo))) (i32.const 2))))
            (local.set $oy (i32.const 0))
            (block $od (loop $ol
              (br_if $od (i32.ge_u (local.get $oy) (local.get $Ho)))
              ;; padded input of output (oy, 0) at this tap
              (local.set $xr (i32.add (local.get $pPadX) (i32.shl (i32.add
                (i32.mul (i32.add (i32.mul (local.get $oy) (local.get $sH)) (i32.mul (local.get $ky) (local.get $dH))) (global.get $Wp))
                (i32.mul (local.get $kx) (local.get $dW))) (i32.const 2))))
              (local.set $ox (i32.const 0))
              (if (local.get $fused) (then
                (local.set $ox (local.get $wo4))
                (local.set $xr (i32.add (local.get $xr) (i32.mul (local.get $wo4) (local.get $s4))))))
              (block $vd (loop $vl
                (br_if $vd (i32.ge_u (local.get $ox) (local.get $wo4)))
                (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
                  (v128.load (i32.add (local.get $dy) (i32.shl (local.get $ox) (i32.const 2)))) (call $gather (local.get $xr) (local.get $sW)))))
                (local.set $xr (i32.add (local.get $xr) (i32.shl (local.get $s4) (i32.const 2))))
                (local.set $ox (i32.add (local.get $ox) (i32.const 4)))
                (br $vl)))
              (block $sd (loop $sl
                (br_if $sd (i32.ge_u (local.get $ox) (local.get $Wo)))
                (local.set $t (f32.add (local.get $t)
                  (f32.mul (f32.load (i32.add (local.get $dy) (i32.shl (local.get $ox) (i32.const 2)))) (f32.load (local.get $xr)))))
                (local.set $xr (i32.add (local.get $xr) (local.get $s4)))
                (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
                (br $sl)))
              (local.set $dy (i32.add (local.get $dy) (i32.shl (local.get $Wo) (i32.const 2))))
              (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
              (br $ol)))
            (local.set $g (f32.add (f32.add
              (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
              (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc))))
              (local.get $t)))
            (f32.store (i32.add (local.get $pDw) (local.get $pw))
              (f32.add (f32.load (i32.add (local.get $pDw) (local.get $pw))) (local.get $g)))
            (local.set $pw (i32.add (local.get $pw) (i32.const 4)))
            (local.set $kx (i32.add (local.get $kx) (i32.const 1)))
            (br $xl)))
          (local.set $ky (i32.add (local.get $ky) (i32.const 1)))
          (br $yl)))))
      (if (local.get $wantDx) (then
        (memory.fill (local.get $pPadDx) (i32.const 0) (local.get $padBytes))
        (local.set $pw (i32.shl (i32.mul (local.get $c) (i32.mul (local.get $kH) (local.get $kW))) (i32.const 2)))
        (local.set $ky (i32.const 0))
        (block $yd (loop $yl
          (br_if $yd (i32.ge_u (local.get $ky) (local.get $kH)))
          (local.set $kx (i32.const 0))
          (block $xd (loop $xl
            (br_if $xd (i32.ge_u (local.get $kx) (local.get $kW)))
            (local.set $w (f32.load (i32.add (local.get $pW) (local.get $pw))))
            (local.set $wv (f32x4.splat (local.get $w)))
            (local.set $dy (i32.add (local.get $pDy) (i32.shl (i32.mul (local.get $c) (i32.mul (local.get $Ho) (local.get $Wo))) (i32.const 2))))
            (local.set $oy (i32.const 0))
            (block $od (loop $ol
              (br_if $od (i32.ge_u (local.get $oy) (local.get $Ho)))
              (local.set $xr (i32.add (local.get $pPadDx) (i32.shl (i32.add
                (i32.mul (i32.add (i32.mul (local.get $oy) (local.get $sH)) (i32.mul (local.get $ky) (local.get $dH))) (global.get $Wp))
                (i32.mul (local.get $kx) (local.get $dW))) (i32.const 2))))
              (local.set $ox (i32.const 0))
              ;; stride 1: 4 adjacent columns per vector; stride 2: the products interleaved with
              ;; +0 (adding +0 leaves every partial sum, never -0 from a +0 start, as it is)
              (if (i32.eq (local.get $sW) (i32.const 1)) (then
                (block $vd (loop $vl
                  (br_if $vd (i32.ge_u (local.get $ox) (local.get $wo4)))
                  (v128.store (local.get $xr) (f32x4.add (v128.load (local.get $xr))
                    (f32x4.mul (local.get $wv) (v128.load (i32.add (local.get $dy) (i32.shl (local.get $ox) (i32.const 2)))))))
                  (local.set $xr (i32.add (local.get $xr) (i32.const 16)))
                  (local.set $ox (i32.add (local.get $ox) (i32.const 4)))
                  (br $vl)))))
              (if (i32.eq (local.get $sW) (i32.const 2)) (then
                (block $vd (loop $vl
                  (br_if $vd (i32.ge_u (local.get $ox) (local.get $wo4)))
                  (local.set $v (f32x4.mul (local.get $wv) (v128.load (i32.add (local.get $dy) (i32.shl (local.get $ox) (i32.const 2))))))
                  (v128.store (local.get $xr) (f32x4.add (v128.load (local.get $xr))
                    (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 16 17 18 19 (local.get $v) (v128.const i32x4 0 0 0 0))))
                  (v128.store offset=16 (local.get $xr) (f32x4.add (v128.load offset=16 (local.get $xr))
                    (i8x16.shuffle 8 9 10 11 16 17 18 19 12 13 14 15 16 17 18 19 (local.get $v) (v128.const i32x4 0 0 0 0))))
                  (local.set $xr (i32.add (local.get $xr) (i32.const 32)))
                  (local.set $ox (i32.add (local.get $ox) (i32.const 4)))
                  (br $vl)))))
              (block $sd (loop $sl
                (br_if $sd (i32.ge_u (local.get $ox) (local.get $Wo)))
                (f32.store (local.get $xr) (f32.add (f32.load (local.get $xr))
                  (f32.mul (local.get $w) (f32.load (i32.add (local.get $dy) (i32.shl (local.get $ox) (i32.const 2)))))))
                (local.set $xr (i32.add (local.get $xr) (local.get $s4)))
                (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
                (br $sl)))
              (local.set $dy (i32.add (local.get $dy) (i32.shl (local.get $Wo) (i32.const 2))))
              (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
              (br $ol)))
            (local.set $pw (i32.add (local.get $pw) (i32.const 4)))
            (local.set $kx (i32.add (local.get $kx) (i32.const 1)))
            (br $xl)))
          (local.set $ky (i32.add (local.get $ky) (i32.const 1)))
          (br $yl)))
        (call $planeCopy (i32.add (local.get $pDx) (local.get $plane)) (local.get $W) (local.get $H) (local.get $pPadDx)
          (local.get $padH) (local.get $padW) (i32.const 0))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $cl))))

;; The weight gradient's vector part for 3x3 taps, dilation 1, stride (sW) 1 or 2, in one pass
  ;; over dy instead of one per tap: the 9 lane sums (the same sums, in the same order, as the
  ;; tap-by-tap loop of depthwise_backward) stored at pAcc, 16 bytes a tap. p: the channel's
  ;; padded x, rb its row bytes; dy: the channel's Ho x Wo gradient; the columns below wo4.
  (func $dw3 (param $p i32) (param $rb i32) (param $dy i32) (param $Ho i32) (param $Wo i32) (param $wo4 i32)
    (param $sH i32) (param $sW i32) (param $pAcc i32)
    (local $oy i32) (local $ox i32) (local $q i32) (local $r i32) (local $d v128) (local $u v128) (local $v v128) (local $ev v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128) (local $a8 v128)
    (block $od (loop $ol
      (br_if $od (i32.ge_u (local.get $oy) (local.get $Ho)))
      (local.set $q (i32.add (local.get $p) (i32.mul (i32.mul (local.get $oy) (local.get $sH)) (local.get $rb))))
      (local.set $ox (i32.const 0))
      (block $vd (loop $vl
        (br_if $vd (i32.ge_u (local.get $ox) (local.get $wo4)))
        (local.set $d (v128.load (i32.add (local.get $dy) (i32.shl (local.get $ox) (i32.const 2)))))
        (local.set $r (i32.add (local.get $q) (i32.shl (i32.mul (local.get $ox) (local.get $sW)) (i32.const 2))))
        (if (i32.eq (local.get $sW) (i32.const 1)) (then
          (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $d) (v128.load offset=0 (local.get $r)))))
          (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $d) (v128.load offset=4 (local.get $r)))))
          (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $d) (v128.load offset=8 (local.get $r)))))
          (local.set $r (i32.add (local.get $r) (local.get $rb)))
          (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $d) (v128.load offset=0 (local.get $r)))))
          (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (local.get $d) (v128.load offset=4 (local.get $r)))))
          (local.set $a5 (f32x4.add (local.get $a5) (f32x4.mul (local.get $d) (v128.load offset=8 (local.get $r)))))
          (local.set $r (i32.add (local.get $r) (local.get $rb)))
          (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (local.get $d) (v128.load offset=0 (local.get $r)))))
          (local.set $a7 (f32x4.add (local.get $a7) (f32x4.mul (local.get $d) (v128.load offset=4 (local.get $r)))))
          (local.set $a8 (f32x4.add (local.get $a8) (f32x4.mul (local.get $d) (v128.load offset=8 (local.get $r))))))
        (else
          (local.set $u (v128.load (local.get $r)))
          (local.set $v (v128.load offset=16 (local.get $r)))
          (local.set $ev (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $u) (local.get $v)))
          (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $d) (local.get $ev))))
          (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $d)
            (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $u) (local.get $v)))))
          (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $d)
            (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 (local.get $ev) (v128.load offset=32 (local.get $r))))))
          (local.set $r (i32.add (local.get $r) (local.get $rb)))
          (local.set $u (v128.load (local.get $r)))
          (local.set $v (v128.load offset=16 (local.get $r)))
          (local.set $ev (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $u) (local.get $v)))
          (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $d) (local.get $ev))))
          (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (local.get $d)
            (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $u) (local.get $v)))))
          (local.set $a5 (f32x4.add (local.get $a5) (f32x4.mul (local.get $d)
            (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 (local.get $ev) (v128.load offset=32 (local.get $r))))))
          (local.set $r (i32.add (local.get $r) (local.get $rb)))
          (local.set $u (v128.load (local.get $r)))
          (local.set $v (v128.load offset=16 (local.get $r)))
          (local.set $ev (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $u) (local.get $v)))
          (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (local.get $d) (local.get $ev))))
          (local.set $a7 (f32x4.add (local.get $a7) (f32x4.mul (local.get $d)
            (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $u) (local.get $v)))))
          (local.set $a8 (f32x4.add (local.get $a8) (f32x4.mul (local.get $d)
            (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 (local.get $ev) (v128.load offset=32 (local.get $r))))))))
        (local.set $ox (i32.add (local.get $ox) (i32.const 4)))
        (br $vl)))
      (local.set $dy (i32.add (local.get $dy) (i32.shl (local.get $Wo) (i32.const 2))))
      (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
      (br $ol)))
    (v128.store offset=0 (local.get $pAcc) (local.get $a0))
    (v128.store offset=16 (local.get $pAcc) (local.get $a1))
    (v128.store offset=32 (local.get $pAcc) (local.get $a2))
    (v128.store offset=48 (local.get $pAcc) (local.get $a3))
    (v128.store offset=64 (local.get $pAcc) (local.get $a4))
    (v128.store offset=80 (local.get $pAcc) (local.get $a5))
    (v128.store offset=96 (local.get $pAcc) (local.get $a6))
    (v128.store offset=112 (local.get $pAcc) (local.get $a7))
    (v128.store offset=128 (local.get $pAcc) (local.get $a8)))

  ;; The 4 padded inputs at t, t + s, t + 2s, t + 3s floats (one load at stride 1, the even
  ;; lanes of two at stride 2, else four scalar loads).
  (func $gather (param $t i32) (param $sW i32) (result v128)
    (local $s4 i32) (local $v v128)
    (if (i32.eq (local.get $sW) (i32.const 1)) (then (return (v128.load (local.get $t)))))
    (if (i32.eq (local.get $sW) (i32.const 2)) (then
      (return (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (v128.load (local.get $t)) (v128.load offset=16 (local.get $t))))))
    (local.set $s4 (i32.shl (local.get $sW) (i32.const 2)))
    (local.set $v (f32x4.splat (f32.load (local.get $t))))
    (local.set $v (f32x4.replace_lane 1 (local.get $v) (f32.load (i32.add (local.get $t) (local.get $s4)))))
    (local.set $v (f32x4.replace_lane 2 (local.get $v) (f32.load (i32.add (local.get $t) (i32.shl (local.get $s4) (i32.const 1))))))
    (f32x4.replace_lane 3 (local.get $v) (f32.load (i32.add (local.get $t) (i32.mul (local.get $s4) (i32.const 3))))))
)
