// Net: a DAG of layers built from a NetParameter exactly as BVLC Caffe's Net::Init builds it:
// filter by NetState rules, insert splits, connect bottoms/tops (in-place when top i names
// bottom i), set up each layer, share named parameters, and work out which layers and blobs need
// backward. Blob, layer and output orders are Caffe's, so names and indices line up with pycaffe.
import { Blob } from './blob.js';
import { filterNet } from './rules.js';
import { insertSplits } from './splits.js';
import { createLayer } from '../layers/registry.js';
import '../layers/index.js';
import { Layer, TRAIN, TEST, type Phase, copyProtoData } from '../layers/layer.js';
import { cloneMessage, has, newMessage, type Message } from '../proto/schema.js';
import { CaffeError, LayerError, NetError } from '../util/errors.js';
import { upgradeNetAsNeeded } from '../format/upgrade.js';
import { FileFormatError, isHdf5, isHdf5File, readNetParameter, readNetParameterBytes, readNetWeights } from '../format/io.js';
import { decodeMessage } from '../format/binary.js';
import { readHdf5Tree, writeHdf5Tree } from '../data/hdf5.js';
import { copyTrainedLayersFromHdf5Tree, netToHdf5Tree } from './net-hdf5.js';
import { encodeMessage } from '../format/binary.js';
import { writeFileAtomic } from '../util/fs.js';
import { withDeferredFills } from './filler.js';
import { planMemory, releaseMemory, type MemoryPlan } from './memory-plan.js';
import { chainEpilogue, planFusion, type ConvEpilogue, type FusedChain } from './fusion.js';
import { plainForced } from '../util/plain.js';

export type PhaseName = 'TRAIN' | 'TEST';

export interface NetOptions {
  /** Replaces the phase of the file's own `state` (Caffe's Net(file, phase, ...)). */
  phase?: PhaseName | Phase;
  /** Added to the stages of the file's own `state`. */
  stages?: string[];
  /** Replaces the level of the file's own `state`. */
  level?: number;
  /** Name used in messages (the prototxt path). */
  source?: string;
  /**
   * Fold in-place BatchNorm/Scale/ReLU chains into the convolution before them where no backward
   * runs (default true; CAFFE_TS_PLAIN=1 turns it off everywhere). See src/graph/fusion.ts.
   */
  fuse?: boolean;
  /**
   * Which blob values must survive a forward pass, as in Caffe where every one does: `true` keeps
   * all (`caffe-ts check` and `--dump` do), a list keeps those named; outputs are always kept.
   * Otherwise (the default for inference) a fused chain may write straight into its last blob,
   * and when no layer runs backward, blobs share storage once their values have been read
   * (src/graph/memory-plan.ts), so the blobs between hold no meaningful values afterwards.
   */
  keepBlobs?: boolean | string[];
}

export type TensorInput = ArrayLike<number> | { shape: readonly number[]; data: ArrayLike<number> };

export function parsePhase(p: PhaseName | Phase | string): Phase {
  if (p === TRAIN || p === 'TRAIN' || p === 'train') return TRAIN;
  if (p === TEST || p === 'TEST' || p === 'test') return TEST;
  throw new CaffeError(`unknown phase '${p}' (expected TRAIN or TEST)`);
}

export class Net {
  readonly name: string;
  readonly phase: Phase;
  /** The NetParameter after filtering and split insertion. */
  readonly param: Message;

  readonly layers: Layer[] = [];
  readonly layerNames: string[] = [];
  /** Blobs by name in Caffe's order (split blobs included). */
  readonly blobs = new Map<string, Blob>();
  readonly blobNames: string[] = [];
  private readonly blobList: Blob[] = [];
  readonly blobNeedBackward: boolean[] = [];
  readonly blobLossWeights: number[] = [];

  readonly bottomVecs: Blob[][] = [];
  readonly topVecs: Blob[][] = [];
  readonly bottomIds: number[][] = [];
  readonly topIds: number[][] = [];
  readonly bottomNeedBackward: boolean[][] = [];
  readonly layerNeedBackward: boolean[] = [];

