// AdamSolver (Kingma & Ba), as Caffe's AdamSolver::ComputeUpdateValue, with two history sets:
// [0, N) the first moment m, [N, 2N) the second moment v. With t = iter + 1:
//   m = beta1 * m + (1 - beta1) * diff
//   v = beta2 * v + (1 - beta2) * diff^2
//   correction = sqrt(1 - beta2^t) / (1 - beta1^t)        (double, then float, as Caffe)
//   diff = local_rate * correction * m / (sqrt(v) + delta)
// beta1 is `momentum`, beta2 `momentum2`, epsilon `delta`.
import { adamUpdate } from '../kernels/solver-updates.js';
import { SGDSolver } from './sgd.js';

const f = Math.fround;

export class AdamSolver extends SGDSolver {
  override get type(): string {
    return 'Adam';
  }

  protected override historySets(): number {
    return 2;
  }

  protected override computeUpdateValue(id: number, rate: number): void {
    const lr = this.localRate(id, rate);
    const beta1 = f(this.param.momentum);
    const beta2 = f(this.param.momentum2);
    const eps = f(this.param.delta);
    const t = this.iter + 1;
    const correction = f(Math.sqrt(1 - Math.pow(beta2, t)) / (1 - Math.pow(beta1, t)));
    const scale = f(lr * correction);
    const oneMinusB1 = f(1 - beta1);
    const oneMinusB2 = f(1 - beta2);
    const n = this.net.learnableParams.length;
    const g = this.net.learnableParams[id].diff;
    const m = this.history[id].data;
    const v = this.history[n + id].data;
    adamUpdate(g, m, v, beta1, oneMinusB1, beta2, oneMinusB2, eps, scale);
  }
}
