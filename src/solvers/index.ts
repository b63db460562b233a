// Training: Caffe's solvers, learning-rate policies and the solver registry.
export {
  Solver,
  formatG,
  SNAPSHOT_BINARYPROTO,
  SNAPSHOT_HDF5,
  type IterationInfo,
  type SolverCallbacks,
  type SolverOptions,
  type TestOutput,
  type TestResult,
} from './solver.js';
export { getLearningRate, LR_POLICIES, type LrPolicy, type LrState } from './lr-policy.js';
export { SGDSolver } from './sgd.js';
export { NesterovSolver } from './nesterov.js';
export { AdaGradSolver } from './adagrad.js';
export { RMSPropSolver } from './rmsprop.js';
export { AdaDeltaSolver } from './adadelta.js';
export { AdamSolver } from './adam.js';
export { createSolver, loadSolver, registerSolver, solverTypes, type SolverCtor } from './registry.js';
