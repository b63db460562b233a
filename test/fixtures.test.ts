// Every BVLC Caffe reference case copied into fixtures/ runs here (see fixtures/FORMAT.md).
import { describe } from 'vitest';
import { join } from 'node:path';
import { caseTests, FIXTURES } from './helpers.js';

// Solver cases of fixtures/solver run in test/solvers.test.ts; fixtures/oracle holds net, data and
// solver cases computed by a real Caffe from our own specs (fixtures/oracle/SOURCES.md).
const GROUPS = ['upgrade', 'layers', 'graph', 'trained', 'zoo', 'data', 'oracle'];

for (const group of GROUPS) describe(group, () => caseTests(join(FIXTURES, group)));
