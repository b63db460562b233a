// RecurrentLayer: the base of LSTM and RNN (Caffe's RecurrentLayer). The layer builds an internal
// "unrolled" Net from a NetParameter it generates and runs it.
//
// Bottoms: x (T x N x ...), cont (T x N, sequence continuation indicators), optionally a static
// input x_static (N x ...), and with recurrent_param.expose_hidden the initial recurrent states
// (one bottom per recurrent input, after x_static). Tops: the output (T x N x num_output) and,
// with expose_hidden, the final recurrent states.
//
// The generated net, as Caffe's: an unnamed Input layer with tops x, cont [, x_static], then the
// subclass's layers (fillUnrolledNet), every layer name prefixed by "<this layer's name>_", then
// a pseudo-loss Reduction ("<output>_pseudoloss", loss_weight 1) per output so that the inner
// net backpropagates; the pseudo-losses are never run. The internal net is built without a
// NetState, so (as in Caffe) it runs in the TEST phase whatever this layer's phase is.
//
// Parameters are the inner net's parameter blobs that own their storage (the inner layers share
// them by ParamSpec name across time steps), in the inner net's order; they are the same Blob
// objects, so loading weights into this layer fills the inner net.
//
// Forward: without expose_hidden the final states of the previous forward become the initial
// states (zero before the first forward); with it the initial states are the extra bottoms and the
// final states are written to the extra tops. x, x_static and the output share data and diff
// with the inner net's blobs; cont and the exposed states share data only. Backward runs the inner
// net backward: gradients reach x, x_static and the parameters (accumulated), never cont (asking
// for it is an error, as Caffe's CHECK), nor the exposed initial states, nor across batches.
import { Blob } from '../graph/blob.js';
import type { Net, NetOptions } from '../graph/net.js';
import { cloneMessage, newMessage, type Message } from '../proto/schema.js';
import { CaffeError } from '../util/errors.js';
import { Layer } from './layer.js';

// This module does not import src/graph/net.ts at run time: net.ts imports every layer module,
// so a static import here would make loading lstm.ts or rnn.ts first fail (their classes would
// extend a RecurrentLayer not yet defined). The subclass modules, which import net.ts themselves,
// provide the constructor instead.
let netFactory: ((param: Message, options: NetOptions) => Net) | null = null;
export function provideNetFactory(factory: (param: Message, options: NetOptions) => Net): void {
  netFactory = factory;
}

/** Destination of debug_info lines (Caffe logs them at INFO level). */
export let recurrentDebugLog: (line: string) => void = (line) => process.stderr.write(line + '\n');
export function setRecurrentDebugLog(log: (line: string) => void): void {
  recurrentDebugLog = log;
}

/** A LayerParameter with the given fields set (bottoms/tops copied). */
export function layerParam(type: string, name: string, bottom: string[] = [], top: string[] = []): Message {
  const lp = newMessage('LayerParameter');
  if (name) lp.name = name;
  lp.type = type;
  lp.bottom = bottom.slice();
  lp.top = top.slice();
  return lp;
}

/** A BlobShape message with the given dims. */
export function blobShape(dims: readonly number[]): Message {
  const s = newMessage('BlobShape');
  s.dim = dims.slice();
  return s;
}

/** A ParamSpec naming a shared parameter. */
export function namedParam(name: string): Message {
  const p = newMessage('ParamSpec');
  p.name = name;
  return p;
}

/** What LSTM and RNN name differently in the layers their unrolled nets share. */
export interface UnrollSpec {
  /** The input weight (W_xc, W_xh) and bias (b_c, b_h); the blobs W*x are named after the weight. */
  inputWeight: string;
  inputBias: string;
  /** num_output of every generated InnerProduct (4D for LSTM, D for RNN). */
  width: number;
  /** Tops of the Input layer of the initial states, in recurrentInputShapes() order. */
  stateTops: string[];
  /** The output blob: a Concat along time, which the subclass fills and pushes last. */
  output: string;
}

/** The shared part of an unrolled net under construction (see RecurrentLayer.beginUnroll). */
export interface Unroll {
  layers: Message[];
  concat: Message;
  /** An InnerProduct of `width` outputs with the recurrent_param fillers and named params. */
  innerProduct(name: string, bottom: string, top: string, axis: number, bias: boolean, params: string[]): Message;
  /** Step t's common layers: cont_t, <W>_x_t, and h_conted_{t-1} = cont_t * h_{t-1}. */
  step(t: number): void;
  /** Eltwise SUM of the recurrent term, <W>_x_t and (with a static input) <W>_x_static. */
  sum(name: string, top: string, recurrentTerm: string, t: number): Message;
}