  /** Every parameter blob, in layer order (shared ones included once per use). */
  readonly paramBlobs: Blob[] = [];
  /** For each entry of paramBlobs: -1 if it owns its storage, else the owner's index. */
  readonly paramOwners: number[] = [];
  readonly paramLayerIndices: [number, number][] = [];
  readonly paramDisplayNames: string[] = [];
  /** The blobs a solver updates (owners only) and their multipliers. */
  readonly learnableParams: Blob[] = [];
  readonly learnableParamIds: number[] = [];
  readonly paramsLr: number[] = [];
  readonly paramsWeightDecay: number[] = [];
  readonly hasParamsLr: boolean[] = [];
  readonly hasParamsDecay: boolean[] = [];

  readonly inputBlobIds: number[] = [];
  readonly outputBlobIds: number[] = [];

  /** Fused conv chains by conv layer index (empty when fusion is off). */
  private fusion = new Map<number, FusedChain>();
  private epilogues = new Map<number, ConvEpilogue>();
  /** Blobs whose values must survive a forward (keepBlobs), or null for all. */
  private kept: Set<Blob> | null = new Set();
  /** Whether the memory plan applies, and the input shapes it was made for. */
  private planMemoryOn = false;
  private plannedFor = '';
  /** The last memory plan's figures (undefined before one is made). */
  memoryPlan: MemoryPlan | undefined;

  static fromFile(prototxt: string, options: NetOptions = {}): Net {
    return new Net(readNetParameter(prototxt), { source: prototxt, ...options });
  }

  /** Builds a net from a prototxt and (optionally) copies weights from a caffemodel. */
  static fromFiles(prototxt: string, weights?: string | null, options: NetOptions = {}): Net {
    if (!weights || isHdf5File(weights)) {
      const net = Net.fromFile(prototxt, options);
      if (weights) net.copyTrainedLayersFromFile(weights);
      return net;
    }
    // Fillers draw only for the blobs the weights file does not hold (ResNet-50: about 25M
    // gaussian draws saved, most of the build time).
    return withDeferredFills(
      () => Net.fromFile(prototxt, options),
      (net) => net.copyTrainedLayersFromFile(weights),
    );
  }

  /**
   * Builds a net from a model's contents (prototxt text or bytes, or a binary NetParameter) and
   * optionally a binary caffemodel's bytes: the file-less form of fromFiles, for the browser or
   * for files already in memory. `names` label the two in error messages.
   */
  static fromBuffers(
    model: string | Uint8Array,
    weights?: Uint8Array | null,
    options: NetOptions = {},
    names: { model?: string; weights?: string } = {},
  ): Net {
    const modelName = names.model ?? options.source ?? '<model>';
    const weightsName = names.weights ?? '<weights>';
    const build = () => new Net(readNetParameterBytes(model, modelName), { source: modelName, ...options });
    if (!weights) return build();
    if (isHdf5(weights)) {
      throw new FileFormatError(weightsName, 'is HDF5 weights (a .caffemodel.h5): only binary caffemodels load from memory; HDF5 needs Net.fromFiles');
    }
    return withDeferredFills(build, (net) => net.copyTrainedLayersFrom(decodeMessage(weights, 'NetParameter', weightsName), weightsName, true));
  }

  constructor(netParam: Message, options: NetOptions = {}) {
    const source = options.source ?? '<net>';
    let param = upgradeNetAsNeeded(cloneMessage(netParam, 'NetParameter'), source).net;
    if (options.phase !== undefined || options.stages || options.level !== undefined) {
      const state = param.state ? cloneMessage(param.state, 'NetState') : newMessage('NetState');
      if (options.phase !== undefined) state.phase = parsePhase(options.phase);
      if (options.stages) state.stage = [...(state.stage as string[]), ...options.stages];
      if (options.level !== undefined) state.level = options.level;
      param.state = state;
    }
    if (!param.state) param.state = newMessage('NetState');
    this.phase = param.state.phase as Phase;
    param = insertSplits(filterNet(param));
    this.param = param;
    this.name = param.name;
    this.init(param);
    const keep = options.keepBlobs;
    if (keep === true) this.kept = null;
    else if (Array.isArray(keep)) this.kept = new Set(keep.map((n) => this.blob(n)));
    const plain = plainForced();
    if (options.fuse !== false && !plain) this.fusion = planFusion(this, this.kept);
    this.planMemoryOn = this.kept !== null && !plain && !this.layerNeedBackward.some((b) => b);
  }

