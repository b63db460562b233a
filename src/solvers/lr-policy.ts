// Learning-rate policies, as Caffe's SGDSolver::GetLearningRate.
//
//   fixed      base_lr
//   step       base_lr * gamma ^ floor(iter / stepsize)        (current_step = floor(iter / stepsize))
//   exp        base_lr * gamma ^ iter
//   inv        base_lr * (1 + gamma * iter) ^ (-power)
//   multistep  base_lr * gamma ^ current_step, where current_step advances by one (at most once per
//              call) when iter reaches stepvalue[current_step]
//   poly       base_lr * (1 - iter / max_iter) ^ power
//   sigmoid    base_lr / (1 + exp(-gamma * (iter - stepsize)))
//
// The precision follows Caffe's C++ expression types (Dtype = float): `pow(float, int)` is done in
// double (step, exp, multistep), the other policies are float arithmetic throughout; the result is
// a float (rounded with Math.fround).
import type { Message } from '../proto/schema.js';
import { SolverError } from '../util/errors.js';

const f = Math.fround;

export const LR_POLICIES = ['fixed', 'step', 'exp', 'inv', 'multistep', 'poly', 'sigmoid'] as const;
export type LrPolicy = (typeof LR_POLICIES)[number];

/** The solver state a policy reads (and, for step/multistep, updates). */
export interface LrState {
  iter: number;
  currentStep: number;
}

/**
 * Caffe's GetLearningRate for `param` at `state.iter`. Like Caffe, the `step` policy sets
 * `state.currentStep` and `multistep` advances it, so call it once per iteration, in order.
 */
export function getLearningRate(param: Message, state: LrState): number {
  const policy: string = param.lr_policy;
  const baseLr = f(param.base_lr);
  const gamma = f(param.gamma);
  const power = f(param.power);
  const iter = state.iter;
  const needGamma = () => {
    if (!(gamma >= 0)) throw new SolverError(`lr_policy "${policy}" needs gamma >= 0, got ${gamma}`);
  };
  const needStepsize = () => {
    if (!(param.stepsize > 0)) throw new SolverError(`lr_policy "${policy}" needs stepsize > 0, got ${param.stepsize}`);
  };
  switch (policy) {
    case 'fixed':
      return baseLr;
    case 'step': {
      needStepsize();
      state.currentStep = Math.floor(iter / param.stepsize);
      needGamma();
      return f(baseLr * Math.pow(gamma, state.currentStep));
    }
    case 'exp':
      needGamma();
      return f(baseLr * Math.pow(gamma, iter));
    case 'inv': {
      needGamma();
      const b = f(1 + f(gamma * iter));
      return f(baseLr * f(Math.pow(b, -power)));
    }
    case 'multistep': {
      const values: number[] = param.stepvalue ?? [];
      if (state.currentStep < values.length && iter >= values[state.currentStep]) state.currentStep++;
      needGamma();
      return f(baseLr * Math.pow(gamma, state.currentStep));
    }
    case 'poly': {
      const b = f(1 - f(f(iter) / f(param.max_iter)));
      return f(baseLr * f(Math.pow(b, power)));
    }
    case 'sigmoid': {
      needGamma();
      needStepsize();
      const e = f(Math.exp(f(-gamma * f(iter - param.stepsize))));
      return f(baseLr * f(1 / f(1 + e)));
    }
    default:
      throw new SolverError(
        `unknown learning rate policy ${JSON.stringify(policy)} (lr_policy must be one of ${LR_POLICIES.join(', ')})`,
      );
  }
}
