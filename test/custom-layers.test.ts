// Layers of your own: registerLayer from TypeScript, Python layers resolved by module.layer, and
// the README's example (examples/pyloss.ts) run on BVLC's own Python-layer net.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Blob, checkGradient, Layer, Net, parseText, randomBlob, registerLayer } from '../src/index.js';
import { EuclideanLossLayer } from '../examples/pyloss.js';
import { parseParamStr, SpatialDropoutLayer } from '../examples/spatial-dropout.js';
import { layer, tops } from './helpers.js';

const ZOO = join(import.meta.dirname, '..', 'fixtures', 'zoo-files');

describe('README example: pycaffe\'s EuclideanLossLayer as a registered Python layer', () => {
  it('runs BVLC\'s linreg.prototxt (type "Python", module pyloss) forward and backward', () => {
    const net = Net.fromFile(join(ZOO, 'bvlc_pycaffe_linreg', 'linreg.prototxt'), { phase: 'TRAIN' });
    expect(net.layer('loss')).toBeInstanceOf(EuclideanLossLayer);
    const loss = net.forward();
    const a = net.blob('ipx').data;
    const b = net.blob('ipy').data;
    let want = 0;
    for (let i = 0; i < a.length; i++) want += (a[i] - b[i]) ** 2;
    want /= 10 * 2;
    expect(loss).toBeCloseTo(want, 4);
    net.backward();
    // The loss gradient reaches the InnerProduct weights: d loss / d ipx = (ipx - ipy) / num.
    const dx = net.blob('ipx').diff;
    for (let i = 0; i < a.length; i++) expect(dx[i]).toBeCloseTo((a[i] - b[i]) / 10, 5);
    expect(net.params.get('ipx')![0].diff.some((v) => v !== 0)).toBe(true);
  });
  it('is gradient-checked with the suite\'s checker', () => {
    const l = layer('Python', { python_param: { module: 'pyloss', layer: 'EuclideanLossLayer' }, loss_weight: [1] });
    checkGradient(l, [randomBlob([4, 3], 1), randomBlob([4, 3], 2)], tops(1));
  });
  it('rejects inputs of different counts with a LayerError', () => {
    const l = layer('Python', { python_param: { module: 'pyloss', layer: 'EuclideanLossLayer' } });
    expect(() => l.setUp([new Blob([2, 3]), new Blob([2, 4])], tops(1))).toThrow(/same count/);
  });
});

describe('ENet\'s spatial dropout (param_str)', () => {
  it('reads the Python dict of param_str', () => {
    expect([...parseParamStr("{'phase': 'TEST', 'p': '0.01'}")]).toEqual([['phase', 'TEST'], ['p', '0.01']]);
  });
  it('TEST scales by 1 / (1 - p), as ENet; TRAIN drops whole maps', () => {
    const test = layer('Python', { python_param: { module: 'spatial_dropout', layer: 'SpatialDropoutLayer', param_str: "{'phase': 'TEST', 'p': '0.2'}" } });
    const x = randomBlob([2, 3, 2, 2], 5);
    const top = tops(1);
    test.setUp([x], top);
    test.forward([x], top);
    top[0].data.forEach((v, i) => expect(v).toBeCloseTo(x.data[i] / 0.8, 6));
    const train = layer('Python', { python_param: { module: 'spatial_dropout', layer: 'SpatialDropoutLayer', param_str: "{'phase': 'TRAIN', 'p': '0.5'}" } }) as SpatialDropoutLayer;
    const t2 = tops(1);
    train.setUp([x], t2);
    let k = 0;
    train.random = () => [0.1, 0.9][k++ % 2];
    train.forward([x], t2);
    for (let m = 0; m < 6; m++) {
      for (let i = m * 4; i < m * 4 + 4; i++) expect(t2[0].data[i]).toBeCloseTo(m % 2 === 0 ? x.data[i] * 2 : 0, 6);
    }
    k = 0;
    checkGradient(train, [x], t2, { beforeForward: () => (k = 0) });
    expect(() => layer('Python', { python_param: { module: 'spatial_dropout', layer: 'SpatialDropoutLayer', param_str: "{'p': '0.5'}" } }).setUp([x], tops(1))).toThrow(/must give 'phase' and 'p'/);
  });
});