export abstract class RecurrentLayer extends Layer {
  /** Number of time steps (fixed at setup) and of independent streams. */
  protected T = 0;
  protected N = 0;
  protected staticInput = false;
  protected exposeHidden = false;

  private unrolled: Net | null = null;
  private lastLayerIndex = -1;
  private xInput!: Blob;
  private contInput!: Blob;
  private xStaticInput: Blob | null = null;
  private recurInputs: Blob[] = [];
  private recurOutputs: Blob[] = [];
  private outputBlobs: Blob[] = [];
  private debugInfo = false;

  /** The recurrent_param, or the schema defaults. */
  protected get rp(): Message {
    return this.param.recurrent_param ?? newMessage('RecurrentParameter');
  }

  /** The inner net (after setup). */
  get unrolledNet(): Net {
    if (!this.unrolled) throw this.error('the layer has not been set up');
    return this.unrolled;
  }

  /** Adds the architecture's layers to the generated NetParameter (Caffe's FillUnrolledNet). */
  protected abstract fillUnrolledNet(netParam: Message): void;
  /** Names of the initial recurrent state blobs in the inner net. */
  protected abstract recurrentInputBlobNames(): string[];
  /** Names of the final recurrent state blobs in the inner net (may depend on T). */
  protected abstract recurrentOutputBlobNames(): string[];
  /** Shapes of the initial recurrent state blobs (depend on N). */
  protected abstract recurrentInputShapes(): number[][];
  /** Names of the inner blobs that become the tops (one per non-hidden top). */
  protected abstract outputBlobNames(): string[];

