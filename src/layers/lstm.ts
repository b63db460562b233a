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
import { newMessage } from '../proto/schema.js';
import { registerLayer } from './registry.js';
import { RecurrentLayer, blobShape, fillerOf, layerParam, namedParam, provideNetFactory } from './recurrent.js';

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
    const rp = this.rp;
    const numOutput = Number(rp.num_output);
    this.check(numOutput > 0, 'recurrent_param.num_output must be positive');
    const layers: Message[] = netParam.layer;

    const innerProduct = (name: string, bottom: string, top: string, axis: number, bias: boolean, params: string[]) => {
      const lp = layerParam('InnerProduct', name, [bottom], [top]);
      const ip = newMessage('InnerProductParameter');
      ip.num_output = numOutput * 4;
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

    const [shapeC, shapeH] = this.recurrentInputShapes();
    const input = layerParam('Input', '', [], ['c_0', 'h_0']);
    input.input_param = newMessage('InputParameter');
    input.input_param.shape = [blobShape(shapeC), blobShape(shapeH)];
    layers.push(input);

    const contSlice = slice('cont_slice', 'cont');
    layers.push(contSlice);

    const xTransform = innerProduct('x_transform', 'x', 'W_xc_x', 2, true, ['W_xc', 'b_c']);
    xTransform.propagate_down = [true];
    layers.push(xTransform);

    if (this.staticInput) {
      const st = innerProduct('W_xc_x_static', 'x_static', 'W_xc_x_static_preshape', 1, false, ['W_xc_static']);
      st.propagate_down = [true];
      layers.push(st);
      const reshape = layerParam('Reshape', 'W_xc_x_static_reshape', ['W_xc_x_static_preshape'], ['W_xc_x_static']);
      reshape.reshape_param = newMessage('ReshapeParameter');
      reshape.reshape_param.shape = blobShape([1, -1, numOutput * 4]);
      layers.push(reshape);
    }

    const xSlice = slice('W_xc_x_slice', 'W_xc_x');
    layers.push(xSlice);

    const concat = layerParam('Concat', 'h_concat', [], ['h']);
    concat.concat_param = newMessage('ConcatParameter');
    concat.concat_param.axis = 0;

    for (let t = 1; t <= this.T; t++) {
      const tm1 = String(t - 1);
      const ts = String(t);
      contSlice.top.push(`cont_${ts}`);
      xSlice.top.push(`W_xc_x_${ts}`);

      // h_conted_{t-1} = cont_t * h_{t-1}: the state is flushed where a new sequence starts.
      const conted = layerParam('Scale', `h_conted_${tm1}`, [`h_${tm1}`, `cont_${ts}`], [`h_conted_${tm1}`]);
      conted.scale_param = newMessage('ScaleParameter');
      conted.scale_param.axis = 0;
      layers.push(conted);

      layers.push(innerProduct(`transform_${ts}`, `h_conted_${tm1}`, `W_hc_h_${tm1}`, 2, false, ['W_hc']));

      const sum = layerParam('Eltwise', `gate_input_${ts}`, [`W_hc_h_${tm1}`, `W_xc_x_${ts}`], [`gate_input_${ts}`]);
      if (this.staticInput) sum.bottom.push('W_xc_x_static');
      sum.eltwise_param = newMessage('EltwiseParameter');
      sum.eltwise_param.operation = 1; // SUM
      layers.push(sum);

      layers.push(layerParam('LSTMUnit', `unit_${ts}`, [`c_${tm1}`, `gate_input_${ts}`, `cont_${ts}`], [`c_${ts}`, `h_${ts}`]));
      concat.bottom.push(`h_${ts}`);
    }

    // c_T: a copy of the last cell state under a fixed name (an unnamed Split, as in Caffe).
    layers.push(layerParam('Split', '', [`c_${this.T}`], ['c_T']));
    layers.push(concat);
  }
}

registerLayer('LSTM', LSTMLayer);
