// RMSPropSolver, as Caffe's RMSPropSolver::ComputeUpdateValue:
//   h = rms_decay * h + (1 - rms_decay) * diff^2
//   diff = local_rate * diff / (sqrt(h) + delta)
// Caffe refuses a momentum, and needs 0 <= rms_decay < 1.
import { rmsSimd, simdKernel, SIMD_MIN } from '../kernels/simd.js';
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
    const k = g.length >= SIMD_MIN ? simdKernel() : null;
    if (k) return rmsSimd(k, g, h, g.length, decay, oneMinus, delta, lr);
    for (let i = 0; i < g.length; i++) {
      const gi = g[i];
      const hi = f(f(decay * h[i]) + f(oneMinus * f(gi * gi)));
      h[i] = hi;
      const u = f(gi / f(f(Math.sqrt(hi)) + delta));
      g[i] = f(lr * u);
    }
  }
}
