// The string-keyed solver registry, as Caffe's SolverRegistry: SolverParameter.type names the
// class ("SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam"; the deprecated solver_type
// enum is upgraded to it first).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { cloneMessage, type Message } from '../proto/schema.js';
import { readSolverParameter } from '../format/io.js';
import { upgradeSolverAsNeeded } from '../format/upgrade.js';
import { SolverError } from '../util/errors.js';
import type { Solver, SolverOptions } from './solver.js';
import { SGDSolver } from './sgd.js';
import { NesterovSolver } from './nesterov.js';
import { AdaGradSolver } from './adagrad.js';
import { RMSPropSolver } from './rmsprop.js';
import { AdaDeltaSolver } from './adadelta.js';
import { AdamSolver } from './adam.js';

export type SolverCtor = new (param: Message, options?: SolverOptions) => Solver;

const registry = new Map<string, SolverCtor>([
  ['SGD', SGDSolver],
  ['Nesterov', NesterovSolver],
  ['AdaGrad', AdaGradSolver],
  ['RMSProp', RMSPropSolver],
  ['AdaDelta', AdaDeltaSolver],
  ['Adam', AdamSolver],
]);

export function registerSolver(type: string, ctor: SolverCtor): void {
  if (registry.has(type)) throw new SolverError(`solver type '${type}' is registered twice`);
  registry.set(type, ctor);
}

export function solverTypes(): string[] {
  return [...registry.keys()];
}

/** Builds the solver SolverParameter.type names (after upgrading a legacy solver_type). */
export function createSolver(param: Message, options: SolverOptions = {}): Solver {
  const p = cloneMessage(param, 'SolverParameter');
  upgradeSolverAsNeeded(p, options.source ?? '<solver>');
  const type: string = p.type;
  const ctor = registry.get(type);
  if (!ctor) {
    const near = solverTypes().find((k) => k.toLowerCase() === type.toLowerCase());
    throw new SolverError(
      `${options.source ?? '<solver>'}: unknown solver type '${type}'${near ? ` (did you mean '${near}'?)` : ''}; known types: ${solverTypes().join(', ')}`,
    );
  }
  return new ctor(p, options);
}

/**
 * Reads a solver prototxt (as Caffe's ReadSolverParamsFromTextFileOrDie: upgraded, and an absent
 * snapshot_prefix defaults to the file's path without extension) and builds its solver.
 */
export function loadSolver(path: string, options: SolverOptions = {}): Solver {
  const full = resolve(options.baseDir ?? process.cwd(), path);
  if (!existsSync(full)) throw new SolverError(`solver file '${path}' not found (looked for ${full})`);
  const param = readSolverParameter(options.baseDir === undefined ? path : full);
  return createSolver(param, { source: path, ...options });
}