  /**
   * Starts the unrolled net with the layers LSTM and RNN share, in Caffe's order: the initial
   * states' Input, cont_slice, x_transform [, the static input's transform and reshape], the
   * slice of W*x along time.
   */
  protected beginUnroll(netParam: Message, spec: UnrollSpec): Unroll {
    const rp = this.rp;
    this.check(Number(rp.num_output) > 0, 'recurrent_param.num_output must be positive');
    const layers: Message[] = netParam.layer;
    const W = spec.inputWeight;

    const innerProduct = (name: string, bottom: string, top: string, axis: number, bias: boolean, params: string[]) => {
      const lp = layerParam('InnerProduct', name, [bottom], [top]);
      const ip = newMessage('InnerProductParameter');
      ip.num_output = spec.width;
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

    const input = layerParam('Input', '', [], spec.stateTops);
    input.input_param = newMessage('InputParameter');
    input.input_param.shape = this.recurrentInputShapes().map(blobShape);
    layers.push(input);

    const contSlice = slice('cont_slice', 'cont');
    layers.push(contSlice);

    const xTransform = innerProduct('x_transform', 'x', `${W}_x`, 2, true, [W, spec.inputBias]);
    xTransform.propagate_down = [true];
    layers.push(xTransform);

    if (this.staticInput) {
      const st = innerProduct(`${W}_x_static`, 'x_static', `${W}_x_static_preshape`, 1, false, [`${W}_static`]);
      st.propagate_down = [true];
      layers.push(st);
      const reshape = layerParam('Reshape', `${W}_x_static_reshape`, [`${W}_x_static_preshape`], [`${W}_x_static`]);
      reshape.reshape_param = newMessage('ReshapeParameter');
      reshape.reshape_param.shape = blobShape([1, -1, spec.width]);
      layers.push(reshape);
    }

    const xSlice = slice(`${W}_x_slice`, `${W}_x`);
    layers.push(xSlice);

    const concat = layerParam('Concat', `${spec.output}_concat`, [], [spec.output]);
    concat.concat_param = newMessage('ConcatParameter');
    concat.concat_param.axis = 0;

    const step = (t: number) => {
      const tm1 = String(t - 1);
      const ts = String(t);
      contSlice.top.push(`cont_${ts}`);
      xSlice.top.push(`${W}_x_${ts}`);
      // h_conted_{t-1} = cont_t * h_{t-1}: the state is flushed where a new sequence starts.
      const conted = layerParam('Scale', `h_conted_${tm1}`, [`h_${tm1}`, `cont_${ts}`], [`h_conted_${tm1}`]);
      conted.scale_param = newMessage('ScaleParameter');
      conted.scale_param.axis = 0;
      layers.push(conted);
    };
    const sum = (name: string, top: string, recurrentTerm: string, t: number) => {
      const lp = layerParam('Eltwise', name, [recurrentTerm, `${W}_x_${t}`], [top]);
      if (this.staticInput) lp.bottom.push(`${W}_x_static`);
      lp.eltwise_param = newMessage('EltwiseParameter');
      lp.eltwise_param.operation = 1; // SUM
      return lp;
    };
    return { layers, concat, innerProduct, step, sum };
  }

  override minBottomBlobs(): number {
    return 2 + (this.rp.expose_hidden ? this.recurrentInputBlobNames().length : 0);
  }
  override maxBottomBlobs(): number {
    return this.minBottomBlobs() + 1;
  }
  override exactNumTopBlobs(): number {
    return 1 + (this.rp.expose_hidden ? this.recurrentOutputBlobNames().length : 0);
  }
  override allowForceBackward(bottomIndex: number): boolean {
    // The continuation indicators take no gradient.
    return bottomIndex !== 1;
  }

  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    this.check(bottom[0].numAxes >= 2,
      () => `bottom[0] must have at least 2 axes (time steps, streams, ...), got ${bottom[0].shapeString()}`);
    this.T = bottom[0].shape[0];
    this.N = bottom[0].shape[1];
    this.check(bottom[1].numAxes === 2,
      () => `bottom[1] (cont) must have exactly 2 axes (time steps, streams), got ${bottom[1].shapeString()}`);
    this.check(bottom[1].shape[0] === this.T && bottom[1].shape[1] === this.N,
      () => `bottom[1] (cont) must have shape (${this.T},${this.N}) to match bottom[0] ${bottom[0].shapeString()}, got ${bottom[1].shapeString()}`);

    const rp = this.rp;
    this.exposeHidden = !!rp.expose_hidden;
    this.debugInfo = !!rp.debug_info;
    const outputNames = this.outputBlobNames();
    const recurInputNames = this.recurrentInputBlobNames();
    const recurOutputNames = this.recurrentOutputBlobNames();
    const numRecur = recurInputNames.length;
    if (recurOutputNames.length !== numRecur) throw this.error('internal: recurrent input and output name counts differ');

    const numHiddenExposed = this.exposeHidden ? numRecur : 0;
    this.staticInput = bottom.length > 2 + numHiddenExposed;
    if (this.staticInput) {
      this.check(bottom[2].numAxes >= 1, 'bottom[2] (the static input) must have at least 1 axis');
      this.check(bottom[2].shape[0] === this.N,
        () => `bottom[2] (the static input) must have ${this.N} streams along axis 0, got ${bottom[2].shapeString()}`);
    }

    // The generated net: inputs first, then the architecture.
    const netParam = newMessage('NetParameter');
    netParam.layer = [];
    const input = layerParam('Input', '', [], ['x', 'cont']);
    input.input_param = newMessage('InputParameter');
    input.input_param.shape = [blobShape(bottom[0].shape), blobShape(bottom[1].shape)];
    if (this.staticInput) {
      input.top.push('x_static');
      input.input_param.shape.push(blobShape(bottom[2].shape));
    }
    netParam.layer.push(input);
    this.fillUnrolledNet(netParam);

    const prefix = this.name;
    if (prefix) for (const lp of netParam.layer as Message[]) lp.name = `${prefix}_${lp.name ?? ''}`;

    const pseudoLosses = outputNames.map((out) => {
      const name = `${out}_pseudoloss`;
      const lp = layerParam('Reduction', name, [out], [name]);
      lp.loss_weight = Float32Array.of(1);
      netParam.layer.push(lp);
      return name;
    });

    if (!netFactory) throw this.error('internal: no Net constructor provided (load layers through src/graph/net.ts)');
    let net: Net;
    try {
      // keepBlobs: this layer reads the unrolled net's blobs by name between passes.
      net = netFactory(netParam, { source: `the unrolled net of layer '${this.name}'`, keepBlobs: true });
    } catch (e) {
      if (e instanceof CaffeError) throw this.error(`cannot build the unrolled net: ${e.message}`);
      throw e;
    }
    this.unrolled = net;

    const blobOf = (name: string) => {
      const b = net.blobs.get(name);
      if (!b) throw this.error(`internal: the unrolled net has no blob '${name}'`);
      return b;
    };
    this.xInput = blobOf('x');
    this.contInput = blobOf('cont');
    this.xStaticInput = this.staticInput ? blobOf('x_static') : null;
    this.recurInputs = recurInputNames.map(blobOf);
    this.recurOutputs = recurOutputNames.map(blobOf);
    this.check(top.length - numHiddenExposed === outputNames.length,
      () => `expected ${outputNames.length + numHiddenExposed} top(s), got ${top.length}`);
    this.outputBlobs = outputNames.map(blobOf);
    if (net.inputBlobIds.length !== 2 + numRecur + (this.staticInput ? 1 : 0)) {
      throw this.error(`internal: the unrolled net has ${net.inputBlobIds.length} inputs`);
    }

    // This layer's parameters: the inner parameters that own their storage, in the inner order.
    const stored = this.blobs;
    this.blobs = net.paramBlobs.filter((_, i) => net.paramOwners[i] === -1);
    if (stored.length > 0) this.adoptStoredBlobs(stored);
    net.layers.forEach((l, i) => {
      for (let j = 0; j < l.blobs.length; j++) {
        if (!l.paramPropagateDown(j)) throw this.error(`internal: param_propagate_down not set for inner layer ${i}, param ${j}`);
      }
    });
    for (let i = 0; i < this.blobs.length; i++) this.setParamPropagateDown(i, true);

    // No backpropagation across batches.
    for (const b of this.recurOutputs) b.diff.fill(0);

    const names = net.layerNames;
    this.lastLayerIndex = names.length - 1 - pseudoLosses.length;
    pseudoLosses.forEach((p, j) => {
      if (names[this.lastLayerIndex + 1 + j] !== p) throw this.error(`internal: the unrolled net does not end with the pseudo-loss '${p}'`);
    });
  }

