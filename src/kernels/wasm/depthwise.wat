;; Depthwise 2-D convolution forward (one filter per channel: Convolution with group == channels
;; == num_output), WebAssembly SIMD (f32x4), for src/kernels/depthwise.ts.
;; Assembled by scripts/build-wasm.mjs (wabt) into depthwise.wasm next to this file.
;;
;; Why: Caffe runs such a layer as one M = 1, K = kH * kW GEMM per channel over im2col's columns,
;; which is all overhead (MobileNets spend half their forward there). Here each channel plane is
;; copied once into a zero-padded scratch, so the loops below read every tap without a bounds
;; check, and four adjacent outputs of a row are computed per f32x4: the 3x3 kernels with stride
;; 1 and 2 (MobileNet's) are unrolled with their 9 weights in registers, stride 2 picking the even
;; and odd input columns with shuffles; every other geometry takes a generic row loop.
;;
;; Each output sums its taps as im2col + GEMM orders them (ky, then kx, ascending), each product
;; rounded to float32 and then added (no fused multiply-add), the bias added last; padding taps
;; multiply a 0, as GEMM multiplies im2col's zeros. depthwise.ts's JS loop computes the same
;; float32 operations, so both give the same bits. All pointers are byte addresses.
(module
  (memory (export "memory") 16 2048)

  ;; C channel planes H x W at pIn -> C planes Ho x Wo at pOut, weights C x kH x kW at pW, bias
  ;; (C floats at pB) when hasBias. pPad: scratch for one zero-padded plane; see the padded size
  ;; below (depthwise.ts reserves the same). The output area needs 16 bytes of slack: a row's last
  ;; vector may spill up to 3 floats past it (into the next row, written after, or the slack).
  (func (export "depthwise")
    (param $pIn i32) (param $pOut i32) (param $pW i32) (param $pB i32) (param $hasBias i32)
    (param $C i32) (param $H i32) (param $W i32) (param $kH i32) (param $kW i32)
    (param $sH i32) (param $sW i32) (param $padH i32) (param $padW i32) (param $dH i32) (param $dW i32)
    (param $Ho i32) (param $Wo i32) (param $pPad i32)
    (local $n4 i32) (local $Wp i32) (local $Hp i32) (local $rb i32) (local $nrows i32) (local $ncols i32)
    (local $kind i32) (local $c i32) (local $r i32) (local $y i32) (local $src i32) (local $dst i32)
    (local $out i32) (local $pw i32) (local $b f32)
    (local.set $n4 (i32.shr_u (i32.add (local.get $Wo) (i32.const 3)) (i32.const 2)))
    ;; padded plane: every row and column any tap of any (vector-rounded) output reads, + slack
    (local.set $Wp (i32.add (i32.add (i32.mul (i32.shl (local.get $n4) (i32.const 2)) (local.get $sW))
      (i32.mul (i32.sub (local.get $kW) (i32.const 1)) (local.get $dW))) (i32.const 4)))
    (local.set $Hp (i32.add (i32.add (i32.mul (i32.sub (local.get $Ho) (i32.const 1)) (local.get $sH))
      (i32.mul (i32.sub (local.get $kH) (i32.const 1)) (local.get $dH))) (i32.const 1)))
    (local.set $rb (i32.shl (local.get $Wp) (i32.const 2)))
    (memory.fill (local.get $pPad) (i32.const 0) (i32.add (i32.mul (local.get $Hp) (local.get $rb)) (i32.const 16)))
    ;; the input rows / columns that land inside the padded plane (those past it are never read)
    (local.set $nrows (i32.sub (local.get $Hp) (local.get $padH)))
    (if (i32.gt_s (local.get $nrows) (local.get $H)) (then (local.set $nrows (local.get $H))))
    (if (i32.lt_s (local.get $nrows) (i32.const 0)) (then (local.set $nrows (i32.const 0))))
    (local.set $ncols (i32.sub (local.get $Wp) (local.get $padW)))
    (if (i32.gt_s (local.get $ncols) (local.get $W)) (then (local.set $ncols (local.get $W))))
    (if (i32.lt_s (local.get $ncols) (i32.const 0)) (then (local.set $ncols (i32.const 0))))
    (if (i32.and (i32.and (i32.eq (local.get $kH) (i32.const 3)) (i32.eq (local.get $kW) (i32.const 3)))
                 (i32.and (i32.eq (local.get $dH) (i32.const 1)) (i32.eq (local.get $dW) (i32.const 1))))
      (then (local.set $kind (local.get $sW))))
    (local.set $out (local.get $pOut))
    (block $cd (loop $cl
      (br_if $cd (i32.ge_u (local.get $c) (local.get $C)))
      (local.set $src (i32.add (local.get $pIn) (i32.shl (i32.mul (local.get $c) (i32.mul (local.get $H) (local.get $W))) (i32.const 2))))
      (local.set $dst (i32.add (local.get $pPad)
        (i32.shl (i32.add (i32.mul (local.get $padH) (local.get $Wp)) (local.get $padW)) (i32.const 2))))
      (local.set $r (i32.const 0))
      (block $rd (loop $rl
        (br_if $rd (i32.ge_s (local.get $r) (local.get $nrows)))
        (memory.copy (local.get $dst) (local.get $src) (i32.shl (local.get $ncols) (i32.const 2)))
        (local.set $dst (i32.add (local.get $dst) (local.get $rb)))
        (local.set $src (i32.add (local.get $src) (i32.shl (local.get $W) (i32.const 2))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rl)))
      (local.set $pw (i32.add (local.get $pW) (i32.shl (i32.mul (local.get $c) (i32.mul (local.get $kH) (local.get $kW))) (i32.const 2))))
      (local.set $b (f32.const 0))
      (if (local.get $hasBias) (then (local.set $b (f32.load (i32.add (local.get $pB) (i32.shl (local.get $c) (i32.const 2)))))))
      (local.set $y (i32.const 0))
      (block $yd (loop $yl
        (br_if $yd (i32.ge_u (local.get $y) (local.get $Ho)))
        (local.set $src (i32.add (local.get $pPad) (i32.mul (i32.mul (local.get $y) (local.get $sH)) (local.get $rb))))
        (if (i32.eq (local.get $kind) (i32.const 1))
          (then (call $row3s1 (local.get $src) (local.get $rb) (local.get $out) (local.get $n4) (local.get $pw) (local.get $hasBias) (local.get $b)))
          (else (if (i32.eq (local.get $kind) (i32.const 2))
            (then (call $row3s2 (local.get $src) (local.get $rb) (local.get $out) (local.get $n4) (local.get $pw) (local.get $hasBias) (local.get $b)))
            (else (call $row (local.get $src) (local.get $rb) (local.get $out) (local.get $n4) (local.get $pw) (local.get $hasBias) (local.get $b)
              (local.get $kH) (local.get $kW) (local.get $sW) (local.get $dH) (local.get $dW))))))
        (local.set $out (i32.add (local.get $out) (i32.shl (local.get $Wo) (i32.const 2))))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $yl)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $cl))))

  ;; One output row, 3x3 taps, stride 1, dilation 1: n4 vectors of 4 outputs at o, from the padded
  ;; rows at p, p + rb, p + 2 rb (rb: padded row bytes), weights at pw.
  (func $row3s1 (param $p i32) (param $rb i32) (param $o i32) (param $n4 i32) (param $pw i32) (param $hasB i32) (param $b f32)
    (local $e i32) (local $q i32) (local $acc v128) (local $bv v128)
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
    (local.set $bv (f32x4.splat (local.get $b)))
    (local.set $e (i32.add (local.get $o) (i32.shl (local.get $n4) (i32.const 4))))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $o) (local.get $e)))
      (local.set $acc (f32x4.mul (v128.load (local.get $p)) (local.get $w0)))
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load offset=4 (local.get $p)) (local.get $w1))))
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load offset=8 (local.get $p)) (local.get $w2))))
      (local.set $q (i32.add (local.get $p) (local.get $rb)))
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (local.get $q)) (local.get $w3))))
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load offset=4 (local.get $q)) (local.get $w4))))
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load offset=8 (local.get $q)) (local.get $w5))))
      (local.set $q (i32.add (local.get $q) (local.get $rb)))
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (local.get $q)) (local.get $w6))))
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load offset=4 (local.get $q)) (local.get $w7))))
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load offset=8 (local.get $q)) (local.get $w8))))
      (if (local.get $hasB) (then (local.set $acc (f32x4.add (local.get $acc) (local.get $bv)))))
      (v128.store (local.get $o) (local.get $acc))
      (local.set $o (i32.add (local.get $o) (i32.const 16)))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l))))

  ;; Stride 2: the 4 outputs of a vector read padded columns 2x .. 2x + 8 of each row: from the
  ;; loads a (2x..), b (2x+4..), c (2x+8..), tap 0 takes the even lanes of a:b, tap 1 the odd
  ;; ones, tap 2 the even lanes shifted by one with c's first.
  (func $row3s2 (param $p i32) (param $rb i32) (param $o i32) (param $n4 i32) (param $pw i32) (param $hasB i32) (param $b f32)
    (local $e i32) (local $q i32) (local $acc v128) (local $bv v128) (local $a v128) (local $bb v128) (local $ev v128)
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
    (local.set $bv (f32x4.splat (local.get $b)))
    (local.set $e (i32.add (local.get $o) (i32.shl (local.get $n4) (i32.const 4))))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $o) (local.get $e)))
      ;; row 0
      (local.set $a (v128.load (local.get $p)))
      (local.set $bb (v128.load offset=16 (local.get $p)))
      (local.set $ev (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a) (local.get $bb)))
      (local.set $acc (f32x4.mul (local.get $ev) (local.get $w0)))
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
        (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a) (local.get $bb)) (local.get $w1))))
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
        (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 (local.get $ev) (v128.load offset=32 (local.get $p))) (local.get $w2))))
      ;; row 1
      (local.set $q (i32.add (local.get $p) (local.get $rb)))
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
      (if (local.get $hasB) (then (local.set $acc (f32x4.add (local.get $acc) (local.get $bv)))))
      (v128.store (local.get $o) (local.get $acc))
      (local.set $o (i32.add (local.get $o) (i32.const 16)))
      (local.set $p (i32.add (local.get $p) (i32.const 32)))
      (br $l))))

  ;; Any kernel, stride, dilation: the taps in a loop, the 4 inputs of a tap loaded by stride
  ;; (one load at stride 1, the even lanes of two at stride 2, else four scalar loads).
  (func $row (param $p i32) (param $rb i32) (param $o i32) (param $n4 i32) (param $pw i32) (param $hasB i32) (param $b f32)
    (param $kH i32) (param $kW i32) (param $sW i32) (param $dH i32) (param $dW i32)
    (local $e i32) (local $ky i32) (local $kx i32) (local $q i32) (local $t i32) (local $w i32) (local $s4 i32)
    (local $acc v128) (local $v v128) (local $prod v128)
    (local.set $s4 (i32.shl (local.get $sW) (i32.const 2)))
    (local.set $e (i32.add (local.get $o) (i32.shl (local.get $n4) (i32.const 4))))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $o) (local.get $e)))
      (local.set $w (local.get $pw))
      (local.set $q (local.get $p))
      (local.set $ky (i32.const 0))
      (block $yd (loop $yl
        (br_if $yd (i32.ge_u (local.get $ky) (local.get $kH)))
        (local.set $t (local.get $q))
        (local.set $kx (i32.const 0))
        (block $xd (loop $xl
          (br_if $xd (i32.ge_u (local.get $kx) (local.get $kW)))
          (if (i32.eq (local.get $sW) (i32.const 1))
            (then (local.set $v (v128.load (local.get $t))))
            (else (if (i32.eq (local.get $sW) (i32.const 2))
              (then (local.set $v (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27
                (v128.load (local.get $t)) (v128.load offset=16 (local.get $t)))))
              (else
                (local.set $v (f32x4.splat (f32.load (local.get $t))))
                (local.set $v (f32x4.replace_lane 1 (local.get $v) (f32.load (i32.add (local.get $t) (local.get $s4)))))
                (local.set $v (f32x4.replace_lane 2 (local.get $v) (f32.load (i32.add (local.get $t) (i32.shl (local.get $s4) (i32.const 1))))))
                (local.set $v (f32x4.replace_lane 3 (local.get $v)
                  (f32.load (i32.add (local.get $t) (i32.mul (local.get $s4) (i32.const 3))))))))))
          (local.set $prod (f32x4.mul (local.get $v) (f32x4.splat (f32.load (local.get $w)))))
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
      (if (local.get $hasB) (then (local.set $acc (f32x4.add (local.get $acc) (f32x4.splat (local.get $b))))))
      (v128.store (local.get $o) (local.get $acc))
      (local.set $o (i32.add (local.get $o) (i32.const 16)))
      (local.set $p (i32.add (local.get $p) (i32.shl (local.get $s4) (i32.const 2))))
      (br $l)))))
