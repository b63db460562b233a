// LeNet trains: BVLC's own lenet_train_test.prototxt and lenet_solver.prototxt, the Data layers
// pointed at a small LMDB of ten real MNIST digits that this test writes. The loss must fall and
// the test net, sharing the trained weights, must then classify the digits.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { readNetParameter, readSolverParameter } from '../src/format/io.js';
import { readImage } from '../src/format/image.js';
import { encodeDatum } from '../src/data/datum.js';
import { createSolver } from '../src/solvers/index.js';
import type { Message } from '../src/proto/schema.js';

const ROOT = join(__dirname, '..');
const ZOO = join(ROOT, 'fixtures', 'zoo-files', 'mnist_lenet');
const DIGITS = join(ROOT, 'fixtures', 'demo', 'digits');
const tmp = mkdtempSync(join(tmpdir(), 'caffe-ts-lenet-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function writeDigitsLmdb(): Promise<string> {
  const path = join(tmp, 'mnist.lmdb');
  const db = openLmdb({ path, encoding: 'binary', keyEncoding: 'binary' });
  readdirSync(DIGITS)
    .filter((f) => f.endsWith('.png'))
    .sort()
    .forEach((f, i) => {
      const img = readImage(join(DIGITS, f), false);
      const label = Number(/^img_(\d+)_/.exec(f)![1]);
      const datum = encodeDatum({ channels: 1, height: img.height, width: img.width, data: img.data, label });
      db.putSync(Buffer.from(String(i).padStart(8, '0')), Buffer.from(datum));
    });
  await db.close();
  return path;
}

describe('LeNet on MNIST digits with the example solver', () => {
  it('loss falls and the test net then classifies the training digits', async () => {
    const source = await writeDigitsLmdb();
    const net: Message = readNetParameter(join(ZOO, 'lenet_train_test.prototxt'));
    for (const l of net.layer as Message[]) {
      if (l.type !== 'Data') continue;
      l.data_param.source = source;
      l.data_param.batch_size = 10;
    }
    const solver: Message = readSolverParameter(join(ZOO, 'lenet_solver.prototxt'));
    solver.net = '';
    delete solver.net;
    solver.net_param = net;
    solver.test_iter = [1];
    solver.test_interval = 100000;
    solver.max_iter = 60;
    solver.snapshot = 0;
    solver.snapshot_prefix = join(tmp, 'lenet');
    solver.random_seed = 1;

    const losses: number[] = [];
    const s = createSolver(solver, { baseDir: tmp, onIteration: (i) => losses.push(i.loss) });
    s.step(60);
    expect(losses).toHaveLength(60);
    const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = losses.slice(-10).reduce((a, b) => a + b) / 10;
    expect(first).toBeGreaterThan(1.5); // chance level is ln(10) = 2.3
    expect(last).toBeLessThan(0.25 * first);

    const result = s.test(0);
    const acc = result.outputs.find((o) => o.name === 'accuracy')!;
    expect(acc.value).toBeGreaterThanOrEqual(0.9);
  });
});
