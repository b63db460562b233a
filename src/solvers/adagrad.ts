// AdaGradSolver, as Caffe's AdaGradSolver::ComputeUpdateValue:
//   h += diff^2
//   diff = local_rate * diff / (sqrt(h) + delta)
// Caffe refuses a momentum with AdaGrad.
import { rmsSimd, simdKernel, SIMD_MIN } from '../kernels/simd.js';
import { SGDSolver } from './sgd.js';

const f = Math.fround;

export class AdaGradSolver extends SGDSolver {
  override get type(): string {
    return 'AdaGrad';
  }

  protected override checkParams(): void {
    if (this.param.momentum !== 0) throw this.error(`momentum cannot be used with AdaGrad (got momentum ${this.param.momentum})`);
  }

  protected override computeUpdateValue(id: number, rate: number): void {
    const lr = this.localRate(id, rate);
    const delta = f(this.param.delta);
    const g = this.net.learnableParams[id].diff;
    const h = this.history[id].data;
    // f(1 * h) and f(1 * g^2) are exact, and + commutes: RMSProp's kernel with decay = 1, omd = 1.
    const k = g.length >= SIMD_MIN ? simdKernel() : null;
    if (k) return rmsSimd(k, g, h, g.length, 1, 1, delta, lr);
    for (let i = 0; i < g.length; i++) {
      const gi = g[i];
      const hi = f(f(gi * gi) + h[i]);
      h[i] = hi;
      const u = f(gi / f(f(Math.sqrt(hi)) + delta));
      g[i] = f(lr * u);
    }
  }
}