  /** The fused chains (conv layer index -> chain), for tools that time layers one by one. */
  get fusedChains(): ReadonlyMap<number, FusedChain> {
    return this.fusion;
  }

  /**
   * Runs layer i forward, or the fused chain it starts when that chain ends at or before `end`;
   * returns the last layer index it covered and adds the loss to `acc.loss`.
   */
  forwardStep(i: number, end: number, acc: { loss: number }): number {
    const chain = this.fusion.get(i);
    if (chain && chain.last <= end) {
      const conv = this.layers[i] as Layer & { epilogue: ConvEpilogue | null };
      const ep = chainEpilogue(this, chain, this.epilogues.get(i) ?? null);
      this.epilogues.set(i, ep);
      conv.epilogue = ep;
      try {
        acc.loss += conv.forward(this.bottomVecs[i], chain.out === this.topVecs[i][0] ? this.topVecs[i] : [chain.out]);
      } finally {
        conv.epilogue = null;
      }
      return chain.last;
    }
    acc.loss += this.layers[i].forward(this.bottomVecs[i], this.topVecs[i]);
    return i;
  }

  private init(param: Message): void {
    const blobIndex = new Map<string, number>();
    const available = new Set<string>();
    const paramNameIndex = new Map<string, number>();
    const layerParams: Message[] = param.layer;

    layerParams.forEach((lp, layerId) => {
      if (!has(lp, 'phase')) lp.phase = this.phase;
      const pd: boolean[] = lp.propagate_down;
      if (pd.length > 0 && pd.length !== lp.bottom.length) {
        throw new NetError(`layer '${lp.name}' (${lp.type}): propagate_down must be given 0 or ${lp.bottom.length} times, got ${pd.length}`);
      }
      const layer = createLayer(lp);
      this.layers.push(layer);
      this.layerNames.push(lp.name);
      this.bottomVecs.push([]);
      this.topVecs.push([]);
      this.bottomIds.push([]);
      this.topIds.push([]);
      this.bottomNeedBackward.push([]);
      let needBackward = false;

      (lp.bottom as string[]).forEach((blobName, bottomId) => {
        if (!available.has(blobName)) {
          throw new NetError(`layer '${lp.name}' (${lp.type}): unknown bottom blob '${blobName}' (bottom index ${bottomId}); no earlier layer produces it`);
        }
        const id = blobIndex.get(blobName)!;
        this.bottomVecs[layerId].push(this.blobList[id]);
        this.bottomIds[layerId].push(id);
        available.delete(blobName);
        const nb = pd.length > 0 ? pd[bottomId] : this.blobNeedBackward[id];
        this.bottomNeedBackward[layerId].push(nb);
        needBackward ||= this.blobNeedBackward[id];
      });

      const appendTop = (topId: number, named: boolean) => {
        const blobName: string = topId < lp.top.length ? lp.top[topId] : '(automatic)';
        if (named && topId < lp.bottom.length && lp.bottom[topId] === blobName) {
          const id = blobIndex.get(blobName)!;
          this.topVecs[layerId].push(this.blobList[id]);
          this.topIds[layerId].push(id);
        } else if (named && blobIndex.has(blobName)) {
          throw new NetError(`layer '${lp.name}' (${lp.type}): top blob '${blobName}' is produced by more than one layer`);
        } else {
          const blob = new Blob();
          const id = this.blobList.length;
          this.blobList.push(blob);
          this.blobNames.push(blobName);
          this.blobNeedBackward.push(false);
          if (named) blobIndex.set(blobName, id);
          this.topVecs[layerId].push(blob);
          this.topIds[layerId].push(id);
        }
        if (named) available.add(blobName);
      };
      let numTop = lp.top.length;
      for (let t = 0; t < numTop; t++) {
        appendTop(t, true);
        if (lp.type === 'Input') this.inputBlobIds.push(this.topIds[layerId][t]);
      }
      if (layer.autoTopBlobs()) {
        const needed = Math.max(layer.minTopBlobs(), layer.exactNumTopBlobs());
        for (; numTop < needed; numTop++) appendTop(numTop, false);
      }

      try {
        layer.setUp(this.bottomVecs[layerId], this.topVecs[layerId]);
      } catch (e) {
        throw this.setupError(layerId, e);
      }
      this.topIds[layerId].forEach((id, t) => {
        while (this.blobLossWeights.length <= id) this.blobLossWeights.push(0);
        this.blobLossWeights[id] = layer.loss(t);
      });

      const specs: Message[] = lp.param;
      const numBlobs = layer.blobs.length;
      if (specs.length > numBlobs) {
        throw new NetError(`layer '${lp.name}' (${lp.type}): ${specs.length} param specs given but the layer has ${numBlobs} parameter blob(s)`);
      }
      for (let p = 0; p < numBlobs; p++) {
        const lrMult = p < specs.length ? specs[p].lr_mult : 1;
        needBackward ||= lrMult !== 0;
        layer.setParamPropagateDown(p, lrMult !== 0);
      }
      for (let p = 0; p < numBlobs; p++) this.appendParam(layerId, p, paramNameIndex);

      this.layerNeedBackward.push(needBackward);
      if (needBackward) for (const id of this.topIds[layerId]) this.blobNeedBackward[id] = true;
    });

    // Walk backwards: a layer contributes to the loss if one of its tops carries loss weight or
    // feeds a layer that does; layers that do not, or whose tops all skip backprop, skip backward.
    const underLoss = new Set<string>();
    const skipBackprop = new Set<string>();
    for (let layerId = this.layers.length - 1; layerId >= 0; layerId--) {
      const layer = this.layers[layerId];
      let contributes = false;
      let skipPropagate = true;
      for (let t = 0; t < this.topIds[layerId].length; t++) {
        const name = this.blobNames[this.topIds[layerId][t]];
        if (layer.loss(t) || underLoss.has(name)) contributes = true;
        if (!skipBackprop.has(name)) skipPropagate = false;
        if (contributes && !skipPropagate) break;
      }
      if (this.layerNeedBackward[layerId] && skipPropagate) {
        this.layerNeedBackward[layerId] = false;
        this.bottomNeedBackward[layerId].fill(false);
      }
      if (!contributes) this.layerNeedBackward[layerId] = false;
      this.bottomIds[layerId].forEach((id, b) => {
        const name = this.blobNames[id];
        if (contributes) underLoss.add(name);
        else this.bottomNeedBackward[layerId][b] = false;
        if (!this.bottomNeedBackward[layerId][b]) skipBackprop.add(name);
      });
    }

    if (param.force_backward) {
      this.layers.forEach((layer, layerId) => {
        this.layerNeedBackward[layerId] = true;
        this.bottomNeedBackward[layerId].forEach((nb, b) => {
          const v = nb || layer.allowForceBackward(b);
          this.bottomNeedBackward[layerId][b] = v;
          const id = this.bottomIds[layerId][b];
          this.blobNeedBackward[id] ||= v;
        });
        for (let p = 0; p < layer.blobs.length; p++) layer.setParamPropagateDown(p, true);
      });
    }

    this.layers.forEach((layer, layerId) => (layer.backwardPlanned = this.layerNeedBackward[layerId]));

    // Caffe keeps the unconsumed blob names in a std::set, so outputs come sorted by name.
    for (const name of [...available].sort(byteOrder)) this.outputBlobIds.push(blobIndex.get(name)!);
    this.blobNames.forEach((n, i) => this.blobs.set(n, this.blobList[i]));
    this.shareWeights();
  }

