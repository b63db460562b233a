;; WebAssembly SIMD (f32x4) kernels for the layers outside GEMM, for src/kernels/simd.ts: ReLU,
;; Eltwise's sum, per-row affine maps (Scale, Bias, BatchNorm, convolution bias), Scale's
;; backward, MAX and AVE pooling, LRN across channels, MT19937 Bernoulli draws for Dropout,
;; im2col, and the solver update passes (every solver type).
;; Assembled by scripts/build-wasm.mjs (wabt) into simd.wasm next to this file.
;;
;; Why: V8 does not vectorise JS loops and compiles `a > b ? a : b` on floats to a branch, so the
;; JS loops cost 1.5-9 ns per element (the high end when the sign of the data is random and the
;; branch mispredicts); these run 4 lanes per instruction with compare-and-select masks, no branch.
;; simd.ts copies the operands into this module's memory in blocks, calls a kernel, and copies
;; the result out; pooling and LRN also run on the inference blobs in the shared memory in place.
;;
;; Every kernel computes, per element, the same float32 operations as the JS loop it replaces
;; (loops.ts, rows.ts, the Pooling, LRN and Dropout layers, rng.ts): float32 SIMD arithmetic
;; rounds each operation to float32 once, and the JS loops compute one operation in double
;; precision and round the result to float32, which gives the same value for + - * / of two
;; floats (double has more than 2 * 24 + 2 significand bits, so the double rounding is
;; innocuous); where the JS divides by multiplying with a double reciprocal, that rounds as the
;; divide (see centerScaleRange in loops.ts). Where the JS works in double precision (row sums,
;; LRN's power, the random doubles) the kernels do the same f64 operations in the same order,
;; f64x2 lanes standing for the JS loop's partial sums. Comparisons are ordered: `gt` is false
;; for NaN, as JS's `>`. All pointers are byte addresses.
(module
  ;; Imported, so that the GEMM worker pool can instantiate the module on its shared memory too
  ;; (pooling and LRN on the inference blobs there, split between threads); simd.ts gives it an
  ;; unshared memory of its own.
  (import "env" "memory" (memory 1 65536 shared))

  ;; In place over n floats at p: x > 0 ? x : slope * x (ReLU; NaN stays NaN).
  (func (export "relu") (param $p i32) (param $n i32) (param $slope f32)
    (local $e i32) (local $e4 i32) (local $v v128) (local $s v128) (local $x f32)
    (local.set $s (f32x4.splat (local.get $slope)))
    (local.set $e (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $e4 (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $b4 (loop $l4
      (br_if $b4 (i32.ge_u (local.get $p) (local.get $e4)))
      (local.set $v (v128.load (local.get $p)))
      (v128.store (local.get $p)
        (v128.bitselect (local.get $v) (f32x4.mul (local.get $s) (local.get $v))
          (f32x4.gt (local.get $v) (v128.const i32x4 0 0 0 0))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l4)))
    (block $b1 (loop $l1
      (br_if $b1 (i32.ge_u (local.get $p) (local.get $e)))
      (local.set $x (f32.load (local.get $p)))
      (f32.store (local.get $p)
        (select (local.get $x) (f32.mul (local.get $slope) (local.get $x)) (f32.gt (local.get $x) (f32.const 0))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $l1))))

  ;; ReLU's gradient, over n floats: dy (at g, overwritten) = x (at x) > 0 ? dy : dy * slope.
  (func (export "relu_backward") (param $x i32) (param $g i32) (param $n i32) (param $slope f32)
    (local $e i32) (local $e4 i32) (local $v v128) (local $s v128) (local $d f32)
    (local.set $s (f32x4.splat (local.get $slope)))
    (local.set $e (i32.add (local.get $g) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $e4 (i32.add (local.get $g) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $b4 (loop $l4
      (br_if $b4 (i32.ge_u (local.get $g) (local.get $e4)))
      (local.set $v (v128.load (local.get $g)))
      (v128.store (local.get $g)
        (v128.bitselect (local.get $v) (f32x4.mul (local.get $v) (local.get $s))
          (f32x4.gt (v128.load (local.get $x)) (v128.const i32x4 0 0 0 0))))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (br $l4)))
    (block $b1 (loop $l1
      (br_if $b1 (i32.ge_u (local.get $g) (local.get $e)))
      (local.set $d (f32.load (local.get $g)))
      (f32.store (local.get $g)
        (select (local.get $d) (f32.mul (local.get $d) (local.get $slope)) (f32.gt (f32.load (local.get $x)) (f32.const 0))))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (br $l1))))

  ;; n floats: a (at a, overwritten) = a + b (at b).
  (func (export "add") (param $a i32) (param $b i32) (param $n i32)
    (local $e i32) (local $e4 i32)
    (local.set $e (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $e4 (i32.add (local.get $a) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $b4 (loop $l4
      (br_if $b4 (i32.ge_u (local.get $a) (local.get $e4)))
      (v128.store (local.get $a) (f32x4.add (v128.load (local.get $a)) (v128.load (local.get $b))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (br $l4)))
    (block $b1 (loop $l1
      (br_if $b1 (i32.ge_u (local.get $a) (local.get $e)))
      (f32.store (local.get $a) (f32.add (f32.load (local.get $a)) (f32.load (local.get $b))))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (local.set $b (i32.add (local.get $b) (i32.const 4)))
      (br $l1))))

  ;; The solver's per-parameter passes (solver-updates.ts), n floats each:
  ;;   axpy:     y = y + a * x               (L2 weight decay: diff += decay * data)
  ;;   momentum: h = g = m * h + lr * g      (SGD's history, which is also the step)
  ;;   sub:      a = a - b                   (Net::Update: data -= diff)
  (func (export "axpy") (param $x i32) (param $y i32) (param $n i32) (param $a f32)
    (local $e i32) (local $e4 i32) (local $va v128)
    (local.set $va (f32x4.splat (local.get $a)))
    (local.set $e (i32.add (local.get $y) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $e4 (i32.add (local.get $y) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $b4 (loop $l4
      (br_if $b4 (i32.ge_u (local.get $y) (local.get $e4)))
      (v128.store (local.get $y)
        (f32x4.add (v128.load (local.get $y)) (f32x4.mul (local.get $va) (v128.load (local.get $x)))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $y (i32.add (local.get $y) (i32.const 16)))
      (br $l4)))
    (block $b1 (loop $l1
      (br_if $b1 (i32.ge_u (local.get $y) (local.get $e)))
      (f32.store (local.get $y) (f32.add (f32.load (local.get $y)) (f32.mul (local.get $a) (f32.load (local.get $x)))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (br $l1))))

  (func (export "momentum") (param $g i32) (param $h i32) (param $n i32) (param $m f32) (param $lr f32)
    (local $e i32) (local $e4 i32) (local $vm v128) (local $vl v128) (local $v v128) (local $vs f32)
    (local.set $vm (f32x4.splat (local.get $m)))
    (local.set $vl (f32x4.splat (local.get $lr)))
    (local.set $e (i32.add (local.get $h) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $e4 (i32.add (local.get $h) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $b4 (loop $l4
      (br_if $b4 (i32.ge_u (local.get $h) (local.get $e4)))
      (local.set $v (f32x4.add (f32x4.mul (local.get $vm) (v128.load (local.get $h))) (f32x4.mul (local.get $vl) (v128.load (local.get $g)))))
      (v128.store (local.get $h) (local.get $v))
      (v128.store (local.get $g) (local.get $v))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $h (i32.add (local.get $h) (i32.const 16)))
      (br $l4)))
    (block $b1 (loop $l1
      (br_if $b1 (i32.ge_u (local.get $h) (local.get $e)))
      (local.set $vs (f32.add (f32.mul (local.get $m) (f32.load (local.get $h))) (f32.mul (local.get $lr) (f32.load (local.get $g)))))
      (f32.store (local.get $h) (local.get $vs))
      (f32.store (local.get $g) (local.get $vs))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $h (i32.add (local.get $h) (i32.const 4)))
      (br $l1))))

  ;; Adam over n floats (solver-updates.ts): m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g g,
  ;; g = scale * (m / (sqrt(v) + eps)); omb1, omb2 are the float32 values of 1 - b1, 1 - b2.
  (func (export "adam") (param $g i32) (param $m i32) (param $v i32) (param $n i32) (param $b1 f32) (param $omb1 f32)
    (param $b2 f32) (param $omb2 f32) (param $eps f32) (param $scale f32)
    (local $e i32) (local $e4 i32) (local $x v128) (local $mi v128) (local $vi v128)
    (local $xs f32) (local $ms f32) (local $vs f32)
    (local.set $e (i32.add (local.get $g) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $e4 (i32.add (local.get $g) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $b4 (loop $l4
      (br_if $b4 (i32.ge_u (local.get $g) (local.get $e4)))
      (local.set $x (v128.load (local.get $g)))
      (local.set $mi (f32x4.add (f32x4.mul (f32x4.splat (local.get $b1)) (v128.load (local.get $m)))
                                (f32x4.mul (f32x4.splat (local.get $omb1)) (local.get $x))))
      (local.set $vi (f32x4.add (f32x4.mul (f32x4.splat (local.get $b2)) (v128.load (local.get $v)))
                                (f32x4.mul (f32x4.splat (local.get $omb2)) (f32x4.mul (local.get $x) (local.get $x)))))
      (v128.store (local.get $m) (local.get $mi))
      (v128.store (local.get $v) (local.get $vi))
      (v128.store (local.get $g)
        (f32x4.mul (f32x4.splat (local.get $scale))
          (f32x4.div (local.get $mi) (f32x4.add (f32x4.sqrt (local.get $vi)) (f32x4.splat (local.get $eps))))))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $m (i32.add (local.get $m) (i32.const 16)))
      (local.set $v (i32.add (local.get $v) (i32.const 16)))
      (br $l4)))
    (block $b1 (loop $l1
      (br_if $b1 (i32.ge_u (local.get $g) (local.get $e)))
      (local.set $xs (f32.load (local.get $g)))
      (local.set $ms (f32.add (f32.mul (local.get $b1) (f32.load (local.get $m))) (f32.mul (local.get $omb1) (local.get $xs))))
      (local.set $vs (f32.add (f32.mul (local.get $b2) (f32.load (local.get $v)))
                              (f32.mul (local.get $omb2) (f32.mul (local.get $xs) (local.get $xs)))))
      (f32.store (local.get $m) (local.get $ms))
      (f32.store (local.get $v) (local.get $vs))
      (f32.store (local.get $g)
        (f32.mul (local.get $scale) (f32.div (local.get $ms) (f32.add (f32.sqrt (local.get $vs)) (local.get $eps)))))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $m (i32.add (local.get $m) (i32.const 4)))
      (local.set $v (i32.add (local.get $v) (i32.const 4)))
      (br $l1))))

  ;; AdaDelta over n floats (solver-updates.ts): hg = m hg + omm g g, step = g sqrt((delta + hu) /
  ;; (delta + hg)), hu = m hu + omm step step (with the old hu in the ratio), g = lr step.
  (func (export "adadelta") (param $g i32) (param $hg i32) (param $hu i32) (param $n i32) (param $m f32) (param $omm f32)
    (param $delta f32) (param $lr f32)
    (local $e i32) (local $e4 i32) (local $x v128) (local $a v128) (local $u v128) (local $st v128)
    (local $xs f32) (local $as f32) (local $us f32) (local $ss f32)
    (local.set $e (i32.add (local.get $g) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $e4 (i32.add (local.get $g) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $b4 (loop $l4
      (br_if $b4 (i32.ge_u (local.get $g) (local.get $e4)))
      (local.set $x (v128.load (local.get $g)))
      (local.set $u (v128.load (local.get $hu)))
      (local.set $a (f32x4.add (f32x4.mul (f32x4.splat (local.get $m)) (v128.load (local.get $hg)))
                               (f32x4.mul (f32x4.splat (local.get $omm)) (f32x4.mul (local.get $x) (local.get $x)))))
      (v128.store (local.get $hg) (local.get $a))
      (local.set $st (f32x4.mul (local.get $x)
        (f32x4.sqrt (f32x4.div (f32x4.add (f32x4.splat (local.get $delta)) (local.get $u))
                               (f32x4.add (f32x4.splat (local.get $delta)) (local.get $a))))))
      (v128.store (local.get $hu) (f32x4.add (f32x4.mul (f32x4.splat (local.get $m)) (local.get $u))
                                             (f32x4.mul (f32x4.splat (local.get $omm)) (f32x4.mul (local.get $st) (local.get $st)))))
      (v128.store (local.get $g) (f32x4.mul (f32x4.splat (local.get $lr)) (local.get $st)))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $hg (i32.add (local.get $hg) (i32.const 16)))
      (local.set $hu (i32.add (local.get $hu) (i32.const 16)))
      (br $l4)))
    (block $b1 (loop $l1
      (br_if $b1 (i32.ge_u (local.get $g) (local.get $e)))
      (local.set $xs (f32.load (local.get $g)))
      (local.set $us (f32.load (local.get $hu)))
      (local.set $as (f32.add (f32.mul (local.get $m) (f32.load (local.get $hg)))
                              (f32.mul (local.get $omm) (f32.mul (local.get $xs) (local.get $xs)))))
      (f32.store (local.get $hg) (local.get $as))
      (local.set $ss (f32.mul (local.get $xs)
        (f32.sqrt (f32.div (f32.add (local.get $delta) (local.get $us)) (f32.add (local.get $delta) (local.get $as))))))
      (f32.store (local.get $hu) (f32.add (f32.mul (local.get $m) (local.get $us))
                                          (f32.mul (local.get $omm) (f32.mul (local.get $ss) (local.get $ss)))))
      (f32.store (local.get $g) (f32.mul (local.get $lr) (local.get $ss)))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $hg (i32.add (local.get $hg) (i32.const 4)))
      (local.set $hu (i32.add (local.get $hu) (i32.const 4)))
      (br $l1))))

  ;; RMSProp over n floats (solver-updates.ts; AdaGrad is decay = omd = 1): h = decay h + omd g g,
  ;; g = lr * (g / (sqrt(h) + delta)).
  (func (export "rms") (param $g i32) (param $h i32) (param $n i32) (param $decay f32) (param $omd f32)
    (param $delta f32) (param $lr f32)
    (local $e i32) (local $e4 i32) (local $x v128) (local $hi v128) (local $xs f32) (local $hs f32)
    (local.set $e (i32.add (local.get $g) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $e4 (i32.add (local.get $g) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $b4 (loop $l4
      (br_if $b4 (i32.ge_u (local.get $g) (local.get $e4)))
      (local.set $x (v128.load (local.get $g)))
      (local.set $hi (f32x4.add (f32x4.mul (f32x4.splat (local.get $decay)) (v128.load (local.get $h)))
                                (f32x4.mul (f32x4.splat (local.get $omd)) (f32x4.mul (local.get $x) (local.get $x)))))
      (v128.store (local.get $h) (local.get $hi))
      (v128.store (local.get $g)
        (f32x4.mul (f32x4.splat (local.get $lr))
          (f32x4.div (local.get $x) (f32x4.add (f32x4.sqrt (local.get $hi)) (f32x4.splat (local.get $delta))))))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $h (i32.add (local.get $h) (i32.const 16)))
      (br $l4)))
    (block $b1 (loop $l1
      (br_if $b1 (i32.ge_u (local.get $g) (local.get $e)))
      (local.set $xs (f32.load (local.get $g)))
      (local.set $hs (f32.add (f32.mul (local.get $decay) (f32.load (local.get $h)))
                              (f32.mul (local.get $omd) (f32.mul (local.get $xs) (local.get $xs)))))
      (f32.store (local.get $h) (local.get $hs))
      (f32.store (local.get $g)
        (f32.mul (local.get $lr) (f32.div (local.get $xs) (f32.add (f32.sqrt (local.get $hs)) (local.get $delta)))))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $h (i32.add (local.get $h) (i32.const 4)))
      (br $l1))))

  ;; Nesterov over n floats (solver-updates.ts): next = m h + lr g, g = -m h + (1 + m) next, h = next.
  (func (export "nesterov") (param $g i32) (param $h i32) (param $n i32) (param $m f32) (param $lr f32) (param $opm f32)
    (local $e i32) (local $e4 i32) (local $prev v128) (local $next v128) (local $ps f32) (local $ns f32)
    (local.set $e (i32.add (local.get $g) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $e4 (i32.add (local.get $g) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $b4 (loop $l4
      (br_if $b4 (i32.ge_u (local.get $g) (local.get $e4)))
      (local.set $prev (v128.load (local.get $h)))
      (local.set $next (f32x4.add (f32x4.mul (f32x4.splat (local.get $m)) (local.get $prev))
                                  (f32x4.mul (f32x4.splat (local.get $lr)) (v128.load (local.get $g)))))
      (v128.store (local.get $h) (local.get $next))
      (v128.store (local.get $g) (f32x4.add (f32x4.mul (f32x4.splat (f32.neg (local.get $m))) (local.get $prev))
                                            (f32x4.mul (f32x4.splat (local.get $opm)) (local.get $next))))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $h (i32.add (local.get $h) (i32.const 16)))
      (br $l4)))
    (block $b1 (loop $l1
      (br_if $b1 (i32.ge_u (local.get $g) (local.get $e)))
      (local.set $ps (f32.load (local.get $h)))
      (local.set $ns (f32.add (f32.mul (local.get $m) (local.get $ps)) (f32.mul (local.get $lr) (f32.load (local.get $g)))))
      (f32.store (local.get $h) (local.get $ns))
      (f32.store (local.get $g) (f32.add (f32.mul (f32.neg (local.get $m)) (local.get $ps)) (f32.mul (local.get $opm) (local.get $ns))))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $h (i32.add (local.get $h) (i32.const 4)))
      (br $l1))))

  (func (export "sub") (param $a i32) (param $b i32) (param $n i32)
    (local $e i32) (local $e4 i32)
    (local.set $e (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $e4 (i32.add (local.get $a) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $b4 (loop $l4
      (br_if $b4 (i32.ge_u (local.get $a) (local.get $e4)))
      (v128.store (local.get $a) (f32x4.sub (v128.load (local.get $a)) (v128.load (local.get $b))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (br $l4)))
    (block $b1 (loop $l1
      (br_if $b1 (i32.ge_u (local.get $a) (local.get $e)))
      (f32.store (local.get $a) (f32.sub (f32.load (local.get $a)) (f32.load (local.get $b))))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (local.set $b (i32.add (local.get $b) (i32.const 4)))
      (br $l1))))

  ;; One run of n floats at p, in place, with the per-row operands a and b:
  ;;   mode 0: x * a   1: x * a + b   2: x + b   3: (x - a) / b   4: x / b   5: max(x * a + b, 0)
  (func $run (param $mode i32) (param $p i32) (param $n i32) (param $a f32) (param $b f32)
    (local $e i32) (local $e4 i32) (local $va v128) (local $vb v128)
    (local.set $va (f32x4.splat (local.get $a)))
    (local.set $vb (f32x4.splat (local.get $b)))
    (local.set $e (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $e4 (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $tail
      (block $m5 (block $m4 (block $m3 (block $m2 (block $m1 (block $m0
        (br_table $m0 $m1 $m2 $m3 $m4 $m5 (local.get $mode)))
        (loop $l
          (br_if $tail (i32.ge_u (local.get $p) (local.get $e4)))
          (v128.store (local.get $p) (f32x4.mul (v128.load (local.get $p)) (local.get $va)))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br $l)))
        (loop $l
          (br_if $tail (i32.ge_u (local.get $p) (local.get $e4)))
          (v128.store (local.get $p) (f32x4.add (f32x4.mul (v128.load (local.get $p)) (local.get $va)) (local.get $vb)))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br $l)))
        (loop $l
          (br_if $tail (i32.ge_u (local.get $p) (local.get $e4)))
          (v128.store (local.get $p) (f32x4.add (v128.load (local.get $p)) (local.get $vb)))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br $l)))
        (loop $l
          (br_if $tail (i32.ge_u (local.get $p) (local.get $e4)))
          (v128.store (local.get $p) (f32x4.div (f32x4.sub (v128.load (local.get $p)) (local.get $va)) (local.get $vb)))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br $l)))
        (loop $l
          (br_if $tail (i32.ge_u (local.get $p) (local.get $e4)))
          (v128.store (local.get $p) (f32x4.div (v128.load (local.get $p)) (local.get $vb)))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br $l)))
      ;; then ReLU exactly as the "relu" export with slope 0 (NaN stays NaN, negatives become -0)
      (loop $l
        (br_if $tail (i32.ge_u (local.get $p) (local.get $e4)))
        (v128.store (local.get $p) (call $relu0 (f32x4.add (f32x4.mul (v128.load (local.get $p)) (local.get $va)) (local.get $vb))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $l)))
    ;; The last n % 4 elements, same operations on one lane.
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $e)))
      (v128.store32_lane 0 (local.get $p)
        (call $one (local.get $mode) (v128.load32_zero (local.get $p)) (local.get $va) (local.get $vb)))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $l))))

  (func $relu0 (param $v v128) (result v128)
    (v128.bitselect (local.get $v) (f32x4.mul (f32x4.splat (f32.const 0)) (local.get $v))
      (f32x4.gt (local.get $v) (v128.const i32x4 0 0 0 0))))

  (func $one (param $mode i32) (param $x v128) (param $va v128) (param $vb v128) (result v128)
    (if (i32.eq (local.get $mode) (i32.const 5))
      (then (return (call $relu0 (f32x4.add (f32x4.mul (local.get $x) (local.get $va)) (local.get $vb))))))
    (block $m4 (block $m3 (block $m2 (block $m1 (block $m0
      (br_table $m0 $m1 $m2 $m3 $m4 (local.get $mode)))
      (return (f32x4.mul (local.get $x) (local.get $va))))
      (return (f32x4.add (f32x4.mul (local.get $x) (local.get $va)) (local.get $vb))))
      (return (f32x4.add (local.get $x) (local.get $vb))))
      (return (f32x4.div (f32x4.sub (local.get $x) (local.get $va)) (local.get $vb))))
    (f32x4.div (local.get $x) (local.get $vb)))

  ;; Per-row affine maps (Scale, Bias, BatchNorm) over elements [e0, e1) of a tensor of rows of
  ;; S elements, in place at p (element e0 is at p). Row r takes its operands from a[r % dim] and
  ;; b[r % dim] (float arrays at pa, pb); modes as $run.
  (func (export "rows") (param $mode i32) (param $p i32) (param $e0 i32) (param $e1 i32) (param $S i32)
    (param $dim i32) (param $pa i32) (param $pb i32)
    (local $r i32) (local $end i32) (local $d i32)
    (local.set $r (i32.div_u (local.get $e0) (local.get $S)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $e0) (local.get $e1)))
      (local.set $end (i32.mul (i32.add (local.get $r) (i32.const 1)) (local.get $S)))
      (if (i32.gt_u (local.get $end) (local.get $e1)) (then (local.set $end (local.get $e1))))
      (local.set $d (i32.shl (i32.rem_u (local.get $r) (local.get $dim)) (i32.const 2)))
      (call $run (local.get $mode) (local.get $p) (i32.sub (local.get $end) (local.get $e0))
        (f32.load (i32.add (local.get $pa) (local.get $d))) (f32.load (i32.add (local.get $pb) (local.get $d))))
      (local.set $p (i32.add (local.get $p) (i32.shl (i32.sub (local.get $end) (local.get $e0)) (i32.const 2))))
      (local.set $e0 (local.get $end))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $l))))

  ;; n floats of -inf at p
  (func $fillNegInf (param $p i32) (param $n i32)
    (block $d (loop $l
      (br_if $d (i32.eqz (local.get $n)))
      (f32.store (local.get $p) (f32.const -inf))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l))))

  ;; The padded, phase-split copy of the plane at pIn to dst (see maxpool): H rows of sW phases
  ;; of L floats each. Whole vectors where the cells lie inside the row, the ends cell by cell.
  (func $maxpoolPad (param $pIn i32) (param $H i32) (param $W i32) (param $sW i32) (param $padW i32)
    (param $L i32) (param $dst i32)
    (local $h i32) (local $q i32) (local $j i32) (local $col i32) (local $src i32) (local $n i32) (local $e i32)
    (local $a v128) (local $b v128)
    (local.set $h (i32.const 0))
    (block $hd (loop $hl
      (br_if $hd (i32.ge_u (local.get $h) (local.get $H)))
      (local.set $src (i32.add (local.get $pIn) (i32.shl (i32.mul (local.get $h) (local.get $W)) (i32.const 2))))
      ;; stride 1 (one phase): -inf, the row, -inf
      (local.set $q (i32.const 0))
      (if (i32.eq (local.get $sW) (i32.const 1)) (then
        ;; j < padW, then the columns that fit in L, then the rest of L
        (local.set $j (local.get $padW))
        (if (i32.gt_u (local.get $j) (local.get $L)) (then (local.set $j (local.get $L))))
        (local.set $col (i32.sub (local.get $L) (local.get $j)))
        (if (i32.gt_u (local.get $col) (local.get $W)) (then (local.set $col (local.get $W))))
        (call $fillNegInf (local.get $dst) (local.get $j))
        ;; (copied by vectors: memory.copy's call costs more than these short rows)
        (local.set $n (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $e (i32.const 0))
        (block $cd (loop $cl
          (br_if $cd (i32.gt_u (i32.add (local.get $e) (i32.const 4)) (local.get $col)))
          (v128.store (i32.add (local.get $n) (i32.shl (local.get $e) (i32.const 2)))
            (v128.load (i32.add (local.get $src) (i32.shl (local.get $e) (i32.const 2)))))
          (local.set $e (i32.add (local.get $e) (i32.const 4)))
          (br $cl)))
        (block $cd (loop $cl
          (br_if $cd (i32.ge_u (local.get $e) (local.get $col)))
          (f32.store (i32.add (local.get $n) (i32.shl (local.get $e) (i32.const 2)))
            (f32.load (i32.add (local.get $src) (i32.shl (local.get $e) (i32.const 2)))))
          (local.set $e (i32.add (local.get $e) (i32.const 1)))
          (br $cl)))
        (call $fillNegInf (i32.add (local.get $dst) (i32.shl (i32.add (local.get $j) (local.get $col)) (i32.const 2)))
          (i32.sub (local.get $L) (i32.add (local.get $j) (local.get $col))))
        (local.set $dst (i32.add (local.get $dst) (i32.shl (local.get $L) (i32.const 2))))
        (local.set $q (i32.const 1))))
      ;; stride 2: both phases at once. The cells before the row one by one, then eight input
      ;; columns split into four of each phase by shuffles while they lie inside the row, then the
      ;; rest one by one.
      (if (i32.eq (local.get $sW) (i32.const 2)) (then
        (local.set $j (i32.const 0))
        (local.set $col (i32.sub (i32.const 0) (local.get $padW)))
        (block $sd (loop $sl
          (br_if $sd (i32.or (i32.ge_s (local.get $col) (i32.const 0)) (i32.ge_u (local.get $j) (local.get $L))))
          (call $pad2 (local.get $src) (local.get $dst) (local.get $j) (local.get $col) (local.get $W) (local.get $L))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (local.set $col (i32.add (local.get $col) (i32.const 2)))
          (br $sl)))
        ;; vectors: n = min((L - j) / 4, (W - col) / 8)
        (local.set $n (i32.const 0))
        (if (i32.ge_s (i32.sub (local.get $W) (local.get $col)) (i32.const 8)) (then
          (local.set $n (i32.shr_u (i32.sub (local.get $W) (local.get $col)) (i32.const 3)))
          (if (i32.lt_u (i32.shr_u (i32.sub (local.get $L) (local.get $j)) (i32.const 2)) (local.get $n))
            (then (local.set $n (i32.shr_u (i32.sub (local.get $L) (local.get $j)) (i32.const 2)))))))
        (block $vd (loop $vl
          (br_if $vd (i32.eqz (local.get $n)))
          (local.set $a (v128.load (i32.add (local.get $src) (i32.shl (local.get $col) (i32.const 2)))))
          (local.set $b (v128.load offset=16 (i32.add (local.get $src) (i32.shl (local.get $col) (i32.const 2)))))
          (v128.store (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2)))
            (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a) (local.get $b)))
          (v128.store (i32.add (local.get $dst) (i32.shl (i32.add (local.get $j) (local.get $L)) (i32.const 2)))
            (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a) (local.get $b)))
          (local.set $j (i32.add (local.get $j) (i32.const 4)))
          (local.set $col (i32.add (local.get $col) (i32.const 8)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $vl)))
        (block $sd (loop $sl
          (br_if $sd (i32.ge_u (local.get $j) (local.get $L)))
          (call $pad2 (local.get $src) (local.get $dst) (local.get $j) (local.get $col) (local.get $W) (local.get $L))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (local.set $col (i32.add (local.get $col) (i32.const 2)))
          (br $sl)))
        (local.set $dst (i32.add (local.get $dst) (i32.shl (local.get $L) (i32.const 3))))
        (local.set $q (i32.const 2))))
      (block $qd (loop $ql
        (br_if $qd (i32.ge_u (local.get $q) (local.get $sW)))
        (local.set $col (i32.sub (local.get $q) (local.get $padW)))
        (local.set $j (i32.const 0))
        (block $jd (loop $jl
          (br_if $jd (i32.ge_u (local.get $j) (local.get $L)))
          (f32.store (local.get $dst)
            (if (result f32) (i32.lt_u (local.get $col) (local.get $W))
              (then (f32.load (i32.add (local.get $src) (i32.shl (local.get $col) (i32.const 2)))))
              (else (f32.const -inf))))
          (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
          (local.set $col (i32.add (local.get $col) (local.get $sW)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $jl)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $ql)))
      (local.set $h (i32.add (local.get $h) (i32.const 1)))
      (br $hl))))

  ;; One cell of each phase of the stride-2 padded row at dst: [j] = column col, [L + j] =
  ;; column col + 1 of the row at src, -inf outside [0, W).
  (func $pad2 (param $src i32) (param $dst i32) (param $j i32) (param $col i32) (param $W i32) (param $L i32)
    (f32.store (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2)))
      (if (result f32) (i32.lt_u (local.get $col) (local.get $W))
        (then (f32.load (i32.add (local.get $src) (i32.shl (local.get $col) (i32.const 2)))))
        (else (f32.const -inf))))
    (f32.store (i32.add (local.get $dst) (i32.shl (i32.add (local.get $j) (local.get $L)) (i32.const 2)))
      (if (result f32) (i32.lt_u (i32.add (local.get $col) (i32.const 1)) (local.get $W))
        (then (f32.load (i32.add (local.get $src) (i32.shl (i32.add (local.get $col) (i32.const 1)) (i32.const 2)))))
        (else (f32.const -inf)))))

  ;; MAX pooling with argmax of nPlanes planes (H x W floats each, consecutive at pIn) into
  ;; PH x PW outputs per plane (values at pY, argmax offsets h * W + w at pArg, as i32).
  ;; Output row ph reads input rows [hs[ph], he[ph]) (i32 arrays at pHs, pHe); output column pw
  ;; reads columns pw * sW - padW + kw, kw < kW, those outside [0, W) excluded. The JS loop takes
  ;; the first strict maximum (`>`, from -FLT_MAX with argmax -1) in row-major window order; this
  ;; is separable and gives the same: per input row, the first strict maximum of each output
  ;; column's window (row pass), then per output the first strict maximum of those over the
  ;; window's rows (column pass) is the first cell, in row-major order, holding the window's
  ;; maximum (NaN never wins, a window with nothing above -FLT_MAX keeps -FLT_MAX and -1).
  ;; Four adjacent outputs at once. Each plane is first copied to pPad, one row per input row,
  ;; split into sW phases (phase q holds columns j * sW + q - padW, j < L) and padded with -inf
  ;; (which never wins): the kw-th candidates of four adjacent outputs are then four consecutive
  ;; floats. L >= ceil4(PW) + (kW - 1) / sW. The row pass writes H x ceil4(PW) values and argmaxes
  ;; at pRv, pRa; pOff holds kW i32 scratch (the candidates' byte offsets in a padded row).
  (func (export "maxpool") (param $pIn i32) (param $nPlanes i32) (param $H i32) (param $W i32)
    (param $sW i32) (param $kW i32) (param $padW i32) (param $L i32) (param $PH i32) (param $PW i32)
    (param $pHs i32) (param $pHe i32) (param $pPad i32) (param $pY i32) (param $pArg i32)
    (param $pRv i32) (param $pRa i32) (param $pOff i32)
    (local $plane i32) (local $h i32) (local $ph i32) (local $pb i32) (local $he i32) (local $kw i32) (local $PW4 i32)
    (local $row i32) (local $rem i32) (local $r i32) (local $lanes v128) (local $cand v128)
    (local $best v128) (local $arg v128) (local $v v128) (local $gt v128)
    (local.set $PW4 (i32.and (i32.add (local.get $PW) (i32.const 3)) (i32.const -4)))
    ;; lane offsets 0, sW, 2 sW, 3 sW of the argmax of four adjacent outputs
    (local.set $lanes (i32x4.mul (i32x4.splat (local.get $sW)) (v128.const i32x4 0 1 2 3)))
    ;; byte offset of candidate kw in a padded row: phase kw % sW, column kw / sW
    (block $od (loop $ol
      (br_if $od (i32.ge_u (local.get $kw) (local.get $kW)))
      (i32.store (i32.add (local.get $pOff) (i32.shl (local.get $kw) (i32.const 2)))
        (i32.shl (i32.add (i32.mul (i32.rem_u (local.get $kw) (local.get $sW)) (local.get $L))
          (i32.div_u (local.get $kw) (local.get $sW))) (i32.const 2)))
      (local.set $kw (i32.add (local.get $kw) (i32.const 1)))
      (br $ol)))
    (block $planesDone (loop $planes
      (br_if $planesDone (i32.ge_u (local.get $plane) (local.get $nPlanes)))
      ;; padded, phase-split copy of the plane
      (call $maxpoolPad (local.get $pIn) (local.get $H) (local.get $W) (local.get $sW) (local.get $padW) (local.get $L) (local.get $pPad))
      ;; row pass: every input row, blocks of four output columns
      (local.set $h (i32.const 0))
      (block $hd (loop $hl
        (br_if $hd (i32.ge_u (local.get $h) (local.get $H)))
        (local.set $row (i32.add (local.get $pPad) (i32.shl (i32.mul (i32.mul (local.get $h) (local.get $sW)) (local.get $L)) (i32.const 2))))
        (local.set $r (i32.shl (i32.mul (local.get $h) (local.get $PW4)) (i32.const 2)))
        (local.set $pb (i32.const 0))
        (block $pbd (loop $pbl
          (br_if $pbd (i32.ge_u (local.get $pb) (local.get $PW)))
          (local.set $best (v128.const f32x4 -0x1.fffffep+127 -0x1.fffffep+127 -0x1.fffffep+127 -0x1.fffffep+127))
          (local.set $arg (v128.const i32x4 -1 -1 -1 -1))
          ;; argmax of candidate 0 of the four outputs: h * W + (pb + lane) * sW - padW
          (local.set $cand (i32x4.add (local.get $lanes)
            (i32x4.splat (i32.sub (i32.add (i32.mul (local.get $h) (local.get $W)) (i32.mul (local.get $pb) (local.get $sW))) (local.get $padW)))))
          (local.set $kw (i32.const 0))
          (block $kd (loop $kl
            (local.set $v (v128.load (i32.add (i32.add (local.get $row) (i32.shl (local.get $pb) (i32.const 2)))
              (i32.load (i32.add (local.get $pOff) (i32.shl (local.get $kw) (i32.const 2)))))))
            (local.set $gt (f32x4.gt (local.get $v) (local.get $best)))
            (local.set $best (v128.bitselect (local.get $v) (local.get $best) (local.get $gt)))
            (local.set $arg (v128.bitselect (local.get $cand) (local.get $arg) (local.get $gt)))
            (local.set $cand (i32x4.add (local.get $cand) (v128.const i32x4 1 1 1 1)))
            (local.set $kw (i32.add (local.get $kw) (i32.const 1)))
            (br_if $kl (i32.lt_u (local.get $kw) (local.get $kW)))))
          (v128.store (i32.add (local.get $pRv) (local.get $r)) (local.get $best))
          (v128.store (i32.add (local.get $pRa) (local.get $r)) (local.get $arg))
          (local.set $r (i32.add (local.get $r) (i32.const 16)))
          (local.set $pb (i32.add (local.get $pb) (i32.const 4)))
          (br $pbl)))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br $hl)))
      ;; column pass: each output over its window's rows
      (local.set $ph (i32.const 0))
      (block $phd (loop $phl
        (br_if $phd (i32.ge_u (local.get $ph) (local.get $PH)))
        (local.set $he (i32.load (i32.add (local.get $pHe) (i32.shl (local.get $ph) (i32.const 2)))))
        (local.set $pb (i32.const 0))
        (block $pbd (loop $pbl
          (br_if $pbd (i32.ge_u (local.get $pb) (local.get $PW)))
          (local.set $best (v128.const f32x4 -0x1.fffffep+127 -0x1.fffffep+127 -0x1.fffffep+127 -0x1.fffffep+127))
          (local.set $arg (v128.const i32x4 -1 -1 -1 -1))
          (local.set $h (i32.load (i32.add (local.get $pHs) (i32.shl (local.get $ph) (i32.const 2)))))
          (local.set $r (i32.shl (i32.add (i32.mul (local.get $h) (local.get $PW4)) (local.get $pb)) (i32.const 2)))
          (block $wd (loop $wl
            (br_if $wd (i32.ge_s (local.get $h) (local.get $he)))
            (local.set $v (v128.load (i32.add (local.get $pRv) (local.get $r))))
            (local.set $gt (f32x4.gt (local.get $v) (local.get $best)))
            (local.set $best (v128.bitselect (local.get $v) (local.get $best) (local.get $gt)))
            (local.set $arg (v128.bitselect (v128.load (i32.add (local.get $pRa) (local.get $r))) (local.get $arg) (local.get $gt)))
            (local.set $r (i32.add (local.get $r) (i32.shl (local.get $PW4) (i32.const 2))))
            (local.set $h (i32.add (local.get $h) (i32.const 1)))
            (br $wl)))
          ;; store the block (its real part at the row's end)
          (local.set $rem (i32.sub (local.get $PW) (local.get $pb)))
          (if (i32.ge_u (local.get $rem) (i32.const 4))
            (then
              (v128.store (local.get $pY) (local.get $best))
              (v128.store (local.get $pArg) (local.get $arg))
              (local.set $rem (i32.const 4)))
            (else
              (v128.store32_lane 0 (local.get $pY) (local.get $best))
              (v128.store32_lane 0 (local.get $pArg) (local.get $arg))
              (if (i32.gt_u (local.get $rem) (i32.const 1)) (then
                (v128.store32_lane offset=4 1 (local.get $pY) (local.get $best))
                (v128.store32_lane offset=4 1 (local.get $pArg) (local.get $arg))))
              (if (i32.gt_u (local.get $rem) (i32.const 2)) (then
                (v128.store32_lane offset=8 2 (local.get $pY) (local.get $best))
                (v128.store32_lane offset=8 2 (local.get $pArg) (local.get $arg))))))
          (local.set $pY (i32.add (local.get $pY) (i32.shl (local.get $rem) (i32.const 2))))
          (local.set $pArg (i32.add (local.get $pArg) (i32.shl (local.get $rem) (i32.const 2))))
          (local.set $pb (i32.add (local.get $pb) (i32.const 4)))
          (br $pbl)))
        (local.set $ph (i32.add (local.get $ph) (i32.const 1)))
        (br $phl)))
      (local.set $pIn (i32.add (local.get $pIn) (i32.shl (i32.mul (local.get $H) (local.get $W)) (i32.const 2))))
      (local.set $plane (i32.add (local.get $plane) (i32.const 1)))
      (br $planes))))

;; maxpool's values alone (same arguments and memory layout; nothing stored at pArg, pRa): for
  ;; the MAX pooling no backward reads the argmax of. pmax(best, v) is best < v ? v : best, the
  ;; loop's `if (v > best) best = v`, so NaN never wins and the values are maxpool's.
  (func (export "maxpool_values") (param $pIn i32) (param $nPlanes i32) (param $H i32) (param $W i32)
    (param $sW i32) (param $kW i32) (param $padW i32) (param $L i32) (param $PH i32) (param $PW i32)
    (param $pHs i32) (param $pHe i32) (param $pPad i32) (param $pY i32) (param $pArg i32)
    (param $pRv i32) (param $pRa i32) (param $pOff i32)
    (local $plane i32) (local $h i32) (local $ph i32) (local $pb i32) (local $he i32) (local $kw i32)
    (local $PW4 i32) (local $row i32) (local $rem i32) (local $r i32) (local $best v128) (local $a i32)
    (local $o0 i32) (local $o1 i32) (local $o2 i32)
    (local.set $PW4 (i32.and (i32.add (local.get $PW) (i32.const 3)) (i32.const -4)))
    (block $od (loop $ol
      (br_if $od (i32.ge_u (local.get $kw) (local.get $kW)))
      (i32.store (i32.add (local.get $pOff) (i32.shl (local.get $kw) (i32.const 2)))
        (i32.shl (i32.add (i32.mul (i32.rem_u (local.get $kw) (local.get $sW)) (local.get $L))
          (i32.div_u (local.get $kw) (local.get $sW))) (i32.const 2)))
      (local.set $kw (i32.add (local.get $kw) (i32.const 1)))
      (br $ol)))
    ;; (pOff holds kW offsets: read three only when there are)
    (if (i32.eq (local.get $kW) (i32.const 3)) (then
      (local.set $o0 (i32.load (local.get $pOff)))
      (local.set $o1 (i32.load offset=4 (local.get $pOff)))
      (local.set $o2 (i32.load offset=8 (local.get $pOff)))))
    (block $planesDone (loop $planes
      (br_if $planesDone (i32.ge_u (local.get $plane) (local.get $nPlanes)))
      (call $maxpoolPad (local.get $pIn) (local.get $H) (local.get $W) (local.get $sW) (local.get $padW) (local.get $L) (local.get $pPad))
      ;; row pass
      (local.set $h (i32.const 0))
      (block $hd (loop $hl
        (br_if $hd (i32.ge_u (local.get $h) (local.get $H)))
        (local.set $row (i32.add (local.get $pPad) (i32.shl (i32.mul (i32.mul (local.get $h) (local.get $sW)) (local.get $L)) (i32.const 2))))
        (local.set $r (i32.add (local.get $pRv) (i32.shl (i32.mul (local.get $h) (local.get $PW4)) (i32.const 2))))
        (local.set $pb (i32.const 0))
        (block $pbd (loop $pbl
          (br_if $pbd (i32.ge_u (local.get $pb) (local.get $PW)))
          (local.set $best (v128.const f32x4 -0x1.fffffep+127 -0x1.fffffep+127 -0x1.fffffep+127 -0x1.fffffep+127))
          (local.set $a (i32.add (local.get $row) (i32.shl (local.get $pb) (i32.const 2))))
          (if (i32.eq (local.get $kW) (i32.const 3))
            (then
              ;; the usual 3-wide window written out, in the same order
              (local.set $best (f32x4.pmax (f32x4.pmax (f32x4.pmax (local.get $best)
                (v128.load (i32.add (local.get $a) (local.get $o0))))
                (v128.load (i32.add (local.get $a) (local.get $o1))))
                (v128.load (i32.add (local.get $a) (local.get $o2))))))
            (else
              (local.set $kw (i32.const 0))
              (block $kd (loop $kl
                (local.set $best (f32x4.pmax (local.get $best)
                  (v128.load (i32.add (local.get $a) (i32.load (i32.add (local.get $pOff) (i32.shl (local.get $kw) (i32.const 2))))))))
                (local.set $kw (i32.add (local.get $kw) (i32.const 1)))
                (br_if $kl (i32.lt_u (local.get $kw) (local.get $kW)))))))
          (v128.store (local.get $r) (local.get $best))
          (local.set $r (i32.add (local.get $r) (i32.const 16)))
          (local.set $pb (i32.add (local.get $pb) (i32.const 4)))
          (br $pbl)))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br $hl)))
      ;; column pass
      (local.set $ph (i32.const 0))
      (block $phd (loop $phl
        (br_if $phd (i32.ge_u (local.get $ph) (local.get $PH)))
        (local.set $he (i32.load (i32.add (local.get $pHe) (i32.shl (local.get $ph) (i32.const 2)))))
        (local.set $pb (i32.const 0))
        (block $pbd (loop $pbl
          (br_if $pbd (i32.ge_u (local.get $pb) (local.get $PW)))
          (local.set $best (v128.const f32x4 -0x1.fffffep+127 -0x1.fffffep+127 -0x1.fffffep+127 -0x1.fffffep+127))
          (local.set $h (i32.load (i32.add (local.get $pHs) (i32.shl (local.get $ph) (i32.const 2)))))
          (local.set $r (i32.add (local.get $pRv) (i32.shl (i32.add (i32.mul (local.get $h) (local.get $PW4)) (local.get $pb)) (i32.const 2))))
          (block $wd (loop $wl
            (br_if $wd (i32.ge_s (local.get $h) (local.get $he)))
            (local.set $best (f32x4.pmax (local.get $best) (v128.load (local.get $r))))
            (local.set $r (i32.add (local.get $r) (i32.shl (local.get $PW4) (i32.const 2))))
            (local.set $h (i32.add (local.get $h) (i32.const 1)))
            (br $wl)))
          ;; store the block (its real part at the row's end)
          (local.set $rem (i32.sub (local.get $PW) (local.get $pb)))
          (if (i32.ge_u (local.get $rem) (i32.const 4))
            (then
              (v128.store (local.get $pY) (local.get $best))
              (local.set $rem (i32.const 4)))
            (else
              (v128.store32_lane 0 (local.get $pY) (local.get $best))
              (if (i32.gt_u (local.get $rem) (i32.const 1)) (then
                (v128.store32_lane offset=4 1 (local.get $pY) (local.get $best))))
              (if (i32.gt_u (local.get $rem) (i32.const 2)) (then
                (v128.store32_lane offset=8 2 (local.get $pY) (local.get $best))))))
          (local.set $pY (i32.add (local.get $pY) (i32.shl (local.get $rem) (i32.const 2))))
          (local.set $pb (i32.add (local.get $pb) (i32.const 4)))
          (br $pbl)))
        (local.set $ph (i32.add (local.get $ph) (i32.const 1)))
        (br $phl)))
      (local.set $pIn (i32.add (local.get $pIn) (i32.shl (i32.mul (local.get $H) (local.get $W)) (i32.const 2))))
      (local.set $plane (i32.add (local.get $plane) (i32.const 1)))
      (br $planes))))

  ;; LRN across channels (beta = 0.75), as the LRN layer's JS loop, for positions [p0, p1) of one
  ;; image of C channels (channel c of x at pX + 4 c ld, of y at pY + 4 c ld; x and y may be the
  ;; same floats), in blocks of at most bm positions so that the scratch stays in cache. Per block:
  ;; padded (at pPad, C + size - 1 rows of bm floats, the first and last (size - 1) / 2 zero) gets
  ;; f32(aos * f32(x^2)) of every channel first; then channel by channel the scale s = k plus the
  ;; `size` padded rows of the window (channel 0 summed in order, channel c by the running update
  ;; (s[c - 1] + head) - tail) and y = p * x with p = f32(s^-0.75), or p * p when inPlace (Caffe's
  ;; aliased powx then mul: x is then y, read by the squares alone, before any y of the block).
  ;; The scale goes to pS in rows of sld floats at the positions' columns (the image's whole
  ;; scale) when sld > 0, else to C rows of bm floats that every block reuses. Each position's
  ;; values depend on its own channels only, so any blocks or split of the positions give the
  ;; same bits. s^-0.75 is 1 / (sqrt(s) * sqrt(sqrt(s))) in double precision, as negPow075 in lrn.ts.
  (func (export "lrn_across") (param $pX i32) (param $pY i32) (param $ld i32) (param $C i32)
    (param $p0 i32) (param $p1 i32) (param $size i32) (param $aos f32) (param $k f32) (param $inPlace i32)
    (param $pPad i32) (param $pS i32) (param $sld i32) (param $bm i32)
    (local $q i32) (local $m i32) (local $mB i32) (local $m4B i32) (local $rowB i32) (local $ldB i32) (local $sB i32)
    (local $pre i32) (local $c i32) (local $x i32) (local $y i32) (local $s i32) (local $d i32) (local $jB i32)
    (local $head i32) (local $tail i32)
    (local $va v128) (local $v v128) (local $p v128) (local $r f32) (local $t f64)
    (local.set $rowB (i32.shl (local.get $bm) (i32.const 2)))
    (local.set $ldB (i32.shl (local.get $ld) (i32.const 2)))
    (local.set $sB (if (result i32) (local.get $sld) (then (i32.shl (local.get $sld) (i32.const 2))) (else (local.get $rowB))))
    (local.set $pre (i32.shr_u (i32.sub (local.get $size) (i32.const 1)) (i32.const 1)))
    ;; the zero pad rows, before and after the channels' (never written below)
    (memory.fill (local.get $pPad) (i32.const 0) (i32.mul (local.get $pre) (local.get $rowB)))
    (memory.fill (i32.add (local.get $pPad) (i32.mul (i32.add (local.get $pre) (local.get $C)) (local.get $rowB)))
      (i32.const 0) (i32.mul (local.get $pre) (local.get $rowB)))
    (local.set $va (f32x4.splat (local.get $aos)))
    (local.set $q (local.get $p0))
    (block $done (loop $blocks
      (br_if $done (i32.ge_u (local.get $q) (local.get $p1)))
      (local.set $m (i32.sub (local.get $p1) (local.get $q)))
      (if (i32.gt_u (local.get $m) (local.get $bm)) (then (local.set $m (local.get $bm))))
      (local.set $mB (i32.shl (local.get $m) (i32.const 2)))
      (local.set $m4B (i32.shl (i32.and (local.get $m) (i32.const -4)) (i32.const 2)))
      ;; the scaled squares of the block's positions, every channel
      (local.set $x (i32.add (local.get $pX) (i32.shl (local.get $q) (i32.const 2))))
      (local.set $d (i32.add (local.get $pPad) (i32.mul (local.get $pre) (local.get $rowB))))
      (local.set $c (i32.const 0))
      (block $cd (loop $cl
        (br_if $cd (i32.ge_u (local.get $c) (local.get $C)))
        (local.set $jB (i32.const 0))
        (block $jd (loop $jl
          (br_if $jd (i32.ge_u (local.get $jB) (local.get $m4B)))
          (local.set $v (v128.load (i32.add (local.get $x) (local.get $jB))))
          (v128.store (i32.add (local.get $d) (local.get $jB)) (f32x4.mul (local.get $va) (f32x4.mul (local.get $v) (local.get $v))))
          (local.set $jB (i32.add (local.get $jB) (i32.const 16)))
          (br $jl)))
        (block $jd (loop $jl
          (br_if $jd (i32.ge_u (local.get $jB) (local.get $mB)))
          (local.set $r (f32.load (i32.add (local.get $x) (local.get $jB))))
          (f32.store (i32.add (local.get $d) (local.get $jB)) (f32.mul (local.get $aos) (f32.mul (local.get $r) (local.get $r))))
          (local.set $jB (i32.add (local.get $jB) (i32.const 4)))
          (br $jl)))
        (local.set $x (i32.add (local.get $x) (local.get $ldB)))
        (local.set $d (i32.add (local.get $d) (local.get $rowB)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $cl)))
      ;; channel 0's scale: k + the first `size` padded rows, added in order (per lane)
      (local.set $s (if (result i32) (local.get $sld) (then (i32.add (local.get $pS) (i32.shl (local.get $q) (i32.const 2)))) (else (local.get $pS))))
      (local.set $jB (i32.const 0))
      (block $jd (loop $jl
        (br_if $jd (i32.ge_u (local.get $jB) (local.get $mB)))
        (local.set $v (f32x4.splat (local.get $k)))
        (local.set $d (i32.add (local.get $pPad) (local.get $jB)))
        (local.set $c (i32.const 0))
        (block $kd (loop $kl
          (br_if $kd (i32.ge_u (local.get $c) (local.get $size)))
          (local.set $v (f32x4.add (local.get $v)
            (if (result v128) (i32.lt_u (local.get $jB) (local.get $m4B))
              (then (v128.load (local.get $d)))
              (else (f32x4.splat (f32.load (local.get $d)))))))
          (local.set $d (i32.add (local.get $d) (local.get $rowB)))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $kl)))
        (if (i32.lt_u (local.get $jB) (local.get $m4B))
          (then
            (v128.store (i32.add (local.get $s) (local.get $jB)) (local.get $v))
            (local.set $jB (i32.add (local.get $jB) (i32.const 16))))
          (else
            (f32.store (i32.add (local.get $s) (local.get $jB)) (f32x4.extract_lane 0 (local.get $v)))
            (local.set $jB (i32.add (local.get $jB) (i32.const 4)))))
        (br $jl)))
      ;; channel by channel: the scale row (from channel 1 on), then the outputs
      (local.set $x (i32.add (local.get $pX) (i32.shl (local.get $q) (i32.const 2))))
      (local.set $y (i32.add (local.get $pY) (i32.shl (local.get $q) (i32.const 2))))
      (local.set $c (i32.const 0))
      (block $cd (loop $cl
        (br_if $cd (i32.ge_u (local.get $c) (local.get $C)))
        (if (local.get $c) (then
          ;; s[c] = (s[c - 1] + padded[c + size - 1]) - padded[c - 1]
          (local.set $head (i32.add (local.get $pPad) (i32.mul (i32.add (local.get $c) (i32.sub (local.get $size) (i32.const 1))) (local.get $rowB))))
          (local.set $tail (i32.add (local.get $pPad) (i32.mul (i32.sub (local.get $c) (i32.const 1)) (local.get $rowB))))
          (local.set $jB (i32.const 0))
          (block $jd (loop $jl
            (br_if $jd (i32.ge_u (local.get $jB) (local.get $m4B)))
            (v128.store (i32.add (i32.add (local.get $s) (local.get $sB)) (local.get $jB))
              (f32x4.sub
                (f32x4.add (v128.load (i32.add (local.get $s) (local.get $jB))) (v128.load (i32.add (local.get $head) (local.get $jB))))
                (v128.load (i32.add (local.get $tail) (local.get $jB)))))
            (local.set $jB (i32.add (local.get $jB) (i32.const 16)))
            (br $jl)))
          (block $jd (loop $jl
            (br_if $jd (i32.ge_u (local.get $jB) (local.get $mB)))
            (f32.store (i32.add (i32.add (local.get $s) (local.get $sB)) (local.get $jB))
              (f32.sub
                (f32.add (f32.load (i32.add (local.get $s) (local.get $jB))) (f32.load (i32.add (local.get $head) (local.get $jB))))
                (f32.load (i32.add (local.get $tail) (local.get $jB)))))
            (local.set $jB (i32.add (local.get $jB) (i32.const 4)))
            (br $jl)))
          (local.set $s (i32.add (local.get $s) (local.get $sB)))))
        ;; y = f32(s^-0.75) * x (or squared in place)
        (local.set $jB (i32.const 0))
        (block $jd (loop $jl
          (br_if $jd (i32.ge_u (local.get $jB) (local.get $m4B)))
          (local.set $p (call $negPow075x4 (v128.load (i32.add (local.get $s) (local.get $jB)))))
          (v128.store (i32.add (local.get $y) (local.get $jB))
            (f32x4.mul (local.get $p)
              (if (result v128) (local.get $inPlace) (then (local.get $p)) (else (v128.load (i32.add (local.get $x) (local.get $jB)))))))
          (local.set $jB (i32.add (local.get $jB) (i32.const 16)))
          (br $jl)))
        (block $jd (loop $jl
          (br_if $jd (i32.ge_u (local.get $jB) (local.get $mB)))
          (local.set $t (f64.sqrt (f64.promote_f32 (f32.load (i32.add (local.get $s) (local.get $jB))))))
          (local.set $r (f32.demote_f64 (f64.div (f64.const 1) (f64.mul (local.get $t) (f64.sqrt (local.get $t))))))
          (f32.store (i32.add (local.get $y) (local.get $jB))
            (f32.mul (local.get $r)
              (if (result f32) (local.get $inPlace) (then (local.get $r)) (else (f32.load (i32.add (local.get $x) (local.get $jB)))))))
          (local.set $jB (i32.add (local.get $jB) (i32.const 4)))
          (br $jl)))
        (local.set $x (i32.add (local.get $x) (local.get $ldB)))
        (local.set $y (i32.add (local.get $y) (local.get $ldB)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $cl)))
      (local.set $q (i32.add (local.get $q) (local.get $m)))
      (br $blocks))))

  ;; AVE pooling of nPlanes planes (H x W floats each, consecutive at pIn) into PH x PW outputs per
  ;; plane (consecutive at pY), as the Pooling layer's JS loop: output (ph, pw) is the sum in double
  ;; precision, from +0 in row-major order, of the cells of rows [hs, he) and columns [ws, we),
  ;; divided (in double) by spanH * spanW and rounded to float32, where for rows a = ph * sH - padH,
  ;; b = min(a + kH, H + padH), hs = max(a, 0), he = min(b, H), spanH = b - a (poolWindows), and
  ;; likewise for columns. The f64x2 lanes are planes, each summing its own window in that order:
  ;; four planes at a time (two pairs, two chains of additions), then the last ones alone.
  (func (export "avepool") (param $pIn i32) (param $nPlanes i32) (param $H i32) (param $W i32)
    (param $kH i32) (param $kW i32) (param $sH i32) (param $sW i32) (param $padH i32) (param $padW i32)
    (param $PH i32) (param $PW i32) (param $pY i32)
    (local $plane i32) (local $group i32) (local $inB i32) (local $outB i32) (local $ph i32) (local $pw i32)
    (local $a i32) (local $b i32) (local $hs i32) (local $he i32) (local $spanH i32) (local $ws i32) (local $we i32)
    (local $h i32) (local $e i32) (local $end i32) (local $o i32) (local $pa i32) (local $pc i32)
    (local $div f64) (local $sum f64) (local $acc0 v128) (local $acc1 v128) (local $q v128)
    (local.set $inB (i32.shl (i32.mul (local.get $H) (local.get $W)) (i32.const 2)))
    (local.set $outB (i32.shl (i32.mul (local.get $PH) (local.get $PW)) (i32.const 2)))
    (block $planesDone (loop $planes
      (br_if $planesDone (i32.ge_u (local.get $plane) (local.get $nPlanes)))
      ;; four planes, or one
      (local.set $group (select (i32.const 4) (i32.const 1)
        (i32.le_u (i32.add (local.get $plane) (i32.const 4)) (local.get $nPlanes))))
      (local.set $pa (i32.add (local.get $pIn) (i32.mul (local.get $plane) (local.get $inB))))
      (local.set $pc (i32.add (local.get $pa) (i32.shl (local.get $inB) (i32.const 1))))
      (local.set $ph (i32.const 0))
      (block $phd (loop $phl
        (br_if $phd (i32.ge_u (local.get $ph) (local.get $PH)))
        (local.set $a (i32.sub (i32.mul (local.get $ph) (local.get $sH)) (local.get $padH)))
        (local.set $b (i32.add (local.get $a) (local.get $kH)))
        (if (i32.gt_s (local.get $b) (i32.add (local.get $H) (local.get $padH))) (then (local.set $b (i32.add (local.get $H) (local.get $padH)))))
        (local.set $spanH (i32.sub (local.get $b) (local.get $a)))
        (local.set $hs (select (local.get $a) (i32.const 0) (i32.gt_s (local.get $a) (i32.const 0))))
        (local.set $he (select (local.get $b) (local.get $H) (i32.lt_s (local.get $b) (local.get $H))))
        (local.set $pw (i32.const 0))
        (block $pwd (loop $pwl
          (br_if $pwd (i32.ge_u (local.get $pw) (local.get $PW)))
          (local.set $a (i32.sub (i32.mul (local.get $pw) (local.get $sW)) (local.get $padW)))
          (local.set $b (i32.add (local.get $a) (local.get $kW)))
          (if (i32.gt_s (local.get $b) (i32.add (local.get $W) (local.get $padW))) (then (local.set $b (i32.add (local.get $W) (local.get $padW)))))
          (local.set $div (f64.convert_i32_s (i32.mul (local.get $spanH) (i32.sub (local.get $b) (local.get $a)))))
          (local.set $ws (select (local.get $a) (i32.const 0) (i32.gt_s (local.get $a) (i32.const 0))))
          (local.set $we (select (local.get $b) (local.get $W) (i32.lt_s (local.get $b) (local.get $W))))
          (local.set $o (i32.add (local.get $pY) (i32.add (i32.mul (local.get $plane) (local.get $outB))
            (i32.shl (i32.add (i32.mul (local.get $ph) (local.get $PW)) (local.get $pw)) (i32.const 2)))))
          (if (i32.eq (local.get $group) (i32.const 4))
            (then
              (local.set $acc0 (v128.const f64x2 0 0))
              (local.set $acc1 (v128.const f64x2 0 0))
              (local.set $h (local.get $hs))
              (block $hd (loop $hl
                (br_if $hd (i32.ge_s (local.get $h) (local.get $he)))
                (local.set $e (i32.shl (i32.add (i32.mul (local.get $h) (local.get $W)) (local.get $ws)) (i32.const 2)))
                (local.set $end (i32.shl (i32.add (i32.mul (local.get $h) (local.get $W)) (local.get $we)) (i32.const 2)))
                (block $wd (loop $wl
                  (br_if $wd (i32.ge_s (local.get $e) (local.get $end)))
                  (local.set $acc0 (f64x2.add (local.get $acc0) (f64x2.promote_low_f32x4
                    (v128.load32_lane 1 (i32.add (i32.add (local.get $pa) (local.get $inB)) (local.get $e))
                      (v128.load32_zero (i32.add (local.get $pa) (local.get $e)))))))
                  (local.set $acc1 (f64x2.add (local.get $acc1) (f64x2.promote_low_f32x4
                    (v128.load32_lane 1 (i32.add (i32.add (local.get $pc) (local.get $inB)) (local.get $e))
                      (v128.load32_zero (i32.add (local.get $pc) (local.get $e)))))))
                  (local.set $e (i32.add (local.get $e) (i32.const 4)))
                  (br $wl)))
                (local.set $h (i32.add (local.get $h) (i32.const 1)))
                (br $hl)))
              (local.set $q (f32x4.demote_f64x2_zero (f64x2.div (local.get $acc0) (f64x2.splat (local.get $div)))))
              (v128.store32_lane 0 (local.get $o) (local.get $q))
              (v128.store32_lane 1 (i32.add (local.get $o) (local.get $outB)) (local.get $q))
              (local.set $q (f32x4.demote_f64x2_zero (f64x2.div (local.get $acc1) (f64x2.splat (local.get $div)))))
              (local.set $o (i32.add (local.get $o) (i32.shl (local.get $outB) (i32.const 1))))
              (v128.store32_lane 0 (local.get $o) (local.get $q))
              (v128.store32_lane 1 (i32.add (local.get $o) (local.get $outB)) (local.get $q)))
            (else
              (local.set $sum (f64.const 0))
              (local.set $h (local.get $hs))
              (block $hd (loop $hl
                (br_if $hd (i32.ge_s (local.get $h) (local.get $he)))
                (local.set $e (i32.shl (i32.add (i32.mul (local.get $h) (local.get $W)) (local.get $ws)) (i32.const 2)))
                (local.set $end (i32.shl (i32.add (i32.mul (local.get $h) (local.get $W)) (local.get $we)) (i32.const 2)))
                (block $wd (loop $wl
                  (br_if $wd (i32.ge_s (local.get $e) (local.get $end)))
                  (local.set $sum (f64.add (local.get $sum) (f64.promote_f32 (f32.load (i32.add (local.get $pa) (local.get $e))))))
                  (local.set $e (i32.add (local.get $e) (i32.const 4)))
                  (br $wl)))
                (local.set $h (i32.add (local.get $h) (i32.const 1)))
                (br $hl)))
              (f32.store (local.get $o) (f32.demote_f64 (f64.div (local.get $sum) (local.get $div))))))
          (local.set $pw (i32.add (local.get $pw) (i32.const 1)))
          (br $pwl)))
        (local.set $ph (i32.add (local.get $ph) (i32.const 1)))
        (br $phl)))
      (local.set $plane (i32.add (local.get $plane) (local.get $group)))
      (br $planes))))

  ;; p = f32(s^-0.75) for the four floats of v: 1 / (sqrt(s) * sqrt(sqrt(s))) in double precision.
  (func $negPow075x4 (param $v v128) (result v128)
    (local $lo v128) (local $hi v128)
    (local.set $lo (f64x2.sqrt (f64x2.promote_low_f32x4 (local.get $v))))
    (local.set $hi (f64x2.sqrt (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
    (local.set $lo (f64x2.div (v128.const f64x2 1 1) (f64x2.mul (local.get $lo) (f64x2.sqrt (local.get $lo)))))
    (local.set $hi (f64x2.div (v128.const f64x2 1 1) (f64x2.mul (local.get $hi) (f64x2.sqrt (local.get $hi)))))
    (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
      (f32x4.demote_f64x2_zero (local.get $lo)) (f32x4.demote_f64x2_zero (local.get $hi))))

  ;; LRN across channels, backward (beta = 0.75), one image of C channels of hw floats, as the LRN
  ;; layer's JS loop. In: x (pX), y (pY), the top diff (pG), scale (pS). Out: the bottom diff
  ;; (pD) = p * dy (p = f32(scale^-0.75)), or p * p when inPlace, which also replaces dy (the
  ;; diffs are one array); then ratio (pR, C + size - 1 channels, zero padded) = f32(dy * y) / scale,
  ;; and down the channels a running float32 window sum `acc` (pA, hw floats) of `size` ratio
  ;; channels: D[c] += f32(negCrv * f32(x[c] * acc)). hw floats at a time: 4 lanes, then a tail.
  (func (export "lrn_across_backward") (param $pX i32) (param $pY i32) (param $pG i32) (param $pS i32)
    (param $C i32) (param $hw i32) (param $size i32) (param $negCrv f32) (param $inPlace i32)
    (param $pD i32) (param $pR i32) (param $pA i32)
    (local $n i32) (local $e i32) (local $o i32) (local $c i32) (local $i i32) (local $hwBytes i32) (local $padBytes i32)
    (local $hw4 i32) (local $p v128) (local $nc v128) (local $acc v128) (local $q f32) (local $t f64) (local $a f32)
    (local.set $n (i32.mul (local.get $C) (local.get $hw)))
    (local.set $hwBytes (i32.shl (local.get $hw) (i32.const 2)))
    (local.set $padBytes (i32.mul (i32.shr_u (i32.sub (local.get $size) (i32.const 1)) (i32.const 1)) (local.get $hwBytes)))
    (local.set $hw4 (i32.and (local.get $hw) (i32.const -4)))
    (local.set $nc (f32x4.splat (local.get $negCrv)))
    ;; D = p * dy, or p * p (and dy = p * p) in place
    (local.set $e (i32.const 0))
    (block $d (loop $l
      (br_if $d (i32.gt_u (i32.add (local.get $e) (i32.const 4)) (local.get $n)))
      (local.set $o (i32.shl (local.get $e) (i32.const 2)))
      (local.set $p (call $negPow075x4 (v128.load (i32.add (local.get $pS) (local.get $o)))))
      (if (local.get $inPlace)
        (then
          (local.set $p (f32x4.mul (local.get $p) (local.get $p)))
          (v128.store (i32.add (local.get $pG) (local.get $o)) (local.get $p))
          (v128.store (i32.add (local.get $pD) (local.get $o)) (local.get $p)))
        (else
          (v128.store (i32.add (local.get $pD) (local.get $o))
            (f32x4.mul (local.get $p) (v128.load (i32.add (local.get $pG) (local.get $o)))))))
      (local.set $e (i32.add (local.get $e) (i32.const 4)))
      (br $l)))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $e) (local.get $n)))
      (local.set $o (i32.shl (local.get $e) (i32.const 2)))
      (local.set $t (f64.sqrt (f64.promote_f32 (f32.load (i32.add (local.get $pS) (local.get $o))))))
      (local.set $q (f32.demote_f64 (f64.div (f64.const 1) (f64.mul (local.get $t) (f64.sqrt (local.get $t))))))
      (if (local.get $inPlace)
        (then
          (local.set $q (f32.mul (local.get $q) (local.get $q)))
          (f32.store (i32.add (local.get $pG) (local.get $o)) (local.get $q))
          (f32.store (i32.add (local.get $pD) (local.get $o)) (local.get $q)))
        (else
          (f32.store (i32.add (local.get $pD) (local.get $o))
            (f32.mul (local.get $q) (f32.load (i32.add (local.get $pG) (local.get $o)))))))
      (local.set $e (i32.add (local.get $e) (i32.const 1)))
      (br $l)))
    ;; ratio, between its zero pad channels
    (memory.fill (local.get $pR) (i32.const 0) (local.get $padBytes))
    (memory.fill (i32.add (i32.add (local.get $pR) (local.get $padBytes)) (i32.shl (local.get $n) (i32.const 2)))
      (i32.const 0) (local.get $padBytes))
    (local.set $e (i32.const 0))
    (block $d (loop $l
      (br_if $d (i32.gt_u (i32.add (local.get $e) (i32.const 4)) (local.get $n)))
      (local.set $o (i32.shl (local.get $e) (i32.const 2)))
      (v128.store (i32.add (i32.add (local.get $pR) (local.get $padBytes)) (local.get $o))
        (f32x4.div
          (f32x4.mul (v128.load (i32.add (local.get $pG) (local.get $o))) (v128.load (i32.add (local.get $pY) (local.get $o))))
          (v128.load (i32.add (local.get $pS) (local.get $o)))))
      (local.set $e (i32.add (local.get $e) (i32.const 4)))
      (br $l)))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $e) (local.get $n)))
      (local.set $o (i32.shl (local.get $e) (i32.const 2)))
      (f32.store (i32.add (i32.add (local.get $pR) (local.get $padBytes)) (local.get $o))
        (f32.div
          (f32.mul (f32.load (i32.add (local.get $pG) (local.get $o))) (f32.load (i32.add (local.get $pY) (local.get $o))))
          (f32.load (i32.add (local.get $pS) (local.get $o)))))
      (local.set $e (i32.add (local.get $e) (i32.const 1)))
      (br $l)))
    ;; acc = the first size - 1 ratio channels, added in order
    (memory.fill (local.get $pA) (i32.const 0) (local.get $hwBytes))
    (local.set $c (i32.const 0))
    (block $d (loop $l
      (br_if $d (i32.ge_u (i32.add (local.get $c) (i32.const 1)) (local.get $size)))
      (local.set $o (i32.add (local.get $pR) (i32.mul (local.get $c) (local.get $hwBytes))))
      (local.set $i (i32.const 0))
      (block $id (loop $il
        (br_if $id (i32.ge_u (local.get $i) (local.get $hw)))
        (f32.store (i32.add (local.get $pA) (i32.shl (local.get $i) (i32.const 2)))
          (f32.add (f32.load (i32.add (local.get $pA) (i32.shl (local.get $i) (i32.const 2))))
            (f32.load (i32.add (local.get $o) (i32.shl (local.get $i) (i32.const 2))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $il)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $l)))
    ;; down the channels: acc += head; D += f32(negCrv * f32(x * acc)); acc -= tail
    (local.set $c (i32.const 0))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $c) (local.get $C)))
      (local.set $i (i32.const 0))
      (block $id (loop $il
        (br_if $id (i32.ge_u (local.get $i) (local.get $hw4)))
        (local.set $o (i32.shl (i32.add (i32.mul (local.get $c) (local.get $hw)) (local.get $i)) (i32.const 2)))
        (local.set $acc (f32x4.add (v128.load (i32.add (local.get $pA) (i32.shl (local.get $i) (i32.const 2))))
          (v128.load (i32.add (i32.add (local.get $pR) (local.get $o)) (i32.mul (i32.sub (local.get $size) (i32.const 1)) (local.get $hwBytes))))))
        (v128.store (i32.add (local.get $pD) (local.get $o))
          (f32x4.add (v128.load (i32.add (local.get $pD) (local.get $o)))
            (f32x4.mul (local.get $nc) (f32x4.mul (v128.load (i32.add (local.get $pX) (local.get $o))) (local.get $acc)))))
        (v128.store (i32.add (local.get $pA) (i32.shl (local.get $i) (i32.const 2)))
          (f32x4.sub (local.get $acc) (v128.load (i32.add (local.get $pR) (local.get $o)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $il)))
      (block $id (loop $il
        (br_if $id (i32.ge_u (local.get $i) (local.get $hw)))
        (local.set $o (i32.shl (i32.add (i32.mul (local.get $c) (local.get $hw)) (local.get $i)) (i32.const 2)))
        (local.set $a (f32.add (f32.load (i32.add (local.get $pA) (i32.shl (local.get $i) (i32.const 2))))
          (f32.load (i32.add (i32.add (local.get $pR) (local.get $o)) (i32.mul (i32.sub (local.get $size) (i32.const 1)) (local.get $hwBytes))))))
        (f32.store (i32.add (local.get $pD) (local.get $o))
          (f32.add (f32.load (i32.add (local.get $pD) (local.get $o)))
            (f32.mul (local.get $negCrv) (f32.mul (f32.load (i32.add (local.get $pX) (local.get $o))) (local.get $a)))))
        (f32.store (i32.add (local.get $pA) (i32.shl (local.get $i) (i32.const 2)))
          (f32.sub (local.get $a) (f32.load (i32.add (local.get $pR) (local.get $o)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $il)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $l))))

  ;; Scale's fused backward over `rows` whole rows of S floats: the top diff at pG (overwritten
  ;; by the bottom diff, f * dy with f = scale[(r0 + row) % dim], the scale at pScale) and the
  ;; bottom data at pX. Per row, as doubles: the sum of dy into pDb (when wantDb; four partial
  ;; sums over i % 4, the tail into the first, then (s0 + s1) + (s2 + s3), as sumRange in
  ;; loops.ts) and the sum of f32(dy * x) into pSd (two partial sums over i % 2, then s0 + s1, as
  ;; scaleGradRow in rows.ts): the same additions in the same order, so the same doubles.
  (func (export "scale_backward") (param $pG i32) (param $pX i32) (param $rows i32) (param $S i32) (param $r0 i32)
    (param $dim i32) (param $pScale i32) (param $wantDb i32) (param $pDb i32) (param $pSd i32)
    (local $row i32) (local $i i32) (local $o i32) (local $S4 i32) (local $f v128) (local $g v128) (local $prod v128)
    (local $a v128) (local $b v128) (local $c v128) (local $t f32)
    (local.set $S4 (i32.and (local.get $S) (i32.const -4)))
    (block $rd (loop $rl
      (br_if $rd (i32.ge_u (local.get $row) (local.get $rows)))
      (local.set $f (v128.load32_splat (i32.add (local.get $pScale)
        (i32.shl (i32.rem_u (i32.add (local.get $r0) (local.get $row)) (local.get $dim)) (i32.const 2)))))
      (local.set $a (v128.const i64x2 0 0))
      (local.set $b (v128.const i64x2 0 0))
      (local.set $c (v128.const i64x2 0 0))
      (local.set $i (i32.const 0))
      (block $d (loop $l
        (br_if $d (i32.ge_u (local.get $i) (local.get $S4)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $g (v128.load (i32.add (local.get $pG) (local.get $o))))
        (local.set $a (f64x2.add (local.get $a) (f64x2.promote_low_f32x4 (local.get $g))))
        (local.set $b (f64x2.add (local.get $b)
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $g) (local.get $g)))))
        (local.set $prod (f32x4.mul (local.get $g) (v128.load (i32.add (local.get $pX) (local.get $o)))))
        (local.set $c (f64x2.add (local.get $c) (f64x2.promote_low_f32x4 (local.get $prod))))
        (local.set $c (f64x2.add (local.get $c)
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $prod) (local.get $prod)))))
        (v128.store (i32.add (local.get $pG) (local.get $o)) (f32x4.mul (local.get $f) (local.get $g)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $l)))
      ;; the tail: its first pair (if two or more are left) to both lanes of c, every element of
      ;; it to lane 0 of a, the last odd one to lane 0 of c
      (if (i32.le_u (i32.add (local.get $i) (i32.const 2)) (local.get $S)) (then
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $g (v128.load64_zero (i32.add (local.get $pG) (local.get $o))))
        (local.set $prod (f32x4.mul (local.get $g) (v128.load64_zero (i32.add (local.get $pX) (local.get $o)))))
        (local.set $c (f64x2.add (local.get $c) (f64x2.promote_low_f32x4 (local.get $prod))))))
      (block $d (loop $l
        (br_if $d (i32.ge_u (local.get $i) (local.get $S)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $t (f32.load (i32.add (local.get $pG) (local.get $o))))
        (local.set $a (f64x2.replace_lane 0 (local.get $a)
          (f64.add (f64x2.extract_lane 0 (local.get $a)) (f64.promote_f32 (local.get $t)))))
        (if (i32.and (i32.eq (local.get $i) (i32.sub (local.get $S) (i32.const 1))) (i32.and (local.get $S) (i32.const 1))) (then
          ;; the last element of an odd tail: f32(dy * x) into s0
          (local.set $c (f64x2.replace_lane 0 (local.get $c)
            (f64.add (f64x2.extract_lane 0 (local.get $c))
              (f64.promote_f32 (f32.mul (local.get $t) (f32.load (i32.add (local.get $pX) (local.get $o))))))))))
        (f32.store (i32.add (local.get $pG) (local.get $o)) (f32.mul (f32x4.extract_lane 0 (local.get $f)) (local.get $t)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
      (if (local.get $wantDb) (then
        (f64.store (i32.add (local.get $pDb) (i32.shl (local.get $row) (i32.const 3)))
          (f64.add
            (f64.add (f64x2.extract_lane 0 (local.get $a)) (f64x2.extract_lane 1 (local.get $a)))
            (f64.add (f64x2.extract_lane 0 (local.get $b)) (f64x2.extract_lane 1 (local.get $b)))))))
      (f64.store (i32.add (local.get $pSd) (i32.shl (local.get $row) (i32.const 3)))
        (f64.add (f64x2.extract_lane 0 (local.get $c)) (f64x2.extract_lane 1 (local.get $c))))
      (local.set $pG (i32.add (local.get $pG) (i32.shl (local.get $S) (i32.const 2))))
      (local.set $pX (i32.add (local.get $pX) (i32.shl (local.get $S) (i32.const 2))))
      (local.set $row (i32.add (local.get $row) (i32.const 1)))
      (br $rl))))

  ;; MT19937 (the state, 624 words at pMt, next index mti) drawing n Bernoulli(p) bytes into pOut
  ;; exactly as n calls of Rng.bernoulli in rng.ts: per draw two tempered words a, b, then
  ;; ((a >>> 5) * 2^26 + (b >>> 6)) / 2^53 < p, all exact in double precision. Returns the new mti.
  (func $twist (param $pMt i32)
    (local $k i32) (local $y i32) (local $a i32) (local $next i32) (local $far i32)
    ;; word k mixes words k and k + 1 (mod 624) with word k + 397 (mod 624), k ascending, in place
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $k) (i32.const 624)))
      (local.set $a (i32.add (local.get $pMt) (i32.shl (local.get $k) (i32.const 2))))
      (local.set $next (i32.add (local.get $a) (i32.const 4)))
      (if (i32.eq (local.get $k) (i32.const 623)) (then (local.set $next (local.get $pMt))))
      (local.set $far (i32.add (local.get $a) (i32.const 1588)))
      (if (i32.ge_u (local.get $k) (i32.const 227)) (then (local.set $far (i32.sub (local.get $far) (i32.const 2496)))))
      (local.set $y (i32.or
        (i32.and (i32.load (local.get $a)) (i32.const 0x80000000))
        (i32.and (i32.load (local.get $next)) (i32.const 0x7fffffff))))
      (i32.store (local.get $a)
        (i32.xor
          (i32.xor (i32.load (local.get $far)) (i32.shr_u (local.get $y) (i32.const 1)))
          (i32.and (i32.const 0x9908b0df) (i32.sub (i32.const 0) (i32.and (local.get $y) (i32.const 1))))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $l))))

  (func (export "mt_bernoulli") (param $pMt i32) (param $mti i32) (param $n i32) (param $p f64) (param $pOut i32) (result i32)
    (local $i i32) (local $j i32) (local $y i32) (local $a f64)
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $j (i32.const 0))
      (block $wd (loop $wl
        (if (i32.ge_u (local.get $mti) (i32.const 624)) (then
          (call $twist (local.get $pMt))
          (local.set $mti (i32.const 0))))
        (local.set $y (i32.load (i32.add (local.get $pMt) (i32.shl (local.get $mti) (i32.const 2)))))
        (local.set $mti (i32.add (local.get $mti) (i32.const 1)))
        (local.set $y (i32.xor (local.get $y) (i32.shr_u (local.get $y) (i32.const 11))))
        (local.set $y (i32.xor (local.get $y) (i32.and (i32.shl (local.get $y) (i32.const 7)) (i32.const 0x9d2c5680))))
        (local.set $y (i32.xor (local.get $y) (i32.and (i32.shl (local.get $y) (i32.const 15)) (i32.const 0xefc60000))))
        (local.set $y (i32.xor (local.get $y) (i32.shr_u (local.get $y) (i32.const 18))))
        (br_if $wd (local.get $j))
        (local.set $a (f64.convert_i32_u (i32.shr_u (local.get $y) (i32.const 5))))
        (local.set $j (i32.const 1))
        (br $wl)))
      (i32.store8 (i32.add (local.get $pOut) (local.get $i))
        (f64.lt
          (f64.div
            (f64.add (f64.mul (local.get $a) (f64.const 67108864)) (f64.convert_i32_u (i32.shr_u (local.get $y) (i32.const 6))))
            (f64.const 9007199254740992))
          (local.get $p)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $mti))

  ;; im2col of one image (2-D, Caffe's layout, as im2col in im2col.ts): C x H x W floats at pIm
  ;; into (C * kH * kW) x (outH * outW) at pCol; element [(c, kr, kc), (y, x)] is
  ;; im[c, y * sH - padH + kr * dH, x * sW - padW + kc * dW], or 0 in the padding. Per (c, kr, kc)
  ;; the valid output columns [x0, x1) are computed once; stride-1 rows are copied with
  ;; memory.copy, strided ones gathered.
  (func (export "im2col") (param $pIm i32) (param $C i32) (param $H i32) (param $W i32) (param $kH i32) (param $kW i32)
    (param $padH i32) (param $padW i32) (param $sH i32) (param $sW i32) (param $dH i32) (param $dW i32)
    (param $outH i32) (param $outW i32) (param $pCol i32)
    (local $c i32) (local $kr i32) (local $kc i32) (local $y i32) (local $x i32) (local $iy i32) (local $off i32)
    (local $x0 i32) (local $x1 i32) (local $src i32) (local $rowBytes i32) (local $plane i32)
    (local.set $rowBytes (i32.shl (local.get $outW) (i32.const 2)))
    (local.set $plane (i32.shl (i32.mul (local.get $H) (local.get $W)) (i32.const 2)))
    (block $cd (loop $cl
      (br_if $cd (i32.ge_u (local.get $c) (local.get $C)))
      (local.set $kr (i32.const 0))
      (block $krd (loop $krl
        (br_if $krd (i32.ge_u (local.get $kr) (local.get $kH)))
        (local.set $kc (i32.const 0))
        (block $kcd (loop $kcl
          (br_if $kcd (i32.ge_u (local.get $kc) (local.get $kW)))
          ;; valid columns: 0 <= x * sW + off < W
          (local.set $off (i32.sub (i32.mul (local.get $kc) (local.get $dW)) (local.get $padW)))
          (local.set $x0 (i32.const 0))
          (if (i32.lt_s (local.get $off) (i32.const 0)) (then
            (local.set $x0 (i32.div_u (i32.sub (i32.add (i32.sub (i32.const 0) (local.get $off)) (local.get $sW)) (i32.const 1)) (local.get $sW)))))
          (if (i32.gt_s (local.get $x0) (local.get $outW)) (then (local.set $x0 (local.get $outW))))
          (local.set $x1 (i32.const 0))
          (if (i32.ge_s (i32.sub (i32.sub (local.get $W) (i32.const 1)) (local.get $off)) (i32.const 0)) (then
            (local.set $x1 (i32.add (i32.div_u (i32.sub (i32.sub (local.get $W) (i32.const 1)) (local.get $off)) (local.get $sW)) (i32.const 1)))))
          (if (i32.gt_s (local.get $x1) (local.get $outW)) (then (local.set $x1 (local.get $outW))))
          (if (i32.lt_s (local.get $x1) (local.get $x0)) (then (local.set $x1 (local.get $x0))))
          (local.set $y (i32.const 0))
          (block $yd (loop $yl
            (br_if $yd (i32.ge_u (local.get $y) (local.get $outH)))
            (local.set $iy (i32.add (i32.sub (i32.mul (local.get $y) (local.get $sH)) (local.get $padH)) (i32.mul (local.get $kr) (local.get $dH))))
            (if (i32.ge_u (local.get $iy) (local.get $H))
              (then (memory.fill (local.get $pCol) (i32.const 0) (local.get $rowBytes)))
              (else
                (memory.fill (local.get $pCol) (i32.const 0) (i32.shl (local.get $x0) (i32.const 2)))
                ;; image element of output column x: row iy, column x * sW + off
                (local.set $src (i32.add (i32.add (local.get $pIm) (i32.mul (local.get $c) (local.get $plane)))
                  (i32.shl (i32.add (i32.mul (local.get $iy) (local.get $W)) (local.get $off)) (i32.const 2))))
                (if (i32.eq (local.get $sW) (i32.const 1))
                  (then
                    (memory.copy (i32.add (local.get $pCol) (i32.shl (local.get $x0) (i32.const 2)))
                      (i32.add (local.get $src) (i32.shl (local.get $x0) (i32.const 2)))
                      (i32.shl (i32.sub (local.get $x1) (local.get $x0)) (i32.const 2))))
                  (else
                    ;; x counts bytes of the column row, src steps sW floats
                    (local.set $x (i32.shl (local.get $x0) (i32.const 2)))
                    (local.set $src (i32.add (local.get $src) (i32.shl (i32.mul (local.get $x0) (local.get $sW)) (i32.const 2))))
                    (local.set $iy (i32.shl (local.get $sW) (i32.const 2)))
                    (block $xd (loop $xl
                      (br_if $xd (i32.ge_u (local.get $x) (i32.shl (local.get $x1) (i32.const 2))))
                      (f32.store (i32.add (local.get $pCol) (local.get $x)) (f32.load (local.get $src)))
                      (local.set $src (i32.add (local.get $src) (local.get $iy)))
                      (local.set $x (i32.add (local.get $x) (i32.const 4)))
                      (br $xl)))))
                (memory.fill (i32.add (local.get $pCol) (i32.shl (local.get $x1) (i32.const 2))) (i32.const 0)
                  (i32.shl (i32.sub (local.get $outW) (local.get $x1)) (i32.const 2)))))
            (local.set $pCol (i32.add (local.get $pCol) (local.get $rowBytes)))
            (local.set $y (i32.add (local.get $y) (i32.const 1)))
            (br $yl)))
          (local.set $kc (i32.add (local.get $kc) (i32.const 1)))
          (br $kcl)))
        (local.set $kr (i32.add (local.get $kr) (i32.const 1)))
        (br $krl)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $cl))))
)
