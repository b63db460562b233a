// AdaGradSolver, as Caffe's AdaGradSolver::ComputeUpdateValue:
//   h += diff^2
//   diff = local_rate * diff / (sqrt(h) + delta)
// Caffe refuses a momentum with AdaGrad.
import { rmsUpdate } from '../kernels/solver-updates.js';
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
    // Caffe's h += diff^2 is RMSProp's update with decay = 1 - decay = 1: multiplying by 1 is
    // exact and float addition commutes, so the bits are AdaGrad's.
    rmsUpdate(g, h, 1, 1, delta, lr);
  }
}
