// Recurrent layers: LSTMUnit, LSTM, RNN (RecurrentLayer). Finite-difference gradient checks
// (data bottoms and parameters; with and without a static input and expose_hidden), the
// structure of the unrolled net, state carry-over between batches, error cases, and the Caffe
// reference cases of these layers.
import { describe, expect, it } from 'vitest';
import { Net } from '../src/graph/net.js';
import { Blob } from '../src/graph/blob.js';
import { fromObject, type Message } from '../src/proto/schema.js';
import { createLayer, layerTypes } from '../src/layers/registry.js';
import { Layer, TEST, TRAIN, type Phase } from '../src/layers/layer.js';
import { RecurrentLayer } from '../src/layers/recurrent.js';
import { checkGradient, randomBlob, rng } from './gradient-checker.js';
import { blobOf, layerCaseTests, tops } from './helpers.js';

const T = 3;
const N = 2;
const I = 3;
const D = 4;

const INNER_TYPES = ['InnerProduct', 'Eltwise', 'Slice', 'Concat', 'Reshape', 'TanH', 'Scale', 'Split', 'Input', 'Reduction', 'LSTMUnit'];
const missing = INNER_TYPES.filter((t) => !layerTypes().includes(t));

function lp(type: string, extra: Record<string, unknown> = {}, phase: Phase = TRAIN, name = `t_${type.toLowerCase()}`): Message {
  const p = fromObject('LayerParameter', { name, type, ...extra });
  p.phase = phase;
  return p;
}

/** Fills every parameter blob of a layer with uniform values in [-scale, scale). */
function randomizeParams(layer: Layer, seed: number, scale = 0.5): void {
  const r = rng(seed);
  for (const b of layer.blobs) for (let i = 0; i < b.count; i++) b.data[i] = scale * (2 * r() - 1);
}

/** Runs the gradient check with random parameters (set once, before the first forward). */
function gradientCheckWithRandomParams(layer: Layer, bottom: Blob[], top: Blob[], bottoms: number[], seed = 7): void {
  let filled = false;
  checkGradient(layer, bottom, top, {
    bottoms,
    beforeForward: () => {
      if (filled) return;
      randomizeParams(layer, seed);
      filled = true;
    },
  });
}

/**
 * Presents only the first top of a layer with exposed hidden states: Caffe does not backpropagate
 * from the exposed final states, so a checker objective over them would not match the analytic
 * gradient.
 */
class FirstTopOnly extends Layer {
  readonly hidden: Blob[];
  constructor(readonly inner: Layer, numHidden: number) {
    super(inner.param);
    this.hidden = tops(numHidden);
  }
  override get type(): string {
    return this.inner.type;
  }
  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    this.inner.setUp(bottom, [top[0], ...this.hidden]);
    this.blobs = this.inner.blobs;
  }
  override reshape(bottom: Blob[], top: Blob[]): void {
    this.inner.reshape(bottom, [top[0], ...this.hidden]);
  }
  protected override forwardCpu(bottom: Blob[], top: Blob[]): void {
    this.inner.forward(bottom, [top[0], ...this.hidden]);
  }
  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    this.inner.backward([top[0], ...this.hidden], propagateDown, bottom);
  }
}

/** cont (T x N): 0 where a sequence starts. The first step starts sequences unless told. */
function contBlob(firstStepContinues = false): Blob {
  const v = new Float32Array(T * N);
  for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) v[t * N + n] = t === 0 ? (firstStepContinues ? 1 : 0) : (t === 1 && n === 1 ? 0 : 1);
  return blobOf([T, N], v);
}

// ---------------------------------------------------------------------------------------------

