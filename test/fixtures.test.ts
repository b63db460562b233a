// Every BVLC Caffe reference case copied into fixtures/ runs here (see fixtures/FORMAT.md).
import { describe } from 'vitest';
import { join } from 'node:path';
import { caseTests, FIXTURES } from './helpers.js';

// Solver cases run in test/solvers.test.ts.
const GROUPS = ['upgrade', 'layers', 'graph', 'trained', 'zoo', 'data'];

for (const group of GROUPS) describe(group, () => caseTests(join(FIXTURES, group)));
