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
import { newMessage } from '../proto/schema.js';
import { registerLayer } from './registry.js';
import { RecurrentLayer, blobShape, fillerOf, layerParam, namedParam, provideNetFactory } from './recurrent.js';

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
    const rp = this.rp;
    const numOutput = Number(rp.num_output);
    this.check(numOutput > 0, 'recurrent_param.num_output must be positive');
    const layers: Message[] = netParam.layer;

    const innerProduct = (name: string, bottom: string, top: string, axis: number, bias: boolean, params: string[]) => {
      const lp = layerParam('InnerProduct', name, [bottom], [top]);
      const ip = newMessage('InnerProductParameter');
      ip.num_output = numOutput;
      ip.bias_term = bias;
      ip.axis = axis;
      ip.weight_filler = fillerOf(rp.weight_filler);
      if (bias) ip.bias_filler = fillerOf(rp.bias_filler);
      lp.inner_product_param = ip;
      lp.param = params.map(namedParam);
      return lp;
    };
    const slice = (name: string, bottom: string) => {
      const lp = layerParam('Slice', name, [bottom], []);
      lp.slice_param = newMessage('SliceParameter');
      lp.slice_param.axis = 0;
      return lp;
    };
    const tanh = (name: string, bottom: string, top: string) => layerParam('TanH', name, [bottom], [top]);

    const [shapeH] = this.recurrentInputShapes();
    const input = layerParam('Input', '', [], ['h_0']);
    input.input_param = newMessage('InputParameter');
    input.input_param.shape = [blobShape(shapeH)];
    layers.push(input);

    const contSlice = slice('cont_slice', 'cont');
    layers.push(contSlice);

    const xTransform = innerProduct('x_transform', 'x', 'W_xh_x', 2, true, ['W_xh', 'b_h']);
    xTransform.propagate_down = [true];
    layers.push(xTransform);

    if (this.staticInput) {
      const st = innerProduct('W_xh_x_static', 'x_static', 'W_xh_x_static_preshape', 1, false, ['W_xh_static']);
      st.propagate_down = [true];
      layers.push(st);
      const reshape = layerParam('Reshape', 'W_xh_x_static_reshape', ['W_xh_x_static_preshape'], ['W_xh_x_static']);
      reshape.reshape_param = newMessage('ReshapeParameter');
      reshape.reshape_param.shape = blobShape([1, -1, numOutput]);
      layers.push(reshape);
    }

    const xSlice = slice('W_xh_x_slice', 'W_xh_x');
    layers.push(xSlice);

    const concat = layerParam('Concat', 'o_concat', [], ['o']);
    concat.concat_param = newMessage('ConcatParameter');
    concat.concat_param.axis = 0;

    for (let t = 1; t <= this.T; t++) {
      const tm1 = String(t - 1);
      const ts = String(t);
      contSlice.top.push(`cont_${ts}`);
      xSlice.top.push(`W_xh_x_${ts}`);

      // h_conted_{t-1} = cont_t * h_{t-1}: the state is flushed where a new sequence starts.
      const conted = layerParam('Scale', `h_conted_${tm1}`, [`h_${tm1}`, `cont_${ts}`], [`h_conted_${tm1}`]);
      conted.scale_param = newMessage('ScaleParameter');
      conted.scale_param.axis = 0;
      layers.push(conted);

      layers.push(innerProduct(`W_hh_h_${tm1}`, `h_conted_${tm1}`, `W_hh_h_${tm1}`, 2, false, ['W_hh']));

      const sum = layerParam('Eltwise', `h_input_sum_${ts}`, [`W_hh_h_${tm1}`, `W_xh_x_${ts}`], [`h_neuron_input_${ts}`]);
      if (this.staticInput) sum.bottom.push('W_xh_x_static');
      sum.eltwise_param = newMessage('EltwiseParameter');
      sum.eltwise_param.operation = 1; // SUM
      layers.push(sum);
      layers.push(tanh(`h_neuron_${ts}`, `h_neuron_input_${ts}`, `h_${ts}`));

      layers.push(innerProduct(`W_ho_h_${ts}`, `h_${ts}`, `W_ho_h_${ts}`, 2, true, ['W_ho', 'b_o']));
      layers.push(tanh(`o_neuron_${ts}`, `W_ho_h_${ts}`, `o_${ts}`));
      concat.bottom.push(`o_${ts}`);
    }
    layers.push(concat);
  }
}

registerLayer('RNN', RNNLayer);
