// LSTM: a long short-term memory layer unrolled through time (Caffe's LSTMLayer), built on
// RecurrentLayer. With D = recurrent_param.num_output, per time step t = 1..T:
//   gate_input_t = W_hc * (cont_t * h_{t-1}) + W_xc * x_t + b_c [+ W_xc_static * x_static]
//   (c_t, h_t)   = LSTMUnit(c_{t-1}, gate_input_t, cont_t)
// and the top is h = concat(h_1 .. h_T) along the time axis (T x N x D).
//
// Parameters, in order: W_xc (4D x input), b_c (4D), [W_xc_static (4D x static input),] W_hc
// (4D x D); weight_filler fills the weights, bias_filler the bias. Recurrent states: h_0 and c_0
// in, h_T and c_T out (the order of the exposed bottoms and tops with expose_hidden).
import { Net } from '../graph/net.js';
import type { Message } from '../proto/schema.js';
import { registerLayer } from './registry.js';
import { RecurrentLayer, layerParam, provideNetFactory } from './recurrent.js';

// The unrolled net is a Net (a deferred reference: net.ts and this module import each other).
provideNetFactory((param, options) => new Net(param, options));

export class LSTMLayer extends RecurrentLayer {
  override get type(): string {
    return 'LSTM';
  }

  protected recurrentInputBlobNames(): string[] {
    return ['h_0', 'c_0'];
  }
  protected recurrentOutputBlobNames(): string[] {
    return [`h_${this.T}`, 'c_T'];
  }
  protected recurrentInputShapes(): number[][] {
    const D = Number(this.rp.num_output);
    return [[1, this.N, D], [1, this.N, D]];
  }
  protected outputBlobNames(): string[] {
    return ['h'];
  }

  protected fillUnrolledNet(netParam: Message): void {
    const u = this.beginUnroll(netParam, {
      inputWeight: 'W_xc', inputBias: 'b_c', width: Number(this.rp.num_output) * 4, stateTops: ['c_0', 'h_0'], output: 'h',
    });
    for (let t = 1; t <= this.T; t++) {
      const tm1 = String(t - 1);
      const ts = String(t);
      u.step(t);
      u.layers.push(u.innerProduct(`transform_${ts}`, `h_conted_${tm1}`, `W_hc_h_${tm1}`, 2, false, ['W_hc']));
      u.layers.push(u.sum(`gate_input_${ts}`, `gate_input_${ts}`, `W_hc_h_${tm1}`, t));
      u.layers.push(layerParam('LSTMUnit', `unit_${ts}`, [`c_${tm1}`, `gate_input_${ts}`, `cont_${ts}`], [`c_${ts}`, `h_${ts}`]));
      u.concat.bottom.push(`h_${ts}`);
    }

    // c_T: a copy of the last cell state under a fixed name (an unnamed Split, as in Caffe).
    u.layers.push(layerParam('Split', '', [`c_${this.T}`], ['c_T']));
    u.layers.push(u.concat);
  }
}

registerLayer('LSTM', LSTMLayer);