  private setupError(layerId: number, e: unknown): Error {
    if (e instanceof LayerError || e instanceof NetError) return e;
    const lp = this.param.layer[layerId];
    const shapes = this.bottomVecs[layerId].map((b) => b.shapeString()).join(', ');
    const msg = e instanceof Error ? e.message : String(e);
    return new NetError(`layer '${lp.name}' (${lp.type}) cannot be set up with bottom shapes [${shapes}]: ${msg}`);
  }

  private appendParam(layerId: number, paramId: number, nameIndex: Map<string, number>): void {
    const layer = this.layers[layerId];
    const specs: Message[] = layer.param.param;
    const spec: Message = paramId < specs.length ? specs[paramId] : newMessage('ParamSpec');
    const paramName: string = paramId < specs.length ? spec.name : '';
    const netParamId = this.paramBlobs.length;
    this.paramBlobs.push(layer.blobs[paramId]);
    this.paramLayerIndices.push([layerId, paramId]);
    this.paramDisplayNames.push(paramName || String(paramId));
    if (!paramName || !nameIndex.has(paramName)) {
      this.paramOwners.push(-1);
      if (paramName) nameIndex.set(paramName, netParamId);
      this.learnableParamIds.push(this.learnableParams.length);
      this.learnableParams.push(layer.blobs[paramId]);
      this.hasParamsLr.push(has(spec, 'lr_mult'));
      this.hasParamsDecay.push(has(spec, 'decay_mult'));
      this.paramsLr.push(spec.lr_mult);
      this.paramsWeightDecay.push(spec.decay_mult);
      return;
    }
    const owner = nameIndex.get(paramName)!;
    this.paramOwners.push(owner);
    const [ownerLayer, ownerParam] = this.paramLayerIndices[owner];
    const mine = layer.blobs[paramId];
    const theirs = this.layers[ownerLayer].blobs[ownerParam];
    const where = `cannot share param '${paramName}' owned by layer '${this.layerNames[ownerLayer]}' with layer '${this.layerNames[layerId]}'`;
    const PERMISSIVE = 1;
    if (paramId < specs.length && spec.share_mode === PERMISSIVE) {
      if (mine.count !== theirs.count) {
        throw new NetError(`${where}: count mismatch, owner shape ${theirs.shapeString()}, sharing layer shape ${mine.shapeString()}`);
      }
    } else if (mine.shape.length !== theirs.shape.length || mine.shape.some((d, i) => d !== theirs.shape[i])) {
      throw new NetError(`${where}: shape mismatch, owner shape ${theirs.shapeString()}, sharing layer shape ${mine.shapeString()}`);
    }
    const learnableId = this.learnableParamIds[owner];
    this.learnableParamIds.push(learnableId);
    if (has(spec, 'lr_mult')) {
      if (this.hasParamsLr[learnableId]) {
        if (spec.lr_mult !== this.paramsLr[learnableId]) throw new NetError(`shared param '${paramName}' has mismatched lr_mult`);
      } else {
        this.hasParamsLr[learnableId] = true;
        this.paramsLr[learnableId] = spec.lr_mult;
      }
    }
    if (has(spec, 'decay_mult')) {
      if (this.hasParamsDecay[learnableId]) {
        if (spec.decay_mult !== this.paramsWeightDecay[learnableId]) throw new NetError(`shared param '${paramName}' has mismatched decay_mult`);
      } else {
        this.hasParamsDecay[learnableId] = true;
        this.paramsWeightDecay[learnableId] = spec.decay_mult;
      }
    }
  }