describe('registerLayer: a type of your own', () => {
  // y = x * factor, the factor from the layer's own message (power_param.scale here) or from
  // param_str, used by Net like any built-in layer.
  class TimesLayer extends Layer {
    private factor = 1;
    get type(): string {
      return 'Times';
    }
    override exactNumBottomBlobs(): number {
      return 1;
    }
    override exactNumTopBlobs(): number {
      return 1;
    }
    override layerSetUp(): void {
      const s = this.param.python_param?.param_str;
      this.factor = s ? Number(s) : (this.param.power_param?.scale ?? 1);
      this.check(Number.isFinite(this.factor), () => `param_str must be a number, got "${s}"`);
    }
    override reshape(bottom: Blob[], top: Blob[]): void {
      top[0].reshapeLike(bottom[0]);
    }
    protected forwardCpu(bottom: Blob[], top: Blob[]): void {
      bottom[0].data.forEach((v, i) => (top[0].data[i] = v * this.factor));
    }
    protected override backwardCpu(top: Blob[], down: boolean[], bottom: Blob[]): void {
      if (down[0]) top[0].diff.forEach((v, i) => (bottom[0].diff[i] = v * this.factor));
    }
  }
  registerLayer('Times', TimesLayer);

  const text = (extra: string) => `name: "t" force_backward: true
    layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }
    layer { name: "times" type: "Times" bottom: "x" top: "y" ${extra} }
    layer { name: "loss" type: "EuclideanLoss" bottom: "y" bottom: "x" top: "loss" }`;
  it('Net builds it and runs it forward and backward, with its parameters from the prototxt', () => {
    for (const [extra, factor] of [['power_param { scale: 3 }', 3], ['python_param { param_str: "0.5" }', 0.5]] as const) {
      const net = new Net(parseText(text(extra), 'NetParameter'), { phase: 'TRAIN' });
      net.blob('x').data.set([1, 2, 3, 4, 5, 6]);
      net.forward();
      expect(Array.from(net.blob('y').data)).toEqual([1, 2, 3, 4, 5, 6].map((v) => v * factor));
      net.backward();
      // loss = sum((y - x)^2) / 2 / 2, so dx = (factor - 1) * (y - x) / 2 (through Times and the loss).
      const dx = Array.from(net.blob('x').diff);
      [1, 2, 3, 4, 5, 6].forEach((v, i) => expect(dx[i]).toBeCloseTo(((factor - 1) * (v * factor - v)) / 2, 5));
    }
  });
  it('a bad parameter is a LayerError naming the layer, through Net', () => {
    expect(() => new Net(parseText(text('python_param { param_str: "abc" }'), 'NetParameter'))).toThrow(/'times'.*param_str must be a number/s);
  });
  it('registering a type twice, and an unregistered Python layer, are clear errors', () => {
    expect(() => registerLayer('Times', TimesLayer)).toThrow(/registered twice/);
    expect(() => layer('Python', { python_param: { module: 'rpn.proposal_layer', layer: 'ProposalLayer' } })).toThrow(
      /Python layer 'rpn\.proposal_layer\.ProposalLayer' is not registered: .*registerLayer\('rpn\.proposal_layer\.ProposalLayer', MyLayer\)/,
    );
  });
});

describe('README', () => {
  it("shows examples/pyloss.ts as it is (importing from 'caffe-ts')", () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const shown = /```ts\n(import \{ Blob, Layer, registerLayer \} from 'caffe-ts';\n[\s\S]*?)```/.exec(readme)?.[1];
    const file = readFileSync(join(import.meta.dirname, '..', 'examples', 'pyloss.ts'), 'utf8');
    const code = file.slice(file.indexOf('import ')).replace("from '../src/index.js'", "from 'caffe-ts'");
    expect(shown).toBe(code);
  });
});
