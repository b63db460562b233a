// LSTM and RNN export their unrolled net, as Caffe runs them: one copy of the step layers per
// time step (the sequence length is the net's), weights shared. LSTMUnit is the LSTM step.
import type { Net } from '../graph/net.js';
import { registerConverter, type ConvertContext } from './registry.js';
import { int } from './graph.js';

/** What RecurrentLayer knows about its unrolled net (protected there, read here). */
interface Unrolled {
  unrolledNet: Net;
  recurrentInputBlobNames(): string[];
  recurrentOutputBlobNames(): string[];
  outputBlobNames(): string[];
}

function recurrent(c: ConvertContext): void {
  const layer = c.layer as unknown as Unrolled;
  const inner = layer.unrolledNet;
  const rp = c.layer.param.recurrent_param;
  const exposed = !!rp?.expose_hidden;
  const recurIn = layer.recurrentInputBlobNames();
  const outputs = layer.outputBlobNames();
  const staticInput = inner.blobs.has('x_static');
  const inputs = new Map<string, string>([['x', c.bottoms[0]], ['cont', c.bottoms[1]]]);
  if (staticInput) inputs.set('x_static', c.bottoms[2]);
  const first = staticInput ? 3 : 2;
  recurIn.forEach((name, k) => {
    // Without expose_hidden the states start at zero, as a freshly built net's first forward.
    const shape = inner.blob(name).shape;
    inputs.set(name, exposed ? c.bottoms[first + k] : c.g.floatTensor(`${c.name}/${name}`, shape, new Float32Array(shape.reduce((a, b) => a * b, 1))));
  });
  // The inner net ends with one pseudo-loss per output, never run.
  const values = c.subnet(inner, inputs, inner.layers.length - outputs.length);
  const results = [...outputs, ...(exposed ? layer.recurrentOutputBlobNames() : [])];
  results.forEach((name, k) => c.op('Identity', [values.get(name)!], k));
}

registerConverter('LSTM', recurrent);
registerConverter('RNN', recurrent);

registerConverter('LSTMUnit', (c) => {
  // Gates [i', f', o', g'] along axis 2; f is gated by cont (exactly 0 where a sequence restarts).
  const [cPrev, x, cont] = c.bottoms;
  const [, num, width] = c.bottomShapes[1];
  const d = width / 4;
  const [ip, fp, op, gp] = c.g.node('Split', [x, c.ints([d, d, d, d])], 4, { axis: int(2) }, c.name);
  const i = c.op('Sigmoid', [ip], 'tmp');
  const f = c.op('Mul', [c.op('Sigmoid', [fp], 'tmp'), c.op('Reshape', [cont, c.ints([1, num, 1])], 'tmp')], 'tmp');
  const o = c.op('Sigmoid', [op], 'tmp');
  const g = c.op('Tanh', [gp], 'tmp');
  const cell = c.op('Add', [c.op('Mul', [f, cPrev], 'tmp'), c.op('Mul', [i, g], 'tmp')], 0);
  c.op('Mul', [o, c.op('Tanh', [cell], 'tmp')], 1);
});
