// NesterovSolver: Nesterov's accelerated gradient, as Caffe's NesterovSolver::ComputeUpdateValue:
//   h' = momentum * h + local_rate * diff
//   diff = (1 + momentum) * h' - momentum * h
// (the step back to the previous momentum, then the over-step). Everything else is SGDSolver's.
import { nesterovUpdate } from '../kernels/solver-updates.js';
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
    nesterovUpdate(g, h, m, lr, onePlusM);
  }
}
