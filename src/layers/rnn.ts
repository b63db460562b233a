// RNN: a simple recurrent layer unrolled through time (Caffe's RNNLayer), built on
// RecurrentLayer. With D = recurrent_param.num_output, per time step t = 1..T:
//   h_t = tanh(W_hh * (cont_t * h_{t-1}) + W_xh * x_t + b_h [+ W_xh_static * x_static])
//   o_t = tanh(W_ho * h_t + b_o)
// and the top is o = concat(o_1 .. o_T) along the time axis (T x N x D).
//
// Parameters, in order: W_xh (D x input), b_h (D), [W_xh_static (D x static input),] W_hh (D x D),
// W_ho (D x D), b_o (D); weight_filler fills the weights, bias_filler the biases. Recurrent state:
// h_0 in, h_T out (the exposed bottom and top with expose_hidden).
import { Net } from '../graph/net.js';
import type { Message } from '../proto/schema.js';
import { registerLayer } from './registry.js';
import { RecurrentLayer, layerParam, provideNetFactory } from './recurrent.js';

// The unrolled net is a Net (a deferred reference: net.ts and this module import each other).
provideNetFactory((param, options) => new Net(param, options));

export class RNNLayer extends RecurrentLayer {
  override get type(): string {
    return 'RNN';
  }

  protected recurrentInputBlobNames(): string[] {
    return ['h_0'];
  }
  protected recurrentOutputBlobNames(): string[] {
    return [`h_${this.T}`];
  }
  protected recurrentInputShapes(): number[][] {
    return [[1, this.N, Number(this.rp.num_output)]];
  }
  protected outputBlobNames(): string[] {
    return ['o'];
  }

  protected fillUnrolledNet(netParam: Message): void {
    const u = this.beginUnroll(netParam, {
      inputWeight: 'W_xh', inputBias: 'b_h', width: Number(this.rp.num_output), stateTops: ['h_0'], output: 'o',
    });
    const tanh = (name: string, bottom: string, top: string) => layerParam('TanH', name, [bottom], [top]);
    for (let t = 1; t <= this.T; t++) {
      const tm1 = String(t - 1);
      const ts = String(t);
      u.step(t);
      u.layers.push(u.innerProduct(`W_hh_h_${tm1}`, `h_conted_${tm1}`, `W_hh_h_${tm1}`, 2, false, ['W_hh']));
      u.layers.push(u.sum(`h_input_sum_${ts}`, `h_neuron_input_${ts}`, `W_hh_h_${tm1}`, t));
      u.layers.push(tanh(`h_neuron_${ts}`, `h_neuron_input_${ts}`, `h_${ts}`));
      u.layers.push(u.innerProduct(`W_ho_h_${ts}`, `h_${ts}`, `W_ho_h_${ts}`, 2, true, ['W_ho', 'b_o']));
      u.layers.push(tanh(`o_neuron_${ts}`, `W_ho_h_${ts}`, `o_${ts}`));
      u.concat.bottom.push(`o_${ts}`);
    }
    u.layers.push(u.concat);
  }
}

registerLayer('RNN', RNNLayer);