describe('LSTMUnit', () => {
  const make = () => createLayer(lp('LSTMUnit'));
  const bottoms = (cont: number[]) => {
    const n = cont.length;
    return [randomBlob([1, n, D], 11), randomBlob([1, n, 4 * D], 12, -2, 2), blobOf([1, n], cont)];
  };

  it('computes c and h as Caffe', () => {
    const layer = make();
    const b = bottoms([1, 0, 0.5]);
    const t = tops(2);
    layer.setUp(b, t);
    layer.forward(b, t);
    expect(t[0].shape).toEqual([1, 3, D]);
    expect(t[1].shape).toEqual([1, 3, D]);
    const s = (x: number) => 1 / (1 + Math.exp(-x));
    for (let n = 0; n < 3; n++) {
      for (let d = 0; d < D; d++) {
        const x = (k: number) => b[1].data[n * 4 * D + k * D + d];
        const cont = b[2].data[n];
        const f = cont === 0 ? 0 : cont * s(x(1));
        const c = f * b[0].data[n * D + d] + s(x(0)) * Math.tanh(x(3));
        expect(t[0].data[n * D + d]).toBeCloseTo(c, 5);
        expect(t[1].data[n * D + d]).toBeCloseTo(s(x(2)) * Math.tanh(c), 5);
      }
    }
  });

  it('passes the gradient check (c_prev and gate inputs)', () => {
    const layer = make();
    checkGradient(layer, bottoms([1, 0, 1]), tops(2), { bottoms: [0, 1] });
  });

  it('refuses a gradient for cont, and force_backward does not ask for one', () => {
    const layer = make();
    expect(layer.allowForceBackward(2)).toBe(false);
    expect(layer.allowForceBackward(0)).toBe(true);
    const b = bottoms([1, 1]);
    const t = tops(2);
    layer.setUp(b, t);
    layer.forward(b, t);
    expect(() => layer.backward(t, [true, true, true], b)).toThrow(/continuation/);
  });

  it('writes both bottom diffs when either needs one, none when neither (as Caffe)', () => {
    const run = (pd: boolean[]) => {
      const layer = make();
      const b = bottoms([1, 0.5]);
      const t = tops(2);
      layer.setUp(b, t);
      layer.forward(b, t);
      t[0].diff.set(randomBlob(t[0].shape, 21).data);
      t[1].diff.set(randomBlob(t[1].shape, 22).data);
      b[0].diff.fill(7);
      b[1].diff.fill(7);
      layer.backward(t, pd, b);
      return [Array.from(b[0].diff), Array.from(b[1].diff)];
    };
    const both = run([true, true, false]);
    expect(run([true, false, false])).toEqual(both);
    expect(run([false, true, false])).toEqual(both);
    expect(both[0].some((v) => v !== 7) && both[1].some((v) => v !== 7)).toBe(true);
    const none = run([false, false, false]);
    expect(none[0].every((v) => v === 7) && none[1].every((v) => v === 7)).toBe(true);
  });

  it('rejects bad shapes', () => {
    const bad = [
      [new Blob([1, 2, D]), new Blob([1, 2, 3 * D]), new Blob([1, 2])],
      [new Blob([2, 2, D]), new Blob([2, 2, 4 * D]), new Blob([2, 2])],
      [new Blob([1, 2, D]), new Blob([1, 3, 4 * D]), new Blob([1, 3])],
      [new Blob([1, 2, D]), new Blob([1, 2, 4 * D]), new Blob([1, 2, 1])],
    ];
    for (const b of bad) expect(() => make().setUp(b, tops(2))).toThrow(/LSTMUnit/);
    expect(() => make().setUp([new Blob([1, 2, D]), new Blob([1, 2, 4 * D])], tops(2))).toThrow(/exactly 3/);
  });
});

// ---------------------------------------------------------------------------------------------

interface Arch {
  type: 'LSTM' | 'RNN';
  numHidden: number;
  /** Parameter shapes (no static input) and with a static input of size S. */
  shapes: (S: number | null) => number[][];
}

