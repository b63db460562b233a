// Solver cases (kind "solver"): not run until the solvers land.
import type { CaseResult } from './net-case.js';

export function runSolverCase(_dir: string, _spec: unknown, name: string): CaseResult {
  return { name, ok: false, failures: ['solver cases need the solvers, which are not implemented yet'], produced: new Map() };
}