  /**
   * Values stored in the layer's own parameter (LayerParameter.blobs) are copied into the inner
   * parameters. (Caffe drops them; weights normally arrive by layer name from a .caffemodel.)
   */
  private adoptStoredBlobs(stored: Blob[]): void {
    this.check(stored.length === this.blobs.length,
      () => `the layer's parameter stores ${stored.length} blob(s) but the layer has ${this.blobs.length}`);
    stored.forEach((s, i) => {
      const b = this.blobs[i];
      this.check(s.count === b.count,
        () => `stored blob ${i} has shape ${s.shapeString()}, the layer's parameter ${i} has shape ${b.shapeString()}`);
      b.data.set(s.data);
    });
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    this.check(bottom[0].numAxes >= 2,
      () => `bottom[0] must have at least 2 axes (time steps, streams, ...), got ${bottom[0].shapeString()}`);
    this.check(bottom[0].shape[0] === this.T,
      () => `the number of time steps changed: set up with ${this.T}, bottom[0] is ${bottom[0].shapeString()}`);
    this.N = bottom[0].shape[1];
    this.check(bottom[1].numAxes === 2 && bottom[1].shape[0] === this.T && bottom[1].shape[1] === this.N,
      () => `bottom[1] (cont) must have shape (${this.T},${this.N}), got ${bottom[1].shapeString()}`);
    const net = this.unrolledNet;
    this.xInput.reshapeLike(bottom[0]);
    this.contInput.reshape(bottom[1].shape);
    if (this.xStaticInput) this.xStaticInput.reshapeLike(bottom[2]);
    const shapes = this.recurrentInputShapes();
    shapes.forEach((s, i) => this.recurInputs[i].reshape(s));
    net.reshape();
    this.xInput.shareData(bottom[0]);
    this.xInput.shareDiff(bottom[0]);
    this.contInput.shareData(bottom[1]);
    if (this.xStaticInput) {
      this.xStaticInput.shareData(bottom[2]);
      this.xStaticInput.shareDiff(bottom[2]);
    }
    if (this.exposeHidden) {
      const offset = 2 + (this.staticInput ? 1 : 0);
      for (let i = offset, j = 0; i < bottom.length; i++, j++) {
        const want = this.recurInputs[j];
        const b = bottom[i];
        this.check(sameShape(want.shape, b.shape),
          () => `bottom[${i}] must have the hidden state input shape ${want.shapeString()}, got ${b.shapeString()}`);
        want.shareData(b);
      }
    }
    this.outputBlobs.forEach((o, i) => {
      top[i].reshapeLike(o);
      top[i].shareData(o);
      top[i].shareDiff(o);
    });
    if (this.exposeHidden) {
      const offset = this.outputBlobs.length;
      for (let i = offset, j = 0; i < top.length; i++, j++) top[i].reshapeLike(this.recurOutputs[j]);
    }
  }