  private shareWeights(): void {
    this.paramOwners.forEach((owner, i) => {
      if (owner < 0) return;
      this.paramBlobs[i].shareData(this.paramBlobs[owner]);
      this.paramBlobs[i].shareDiff(this.paramBlobs[owner]);
    });
  }

  /** Layer name -> parameter blobs, for layers that have any (pycaffe's net.params). */
  get params(): Map<string, Blob[]> {
    const m = new Map<string, Blob[]>();
    this.layers.forEach((l, i) => {
      if (l.blobs.length > 0) m.set(this.layerNames[i], l.blobs);
    });
    return m;
  }

  get inputs(): string[] {
    return this.inputBlobIds.map((i) => this.blobNames[i]);
  }
  get outputs(): string[] {
    return this.outputBlobIds.map((i) => this.blobNames[i]);
  }

  blob(name: string): Blob {
    const b = this.blobs.get(name);
    if (!b) throw new NetError(`net '${this.name}' has no blob '${name}'`);
    return b;
  }

  layer(name: string): Layer {
    const i = this.layerNames.indexOf(name);
    if (i < 0) throw new NetError(`net '${this.name}' has no layer '${name}'`);
    return this.layers[i];
  }

  /** Copies named tensors into blobs (reshaping the net when a shape is given and differs). */
  setInputs(inputs: Record<string, TensorInput>): void {
    let reshaped = false;
    for (const name of Object.keys(inputs)) {
      const blob = this.blob(name);
      const v = inputs[name];
      let data: ArrayLike<number>;
      if ('shape' in v && !ArrayBuffer.isView(v)) {
        // Reshape only when the element count changes: like pycaffe's `blob.data[...] = array`,
        // a (1,) array fills a 0-d blob and a flat array fills an N-D one.
        const shape = (v as { shape: readonly number[] }).shape;
        if (shape.reduce((a, b) => a * b, 1) !== blob.count) {
          blob.reshape(shape);
          reshaped = true;
        }
        data = (v as { data: ArrayLike<number> }).data;
      } else {
        data = v as ArrayLike<number>;
      }
      if (data.length !== blob.count) {
        throw new NetError(`input '${name}' has ${data.length} values but blob '${name}' of shape ${blob.shapeString()} holds ${blob.count}`);
      }
      blob.data.set(data);
    }
    if (reshaped) this.reshape();
  }

