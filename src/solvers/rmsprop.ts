// RMSPropSolver, as Caffe's RMSPropSolver::ComputeUpdateValue:
//   h = rms_decay * h + (1 - rms_decay) * diff^2
//   diff = local_rate * diff / (sqrt(h) + delta)
// Caffe refuses a momentum, and needs 0 <= rms_decay < 1.
import { rmsUpdate } from '../kernels/solver-updates.js';
import { SGDSolver } from './sgd.js';

const f = Math.fround;

export class RMSPropSolver extends SGDSolver {
  override get type(): string {
    return 'RMSProp';
  }

  protected override checkParams(): void {
    const p = this.param;
    if (p.momentum !== 0) throw this.error(`momentum cannot be used with RMSProp (got momentum ${p.momentum})`);
    if (!(p.rms_decay >= 0 && p.rms_decay < 1)) throw this.error(`rms_decay should lie between 0 and 1 (got ${p.rms_decay})`);
  }

  protected override computeUpdateValue(id: number, rate: number): void {
    const lr = this.localRate(id, rate);
    const delta = f(this.param.delta);
    const decay = f(this.param.rms_decay);
    const oneMinus = f(1 - decay);
    const g = this.net.learnableParams[id].diff;
    const h = this.history[id].data;
    rmsUpdate(g, h, decay, oneMinus, delta, lr);
  }
}