  /** Zeroes the carried-over hidden state (Caffe's Reset). */
  reset(): void {
    for (const b of this.recurOutputs) b.data.fill(0);
  }

  protected override forwardCpu(_bottom: Blob[], top: Blob[]): void {
    const net = this.unrolledNet;
    // The outer net may have replaced parameter storage (a test net sharing a train net's
    // weights, parameters shared by name between layers): point every shared inner parameter at
    // its owner again. Caffe does this in TEST only; doing it always costs nothing and keeps
    // outer sharing effective in TRAIN too.
    reshareWeights(net);
    if (!this.exposeHidden) {
      this.recurInputs.forEach((b, i) => b.data.set(this.recurOutputs[i].data));
    }
    if (this.debugInfo) {
      for (let i = 0; i <= this.lastLayerIndex; i++) {
        net.forwardFromTo(i, i);
        forwardDebugInfo(net, i);
      }
    } else {
      net.forwardFromTo(0, this.lastLayerIndex);
    }
    if (this.exposeHidden) {
      const offset = this.outputBlobs.length;
      for (let i = offset, j = 0; i < top.length; i++, j++) top[i].shareData(this.recurOutputs[j]);
    }
  }

  protected override backwardCpu(_top: Blob[], propagateDown: boolean[], _bottom: Blob[]): void {
    if (propagateDown[1]) throw this.error('cannot backpropagate to the sequence continuation indicators (bottom[1])');
    const net = this.unrolledNet;
    if (this.debugInfo) {
      for (let i = this.lastLayerIndex; i >= 0; i--) {
        if (!net.layerNeedBackward[i]) continue;
        net.backwardFromTo(i, i);
        backwardDebugInfo(net, i);
      }
    } else {
      net.backwardFromTo(this.lastLayerIndex, 0);
    }
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Points every shared parameter of `net` at its owner's storage again (Caffe's ShareWeights). */
function reshareWeights(net: Net): void {
  net.paramOwners.forEach((owner, i) => {
    if (owner < 0) return;
    net.paramBlobs[i].shareData(net.paramBlobs[owner]);
    net.paramBlobs[i].shareDiff(net.paramBlobs[owner]);
  });
}

function paramIdsOf(net: Net, layerId: number): number[] {
  const ids: number[] = [];
  net.paramLayerIndices.forEach(([l, p], i) => {
    if (l === layerId) ids[p] = i;
  });
  return ids;
}

/** Caffe's Net::ForwardDebugInfo lines for one layer. */
function forwardDebugInfo(net: Net, layerId: number): void {
  const name = net.layerNames[layerId];
  net.topVecs[layerId].forEach((b, t) => {
    const blobName = net.blobNames[net.topIds[layerId][t]];
    recurrentDebugLog(`    [Forward] Layer ${name}, top blob ${blobName} data: ${b.asumData() / b.count}`);
  });
  const ids = paramIdsOf(net, layerId);
  net.layers[layerId].blobs.forEach((b, p) => {
    recurrentDebugLog(`    [Forward] Layer ${name}, param blob ${net.paramDisplayNames[ids[p]]} data: ${b.asumData() / b.count}`);
  });
}

/** Caffe's Net::BackwardDebugInfo lines for one layer. */
function backwardDebugInfo(net: Net, layerId: number): void {
  const name = net.layerNames[layerId];
  net.bottomVecs[layerId].forEach((b, k) => {
    if (!net.bottomNeedBackward[layerId][k]) return;
    const blobName = net.blobNames[net.bottomIds[layerId][k]];
    recurrentDebugLog(`    [Backward] Layer ${name}, bottom blob ${blobName} diff: ${b.asumDiff() / b.count}`);
  });
  const layer = net.layers[layerId];
  layer.blobs.forEach((b, p) => {
    if (!layer.paramPropagateDown(p)) return;
    recurrentDebugLog(`    [Backward] Layer ${name}, param blob ${p} diff: ${b.asumDiff() / b.count}`);
  });
}

/** The filler to copy into generated layers: the given one, or an empty one (Caffe's CopyFrom). */
export function fillerOf(filler: Message | null | undefined): Message {
  return filler ? cloneMessage(filler, 'FillerParameter') : newMessage('FillerParameter');
}