  /** Runs layers start..end (inclusive) forward; returns their summed loss. */
  forwardFromTo(start: number, end: number): number {
    const acc = { loss: 0 };
    for (let i = start; i <= end; i++) i = this.forwardStep(i, end, acc);
    return acc.loss;
  }

  /** Forward through the whole net; returns the total loss (Caffe's Net::Forward). */
  forward(inputs?: Record<string, TensorInput>): number {
    if (inputs) this.setInputs(inputs);
    if (this.planMemoryOn) {
      const sig = this.inputBlobIds.map((i) => this.blobList[i].shapeString()).join();
      if (sig !== this.plannedFor) {
        if (this.memoryPlan) releaseMemory(this, this.kept!);
        this.reshape();
        this.memoryPlan = planMemory(this, this.kept!);
        this.reshape();
        this.plannedFor = sig;
      }
    }
    return this.forwardFromTo(0, this.layers.length - 1);
  }

  backwardFromTo(start: number, end: number): void {
    for (let i = start; i >= end; i--) {
      if (this.layerNeedBackward[i]) this.layers[i].backward(this.topVecs[i], this.bottomNeedBackward[i], this.bottomVecs[i]);
    }
  }

  /** Backward through the whole net; topDiffs are written into the named blobs' diffs first. */
  backward(topDiffs?: Record<string, ArrayLike<number>>): void {
    if (topDiffs) {
      for (const name of Object.keys(topDiffs)) {
        const blob = this.blob(name);
        const d = topDiffs[name];
        if (d.length !== blob.count) throw new NetError(`diff for '${name}' has ${d.length} values, blob holds ${blob.count}`);
        blob.diff.set(d);
      }
    }
    this.backwardFromTo(this.layers.length - 1, 0);
  }

  /** Propagates input shape changes through every layer. */
  reshape(): void {
    this.layers.forEach((l, i) => l.reshape(this.bottomVecs[i], this.topVecs[i]));
  }

  clearParamDiffs(): void {
    for (const p of this.learnableParams) p.diff.fill(0);
  }

  private frozen = false;

  /**
   * Declares this net's parameters constant until thawWeights(): Convolution and Deconvolution
   * layers then keep their weights packed for the GEMM kernel between passes instead of copying
   * and packing them at each (inference: ResNet-50 at batch 1 5-10% faster; the results are the
   * same bits). A parameter written while frozen (through blob.data, a solver, or a net that
   * shares it) is not seen until the net is thawed or frozen again: call thawWeights() before, or
   * freezeWeights() after. copyTrainedLayersFrom and Solver.step do so themselves.
   */
  freezeWeights(): void {
    this.frozen = true;
    for (const l of this.layers) l.setWeightsFrozen(true);
  }

  /** Ends freezeWeights(): layers drop what they derived from the parameters. */
  thawWeights(): void {
    this.frozen = false;
    for (const l of this.layers) l.setWeightsFrozen(false);
  }

  /** Whether freezeWeights() is in force. */
  get weightsFrozen(): boolean {
    return this.frozen;
  }

