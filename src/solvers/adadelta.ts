// AdaDeltaSolver, as Caffe's AdaDeltaSolver::ComputeUpdateValue, with two history sets: history
// [0, N) holds the running mean of squared gradients (hg), [N, 2N) that of squared updates (hu):
//   hg = momentum * hg + (1 - momentum) * diff^2
//   diff = diff * sqrt((hu + delta) / (hg + delta))
//   hu = momentum * hu + (1 - momentum) * diff^2
//   diff = local_rate * diff
import { adadeltaUpdate } from '../kernels/solver-updates.js';
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
    adadeltaUpdate(g, hg, hu, m, oneMinus, delta, lr);
  }
}
