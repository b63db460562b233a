// AdaDeltaSolver, as Caffe's AdaDeltaSolver::ComputeUpdateValue, with two history sets: history
// [0, N) holds the running mean of squared gradients (hg), [N, 2N) that of squared updates (hu):
//   hg = momentum * hg + (1 - momentum) * diff^2
//   diff = diff * sqrt((hu + delta) / (hg + delta))
//   hu = momentum * hu + (1 - momentum) * diff^2
//   diff = local_rate * diff
import { adadeltaSimd, simdKernel, SIMD_MIN } from '../kernels/simd.js';
import { SGDSolver } from './sgd.js';

const f = Math.fround;

export class AdaDeltaSolver extends SGDSolver {
  override get type(): string {
    return 'AdaDelta';
  }

  protected override historySets(): number {
    return 2;
  }

  protected override computeUpdateValue(id: number, rate: number): void {
    const lr = this.localRate(id, rate);
    const delta = f(this.param.delta);
    const m = f(this.param.momentum);
    const oneMinus = f(1 - m);
    const n = this.net.learnableParams.length;
    const g = this.net.learnableParams[id].diff;
    const hg = this.history[id].data;
    const hu = this.history[n + id].data;
    const k = g.length >= SIMD_MIN ? simdKernel() : null;
    if (k) return adadeltaSimd(k, g, hg, hu, g.length, m, oneMinus, delta, lr);
    for (let i = 0; i < g.length; i++) {
      const gi = g[i];
      const hgi = f(f(m * hg[i]) + f(oneMinus * f(gi * gi)));
      hg[i] = hgi;
      const ratio = f(f(delta + hu[i]) / f(delta + hgi));
      const step = f(gi * f(Math.sqrt(ratio)));
      hu[i] = f(f(m * hu[i]) + f(oneMinus * f(step * step)));
      g[i] = f(lr * step);
    }
  }
}