const ARCHS: Arch[] = [
  {
    type: 'LSTM',
    numHidden: 2,
    shapes: (S) => [[4 * D, I], [4 * D], ...(S !== null ? [[4 * D, S]] : []), [4 * D, D]],
  },
  {
    type: 'RNN',
    numHidden: 1,
    shapes: (S) => [[D, I], [D], ...(S !== null ? [[D, S]] : []), [D, D], [D, D], [D]],
  },
];

function recurrentParam(type: string, opts: { expose?: boolean; debug?: boolean; phase?: Phase; name?: string } = {}): Message {
  return lp(type, { recurrent_param: { num_output: D, expose_hidden: !!opts.expose, debug_info: !!opts.debug } }, opts.phase ?? TRAIN, opts.name ?? `t_${type.toLowerCase()}`);
}

describe('LSTM and RNN', () => {
  for (const arch of ARCHS) {
    describe(arch.type, () => {
      it('builds Caffe\'s parameters in Caffe\'s order', () => {
        for (const S of [null, 2]) {
          const layer = createLayer(recurrentParam(arch.type));
          const b = [randomBlob([T, N, I], 1), contBlob(), ...(S !== null ? [randomBlob([N, S], 3)] : [])];
          const t = tops(1);
          layer.setUp(b, t);
          expect(layer.blobs.map((x) => x.shape)).toEqual(arch.shapes(S));
          expect(t[0].shape).toEqual([T, N, D]);
        }
      });

      it('names the unrolled layers as Caffe', () => {
        const layer = createLayer(recurrentParam(arch.type, { name: 'rec' })) as RecurrentLayer;
        const b = [randomBlob([T, N, I], 1), contBlob(), randomBlob([N, 2], 3)];
        layer.setUp(b, tops(1));
        const names = layer.unrolledNet.layerNames;
        const out = arch.type === 'LSTM' ? 'h' : 'o';
        expect(names[0]).toBe('rec_');
        expect(names).toContain('rec_cont_slice');
        expect(names).toContain('rec_x_transform');
        expect(names).toContain(arch.type === 'LSTM' ? 'rec_unit_3' : 'rec_h_neuron_3');
        expect(names).toContain(arch.type === 'LSTM' ? 'rec_W_xc_x_static_reshape' : 'rec_W_xh_x_static_reshape');
        expect(names[names.length - 1]).toBe(`${out}_pseudoloss`);
        expect(layer.unrolledNet.inputs).toEqual(arch.type === 'LSTM' ? ['x', 'cont', 'x_static', 'c_0', 'h_0'] : ['x', 'cont', 'x_static', 'h_0']);
      });

      it('passes the gradient check (x and params)', () => {
        const layer = createLayer(recurrentParam(arch.type));
        gradientCheckWithRandomParams(layer, [randomBlob([T, N, I], 21), contBlob()], tops(1), [0]);
      });

      it('passes the gradient check with a static input (x, x_static and params)', () => {
        const layer = createLayer(recurrentParam(arch.type));
        gradientCheckWithRandomParams(layer, [randomBlob([T, N, I], 22), contBlob(), randomBlob([N, 2], 23)], tops(1), [0, 2]);
      });

      it('passes the gradient check with expose_hidden (x and params)', () => {
        const inner = createLayer(recurrentParam(arch.type, { expose: true }));
        const layer = new FirstTopOnly(inner, arch.numHidden);
        const hidden = Array.from({ length: arch.numHidden }, (_, i) => randomBlob([1, N, D], 30 + i));
        gradientCheckWithRandomParams(layer, [randomBlob([T, N, I], 24), contBlob(true), ...hidden], tops(1), [0]);
      });

      it('passes the gradient check with expose_hidden and a static input, in TEST', () => {
        const inner = createLayer(recurrentParam(arch.type, { expose: true, phase: TEST }));
        const layer = new FirstTopOnly(inner, arch.numHidden);
        const hidden = Array.from({ length: arch.numHidden }, (_, i) => randomBlob([1, N, D], 40 + i));
        gradientCheckWithRandomParams(layer, [randomBlob([T, N, I], 25), contBlob(true), randomBlob([N, 2], 26), ...hidden], tops(1), [0, 2]);
      });

      it('carries the hidden state across batches exactly as expose_hidden feeds it', () => {
        // Two consecutive batches through a plain layer ...
        const plain = createLayer(recurrentParam(arch.type));
        const x1 = randomBlob([T, N, I], 51);
        const x2 = randomBlob([T, N, I], 52);
        const cont1 = contBlob();
        const cont2 = blobOf([T, N], new Float32Array(T * N).fill(1));
        const t = tops(1);
        plain.setUp([x1, cont1], t);
        randomizeParams(plain, 9);
        plain.forward([x1, cont1], t);
        plain.forward([x2, cont2], t);
        const second = Float32Array.from(t[0].data);

        // ... equal the second batch run with the first batch's final states as inputs.
        const exposed = createLayer(recurrentParam(arch.type, { expose: true }));
        const zeros = Array.from({ length: arch.numHidden }, () => new Blob([1, N, D]));
        const te = tops(1 + arch.numHidden);
        exposed.setUp([x1, cont1, ...zeros], te);
        exposed.blobs.forEach((b, i) => b.data.set(plain.blobs[i].data));
        exposed.forward([x1, cont1, ...zeros], te);
        const finals = te.slice(1).map((b) => blobOf([1, N, D], b.data));
        // The LSTM's exposed final h is the last time step of its output.
        if (arch.type === 'LSTM') expect(Array.from(te[1].data)).toEqual(Array.from(te[0].data.subarray((T - 1) * N * D)));
        exposed.forward([x2, cont2, ...finals], te);
        expect(Array.from(te[0].data)).toEqual(Array.from(second));

        // Reset forgets the state: a fresh run of batch 2 from zero states.
        (plain as RecurrentLayer).reset();
        plain.forward([x2, cont2], t);
        exposed.forward([x2, cont2, ...zeros], te);
        expect(Array.from(t[0].data)).toEqual(Array.from(te[0].data));
      });

      it('accepts a changed number of streams but not of time steps', () => {
        const layer = createLayer(recurrentParam(arch.type));
        const t = tops(1);
        layer.setUp([randomBlob([T, N, I], 1), contBlob()], t);
        const x3 = randomBlob([T, 3, I], 2);
        const c3 = blobOf([T, 3], new Float32Array(T * 3));
        layer.forward([x3, c3], t);
        expect(t[0].shape).toEqual([T, 3, D]);
        expect(() => layer.forward([randomBlob([T + 1, N, I], 3), blobOf([T + 1, N], new Float32Array((T + 1) * N))], t)).toThrow(/time steps/);
      });

      it('rejects bad bottoms and parameters', () => {
        const setUp = (p: Message, b: Blob[], n = 1) => () => createLayer(p).setUp(b, tops(n));
        const x = randomBlob([T, N, I], 1);
        expect(setUp(recurrentParam(arch.type), [x, blobOf([T, N + 1], new Float32Array(T * (N + 1)))])).toThrow(/cont/);
        expect(setUp(recurrentParam(arch.type), [x, blobOf([T * N], new Float32Array(T * N))])).toThrow(/cont/);
        expect(setUp(recurrentParam(arch.type), [randomBlob([T * N], 1), contBlob()])).toThrow(/at least 2 axes/);
        expect(setUp(recurrentParam(arch.type), [x, contBlob(), randomBlob([N + 1, 2], 1)])).toThrow(/static input/);
        expect(setUp(lp(arch.type, { recurrent_param: {} }), [x, contBlob()])).toThrow(/num_output/);
        expect(setUp(recurrentParam(arch.type, { expose: true }), [x, contBlob()], 1 + arch.numHidden)).toThrow(/at least/);
        expect(setUp(recurrentParam(arch.type), [x, contBlob()], 2)).toThrow(/exactly 1/);
        const wrongHidden = Array.from({ length: arch.numHidden }, () => new Blob([1, N, D + 1]));
        expect(setUp(recurrentParam(arch.type, { expose: true }), [x, contBlob(), ...wrongHidden], 1 + arch.numHidden)).toThrow(/hidden state/);
      });

      it('refuses a gradient for cont; force_backward in a net leaves cont alone', () => {
        const layer = createLayer(recurrentParam(arch.type));
        expect(layer.allowForceBackward(1)).toBe(false);
        const b = [randomBlob([T, N, I], 1), contBlob()];
        const t = tops(1);
        layer.setUp(b, t);
        layer.forward(b, t);
        expect(() => layer.backward(t, [true, true], b)).toThrow(/continuation/);

        const net = new Net(fromObject('NetParameter', {
          force_backward: true,
          layer: [
            { name: 'in', type: 'Input', top: ['x', 'cont'], input_param: { shape: [{ dim: [T, N, I] }, { dim: [T, N] }] } },
            { name: 'rec', type: arch.type, bottom: ['x', 'cont'], top: ['y'], recurrent_param: { num_output: D } },
          ],
        }), { phase: 'TRAIN' });
        expect(net.bottomNeedBackward[1]).toEqual([true, false]);
        net.forward({ x: randomBlob([T, N, I], 5).data, cont: contBlob().data });
        net.backward({ y: new Float32Array(T * N * D).fill(1) });
        expect(net.blob('cont').asumDiff()).toBe(0);
      });

      it('shares the parameters with the outer net (weights by layer name, solver sharing)', () => {
        const param = fromObject('NetParameter', {
          layer: [
            { name: 'in', type: 'Input', top: ['x', 'cont'], input_param: { shape: [{ dim: [T, N, I] }, { dim: [T, N] }] } },
            { name: 'rec', type: arch.type, bottom: ['x', 'cont'], top: ['y'], recurrent_param: { num_output: D } },
          ],
        });
        const train = new Net(param, { phase: 'TRAIN' });
        const test = new Net(param, { phase: 'TEST' });
        randomizeParams(train.layer('rec'), 3);
        test.shareTrainedLayersWith(train);
        const inputs = { x: randomBlob([T, N, I], 5).data, cont: contBlob().data };
        train.forward(inputs);
        test.forward(inputs);
        expect(Array.from(test.blob('y').data)).toEqual(Array.from(train.blob('y').data));
        expect(train.learnableParams.length).toBe(arch.shapes(null).length);
      });

      it('writes debug_info lines for the unrolled net', async () => {
        const { setRecurrentDebugLog } = await import('../src/layers/recurrent.js');
        const lines: string[] = [];
        setRecurrentDebugLog((l) => lines.push(l));
        try {
          const layer = createLayer(recurrentParam(arch.type, { debug: true, name: 'dbg' }));
          const b = [randomBlob([T, N, I], 1), contBlob()];
          const t = tops(1);
          layer.setUp(b, t);
          layer.forward(b, t);
          t[0].diff.fill(1);
          layer.backward(t, [true, false], b);
          expect(lines.some((l) => l.startsWith('    [Forward] Layer dbg_x_transform, top blob'))).toBe(true);
          expect(lines.some((l) => l.startsWith('    [Backward] Layer dbg_x_transform, bottom blob x diff:'))).toBe(true);
        } finally {
          setRecurrentDebugLog((l) => process.stderr.write(l + '\n'));
        }
      });
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe('Caffe reference cases', () => layerCaseTests(['lstm_unit', 'lstm', 'rnn']));

it('has every layer type the unrolled nets use', () => {
  expect(missing).toEqual([]);
  expect(layerTypes()).toEqual(expect.arrayContaining(['LSTM', 'RNN', 'LSTMUnit']));
});

