// NesterovSolver: Nesterov's accelerated gradient, as Caffe's NesterovSolver::ComputeUpdateValue:
//   h' = momentum * h + local_rate * diff
//   diff = (1 + momentum) * h' - momentum * h
// (the step back to the previous momentum, then the over-step). Everything else is SGDSolver's.
import { nesterovSimd, simdKernel, SIMD_MIN } from '../kernels/simd.js';
import { SGDSolver } from './sgd.js';

const f = Math.fround;

export class NesterovSolver extends SGDSolver {
  override get type(): string {
    return 'Nesterov';
  }

  protected override computeUpdateValue(id: number, rate: number): void {
    const lr = this.localRate(id, rate);
    const m = f(this.param.momentum);
    const onePlusM = f(1 + m);
    const g = this.net.learnableParams[id].diff;
    const h = this.history[id].data;
    const k = g.length >= SIMD_MIN ? simdKernel() : null;
    if (k) return nesterovSimd(k, g, h, g.length, m, lr, onePlusM);
    for (let i = 0; i < g.length; i++) {
      const prev = h[i];
      const next = f(f(m * prev) + f(lr * g[i]));
      h[i] = next;
      g[i] = f(f(-m * prev) + f(onePlusM * next));
    }
  }
}