  /**
   * Copies parameters by layer name from a NetParameter holding blobs (Caffe's
   * CopyTrainedLayersFrom); returns the blobs whose values it wrote.
   */
  copyTrainedLayersFrom(source: Message, sourceName = '<weights>', adopt = false): Set<Blob> {
    const copied = new Set<Blob>();
    if (this.frozen) this.freezeWeights(); // new weights: new packed copies
    const upgraded = upgradeNetAsNeeded(source, sourceName).net;
    for (const src of upgraded.layer as Message[]) {
      const target = this.layerNames.indexOf(src.name);
      if (target < 0) continue;
      const blobs = this.layers[target].blobs;
      const given: Message[] = src.blobs;
      if (blobs.length !== given.length) {
        throw new NetError(`${sourceName}: layer '${src.name}' holds ${given.length} blob(s) but the net's layer has ${blobs.length}`);
      }
      blobs.forEach((blob, j) => {
        if (!shapeEqualsProto(blob, given[j])) {
          throw new NetError(`${sourceName}: cannot copy param ${j} of layer '${src.name}': shape mismatch, source ${protoShapeString(given[j])}, target ${blob.shapeString()}`);
        }
        try {
          if (copyProtoData(given[j], blob, false, adopt)) copied.add(blob);
        } catch (e) {
          throw new NetError(`${sourceName}: layer '${src.name}' param ${j}: ${(e as Error).message}`);
        }
      });
    }
    return copied;
  }

  /**
   * Copies parameters from a binary caffemodel or, as Caffe decides by the file's signature, an
   * HDF5 one; returns the blobs whose values it wrote (for binary files; an empty set for HDF5).
   */
  copyTrainedLayersFromFile(path: string): Set<Blob> {
    if (this.frozen) this.freezeWeights(); // new weights: new packed copies
    if (isHdf5File(path)) {
      copyTrainedLayersFromHdf5Tree(this, readHdf5Tree(path), path);
      return new Set();
    }
    // The decoded message is ours alone: its arrays may become the blobs' data (no copy).
    return this.copyTrainedLayersFrom(readNetWeights(path), path, true);
  }

  /** Makes this net use another net's parameter storage, by layer name (test nets in a solver). */
  shareTrainedLayersWith(other: Net): void {
    other.layers.forEach((src, i) => {
      const target = this.layerNames.indexOf(other.layerNames[i]);
      if (target < 0) return;
      const blobs = this.layers[target].blobs;
      if (blobs.length !== src.blobs.length) {
        throw new NetError(`layer '${other.layerNames[i]}': ${src.blobs.length} blob(s) in the source net, ${blobs.length} here`);
      }
      blobs.forEach((b, j) => {
        const s = src.blobs[j];
        if (b.shape.length !== s.shape.length || b.shape.some((d, k) => d !== s.shape[k])) {
          throw new NetError(`layer '${other.layerNames[i]}' param ${j}: shape ${s.shapeString()} in the source net, ${b.shapeString()} here`);
        }
        b.shareData(s);
      });
    });
  }

  /** The net with its parameters as a NetParameter (Caffe's Net::ToProto). */
  toProto(writeDiff = false): Message {
    const out = newMessage('NetParameter');
    out.name = this.name;
    out.layer = this.layers.map((l) => {
      const lp = cloneMessage(l.param, 'LayerParameter');
      lp.blobs = l.blobsToProto(writeDiff);
      return lp;
    });
    return out;
  }

  /** Writes a binary caffemodel Caffe can read (atomically). */
  save(path: string, writeDiff = false): void {
    writeFileAtomic(path, encodeMessage(this.toProto(writeDiff), 'NetParameter'));
  }

  /** Writes the parameters as Caffe's Net::ToHDF5 does (a .caffemodel.h5), atomically. */
  saveHdf5(path: string, writeDiff = false): void {
    writeHdf5Tree(path, netToHdf5Tree(this, writeDiff));
  }
}

const utf8 = new TextEncoder();

/** Orders two names by their UTF-8 bytes, as std::string's compare does. */
function byteOrder(a: string, b: string): number {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/** Caffe's Blob::ShapeEquals(BlobProto): legacy 4-D fields compare from the end of the shape. */
export function shapeEqualsProto(blob: Blob, proto: Message): boolean {
  if (has(proto, 'num') || has(proto, 'channels') || has(proto, 'height') || has(proto, 'width')) {
    const s = blob.shape;
    const n = s.length;
    const legacy = (i: number) => (i >= n || i < -n ? 1 : s[i < 0 ? i + n : i]);
    return n <= 4 && legacy(-4) === proto.num && legacy(-3) === proto.channels && legacy(-2) === proto.height && legacy(-1) === proto.width;
  }
  const dims = Blob.shapeFromProto(proto);
  return dims.length === blob.shape.length && dims.every((d, i) => d === blob.shape[i]);
}

function protoShapeString(proto: Message): string {
  return `(${Blob.shapeFromProto(proto).join(',')})`;
}
