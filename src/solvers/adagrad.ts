// AdaGradSolver, as Caffe's AdaGradSolver::ComputeUpdateValue:
//   h += diff^2
//   diff = local_rate * diff / (sqrt(h) + delta)
// Caffe refuses a momentum with AdaGrad.
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
    for (let i = 0; i < g.length; i++) {
      const gi = g[i];
      const hi = f(f(gi * gi) + h[i]);
      h[i] = hi;
      const u = f(gi / f(f(Math.sqrt(hi)) + delta));
      g[i] = f(lr * u);
    }
  }
}
