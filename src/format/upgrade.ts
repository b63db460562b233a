// The legacy-format upgrades of BVLC Caffe (src/caffe/util/upgrade_proto.cpp), in Caffe's order:
//
//   1. V0 -> V1      (`layers { layer { type: "conv" ... } }`, padding layers folded into conv/pool)
//   2. data fields   (scale/mean_file/crop_size/mirror of Data/ImageData/WindowData -> transform_param)
//   3. V1 -> V2      (`layers { type: CONVOLUTION }` -> `layer { type: "Convolution" }`)
//   4. input fields  (`input` + `input_dim`/`input_shape` -> an "Input" layer in front)
//   5. BatchNorm     (three declared ParamSpecs -> lr_mult 0 and decay_mult 0)
//
// and the solver upgrade (`solver_type: ADAM` -> `type: "Adam"`).
//
// Where Caffe logs an error and carries on (LOG(ERROR), `is_fully_compatible = false`) we append to
// the log and report `success: false`; where Caffe dies (LOG(FATAL), CHECK) we throw an
// UpgradeError naming the file and the layer.
//
// The upgrade functions work in place the way Caffe's do: the message handed in may be modified and
// its sub-messages (blobs, *_param) are moved into the result rather than copied.
import { CaffeError } from '../util/errors.js';
import { cloneMessage, enumType, fieldOf, has, messageType, newMessage, type Message, type Type } from '../proto/schema.js';

/** A legacy file that Caffe refuses to upgrade (where Caffe LOG(FATAL)s or CHECK-fails). */
export class UpgradeError extends CaffeError {
  constructor(
    readonly file: string,
    readonly detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

export interface NetUpgradeResult {
  /** The upgraded net (the same object as the input when nothing had to change). */
  net: Message;
  /** True when any upgrade step ran. */
  upgraded: boolean;
  /** False when Caffe would report "had one or more problems upgrading" (it continues anyway). */
  success: boolean;
  /** What Caffe would have logged, in order. */
  log: string[];
}

export interface SolverUpgradeResult {
  solver: Message;
  upgraded: boolean;
  success: boolean;
  log: string[];
}

// ---------------------------------------------------------------------------------------------
// Small reflection helpers (Caffe's generated accessors, on protobufjs messages)

function typeOf(msg: Message): Type {
  const t = (msg as { $type?: Type }).$type;
  if (!t) throw new Error('caffe-ts upgrade: not a reflected message');
  return t;
}

function subType(parent: Type, field: string): Type {
  const f = fieldOf(parent, field);
  if (!f) throw new Error(`caffe-ts upgrade: ${parent.name} has no field ${field}`);
  f.resolve();
  if (!f.resolvedType || !('fields' in f.resolvedType)) {
    throw new Error(`caffe-ts upgrade: ${parent.name}.${field} is not a message field`);
  }
  return f.resolvedType as Type;
}

/** Caffe's mutable_xxx(): the sub-message, created (and so marked present) when absent. */
function mutable(msg: Message, field: string): Message {
  const cur = Object.hasOwn(msg, field) ? msg[field] : null;
  if (cur !== null && cur !== undefined) return cur as Message;
  const sub = new (subType(typeOf(msg), field).ctor as any)() as Message;
  msg[field] = sub;
  return sub;
}

/** Caffe's repeated field read: always an array-like (empty when unset). */
function list<T = any>(msg: Message, field: string): ArrayLike<T> & Iterable<T> {
  const v = msg[field];
  return v === null || v === undefined ? [] : (v as ArrayLike<T> & Iterable<T>);
}

/** Caffe's add_xxx(value) for a scalar repeated field (keeps Float32Array/Float64Array fields typed). */
function addScalar(msg: Message, field: string, value: unknown): void {
  const f = fieldOf(typeOf(msg), field)!;
  const cur = Object.hasOwn(msg, field) ? msg[field] : undefined;
  if (f.type === 'float' || f.type === 'double') {
    const Ctor = f.type === 'float' ? Float32Array : Float64Array;
    const old = (cur ?? []) as ArrayLike<number>;
    const next = new Ctor(old.length + 1);
    for (let i = 0; i < old.length; i++) next[i] = old[i];
    next[old.length] = value as number;
    msg[field] = next;
  } else {
    if (Array.isArray(cur)) cur.push(value);
    else msg[field] = [...((cur ?? []) as ArrayLike<unknown>) as unknown[], value];
  }
}

/** Caffe's add_xxx() for a repeated message field: appends an empty sub-message and returns it. */
function addMessage(msg: Message, field: string, sub?: Message): Message {
  const m = sub ?? (new (subType(typeOf(msg), field).ctor as any)() as Message);
  const cur = Object.hasOwn(msg, field) ? msg[field] : undefined;
  if (Array.isArray(cur)) cur.push(m);
  else msg[field] = [m];
  return m;
}

/** Caffe's clear_xxx(). */
function clear(msg: Message, field: string): void {
  const f = fieldOf(typeOf(msg), field)!;
  if (f.repeated) {
    if (f.type === 'float') msg[field] = new Float32Array(0);
    else if (f.type === 'double') msg[field] = new Float64Array(0);
    else msg[field] = [];
  } else {
    delete msg[field];
  }
}

/** Sets a float field the way Caffe stores it (float32-rounded). */
function setFloat(msg: Message, field: string, v: number): void {
  msg[field] = Math.fround(v);
}

function enumValue(enumName: string, valueName: string): number {
  const v = enumType(enumName).values[valueName];
  if (v === undefined) throw new Error(`caffe-ts upgrade: ${enumName} has no value ${valueName}`);
  return v;
}

function enumName(enumName: string, value: number): string | undefined {
  return enumType(enumName).valuesById[value];
}

// ---------------------------------------------------------------------------------------------
// Caffe's NetNeeds*Upgrade predicates

/** NetNeedsV0ToV1Upgrade: any `layers` entry holding a V0 `layer`. */
export function netNeedsV0ToV1Upgrade(net: Message): boolean {
  const layers = list<Message>(net, 'layers');
  for (let i = 0; i < layers.length; i++) if (has(layers[i], 'layer')) return true;
  return false;
}

/** NetNeedsV1ToV2Upgrade: any `layers` (V1LayerParameter) entry at all. */
export function netNeedsV1ToV2Upgrade(net: Message): boolean {
  return list(net, 'layers').length > 0;
}

const DATA_UPGRADE_KINDS: Array<[string, string]> = [
  ['DATA', 'data_param'],
  ['IMAGE_DATA', 'image_data_param'],
  ['WINDOW_DATA', 'window_data_param'],
];
const DATA_UPGRADE_FIELDS = ['scale', 'mean_file', 'crop_size', 'mirror'];

/** NetNeedsDataUpgrade: a V1 Data/ImageData/WindowData layer with scale/mean_file/crop_size/mirror in its own param. */
export function netNeedsDataUpgrade(net: Message): boolean {
  const layers = list<Message>(net, 'layers');
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i];
    for (const [kind, paramField] of DATA_UPGRADE_KINDS) {
      if (l.type !== enumValue('V1LayerParameter.LayerType', kind)) continue;
      const p = has(l, paramField) ? (l[paramField] as Message) : null;
      if (p && DATA_UPGRADE_FIELDS.some((f) => has(p, f))) return true;
    }
  }
  return false;
}

/** NetNeedsInputUpgrade: any legacy `input` field. */
export function netNeedsInputUpgrade(net: Message): boolean {
  return list(net, 'input').length > 0;
}

/** NetNeedsBatchNormUpgrade: a BatchNorm layer declaring exactly three ParamSpecs (the old definition). */
export function netNeedsBatchNormUpgrade(net: Message): boolean {
  const layers = list<Message>(net, 'layer');
  for (let i = 0; i < layers.length; i++) {
    if (layers[i].type === 'BatchNorm' && list(layers[i], 'param').length === 3) return true;
  }
  return false;
}

/** Caffe's NetNeedsUpgrade (master): any of the five upgrades applies. */
export function netNeedsUpgrade(net: Message): boolean {
  return (
    netNeedsV0ToV1Upgrade(net) ||
    netNeedsV1ToV2Upgrade(net) ||
    netNeedsDataUpgrade(net) ||
    netNeedsInputUpgrade(net) ||
    netNeedsBatchNormUpgrade(net)
  );
}

// ---------------------------------------------------------------------------------------------
// V0 -> V1

function v0LayerLabel(conn: Message, index: number): string {
  const name = has(conn, 'layer') && has(conn.layer, 'name') ? conn.layer.name : has(conn, 'name') ? conn.name : '';
  return name ? `layer '${name}' (#${index})` : `layer #${index}`;
}

/**
 * UpgradeV0PaddingLayers: drops V0 "padding" layers and sets their `pad` on the conv/pool layer
 * that consumes their output, rewiring that layer's bottom to the padding layer's input.
 */
export function upgradeV0PaddingLayers(param: Message, file = '<net>'): Message {
  const out = cloneWithout(param, ['layers']);
  const lastTop = new Map<string, number>();
  const inputs = list<string>(param, 'input');
  for (let i = 0; i < inputs.length; i++) lastTop.set(inputs[i], -1);
  const layers = list<Message>(param, 'layers');
  const outLayers: Message[] = [];
  for (let i = 0; i < layers.length; i++) {
    const conn = layers[i];
    const v0 = has(conn, 'layer') ? (conn.layer as Message) : null;
    const type: string = v0 ? v0.type : '';
    if (type !== 'padding') outLayers.push(shallowCopy(conn));
    const bottoms = list<string>(conn, 'bottom');
    for (let j = 0; j < bottoms.length; j++) {
      const blob = bottoms[j];
      const topIdx = lastTop.get(blob);
      if (topIdx === undefined) {
        throw new UpgradeError(file, `${v0LayerLabel(conn, i)}: unknown blob input '${blob}' (bottom ${j})`);
      }
      if (topIdx === -1) continue;
      const source = layers[topIdx];
      const sourceType = has(source, 'layer') ? source.layer.type : '';
      if (sourceType !== 'padding') continue;
      // A padding layer feeds this layer: only a single-input conv/pool may absorb it.
      if (type !== 'conv' && type !== 'pool') {
        throw new UpgradeError(
          file,
          `${v0LayerLabel(conn, i)}: padding layer input to non-convolutional / non-pooling layer type '${type}'`,
        );
      }
      if (bottoms.length !== 1) {
        throw new UpgradeError(file, `${v0LayerLabel(conn, i)}: conv layer takes a single blob as input (has ${bottoms.length})`);
      }
      if (list(source, 'bottom').length !== 1) {
        throw new UpgradeError(file, `${v0LayerLabel(source, topIdx)}: padding layer takes a single blob as input`);
      }
      if (list(source, 'top').length !== 1) {
        throw new UpgradeError(file, `${v0LayerLabel(source, topIdx)}: padding layer produces a single blob as output`);
      }
      // The folded layer is a shallow copy: give it its own V0 layer and bottom list before editing.
      const target = outLayers[outLayers.length - 1];
      target.layer = has(target, 'layer') ? shallowCopy(target.layer) : mutable(target, 'layer');
      target.layer.pad = source.layer.pad;
      target.bottom = Array.from(list<string>(target, 'bottom'));
      target.bottom[j] = list<string>(source, 'bottom')[0];
    }
    const tops = list<string>(conn, 'top');
    for (let j = 0; j < tops.length; j++) lastTop.set(tops[j], i);
  }
  out.layers = outLayers;
  return out;
}

/** A new message of the same type sharing the field values (sub-messages, arrays) of `msg`. */
function shallowCopy(msg: Message): Message {
  const out = new (typeOf(msg).ctor as any)() as Message;
  for (const key of Object.keys(msg)) out[key] = msg[key];
  return out;
}

function cloneWithout(msg: Message, fields: string[]): Message {
  const saved = fields.map((f) => [f, Object.hasOwn(msg, f), msg[f]] as const);
  for (const f of fields) delete msg[f];
  try {
    return cloneMessage(msg);
  } finally {
    for (const [f, own, v] of saved) if (own) msg[f] = v;
  }
}

const V0_TYPES: Record<string, string> = {
  accuracy: 'ACCURACY',
  bnll: 'BNLL',
  concat: 'CONCAT',
  conv: 'CONVOLUTION',
  data: 'DATA',
  dropout: 'DROPOUT',
  euclidean_loss: 'EUCLIDEAN_LOSS',
  flatten: 'FLATTEN',
  hdf5_data: 'HDF5_DATA',
  hdf5_output: 'HDF5_OUTPUT',
  im2col: 'IM2COL',
  images: 'IMAGE_DATA',
  infogain_loss: 'INFOGAIN_LOSS',
  innerproduct: 'INNER_PRODUCT',
  lrn: 'LRN',
  multinomial_logistic_loss: 'MULTINOMIAL_LOGISTIC_LOSS',
  pool: 'POOLING',
  relu: 'RELU',
  sigmoid: 'SIGMOID',
  softmax: 'SOFTMAX',
  softmax_loss: 'SOFTMAX_LOSS',
  split: 'SPLIT',
  tanh: 'TANH',
  window_data: 'WINDOW_DATA',
};

/** UpgradeV0LayerType: a V0 type string ("conv") to the V1 LayerType enum value (CONVOLUTION). */
export function upgradeV0LayerType(type: string, file = '<net>', layer = ''): number {
  const name = Object.hasOwn(V0_TYPES, type) ? V0_TYPES[type] : undefined;
  if (name === undefined) {
    throw new UpgradeError(file, `${layer ? `layer '${layer}': ` : ''}unknown V0 layer type '${type}'`);
  }
  return enumValue('V1LayerParameter.LayerType', name);
}

/**
 * UpgradeV0LayerParameter: one V0 `layers { layer { ... } bottom top }` entry to a V1LayerParameter.
 * Returns false (and logs) for V0 fields that do not apply to the layer's type, as Caffe does.
 */
export function upgradeV0LayerParameter(conn: Message, out: Message, log: string[], file = '<net>'): boolean {
  let ok = true;
  for (const b of list<string>(conn, 'bottom')) addScalar(out, 'bottom', b);
  for (const t of list<string>(conn, 'top')) addScalar(out, 'top', t);
  if (!has(conn, 'layer')) return ok;
  const v0 = conn.layer as Message;
  if (has(v0, 'name')) out.name = v0.name;
  const type: string = v0.type;
  const label = has(v0, 'name') ? v0.name : '';
  if (has(v0, 'type')) out.type = upgradeV0LayerType(type, file, label);
  for (const b of list<Message>(v0, 'blobs')) addMessage(out, 'blobs', b); // moved, not copied
  for (const v of list<number>(v0, 'blobs_lr')) addScalar(out, 'blobs_lr', v);
  for (const v of list<number>(v0, 'weight_decay')) addScalar(out, 'weight_decay', v);

  const unknown = (field: string) => {
    log.push(`Unknown parameter ${field} for layer type ${type}` + (label ? ` (layer '${label}')` : ''));
    ok = false;
  };
  // field -> (V0 type -> [target param, target field, repeated?])
  const route = (
    field: string,
    targets: Record<string, [string, string, boolean?]>,
    convert: (v: any) => any = (v) => v,
    logName = field,
  ) => {
    if (!has(v0, field)) return;
    const t = Object.hasOwn(targets, type) ? targets[type] : undefined;
    if (!t) return unknown(logName);
    const [param, target, repeated] = t;
    const p = mutable(out, param);
    const value = convert(v0[field]);
    if (repeated) addScalar(p, target, value);
    else if (value !== null && typeof value === 'object' && (value as Message).$type) p[target] = cloneMessage(value);
    else p[target] = value;
  };

  route('num_output', { conv: ['convolution_param', 'num_output'], innerproduct: ['inner_product_param', 'num_output'] });
  route('biasterm', { conv: ['convolution_param', 'bias_term'], innerproduct: ['inner_product_param', 'bias_term'] });
  route('weight_filler', {
    conv: ['convolution_param', 'weight_filler'],
    innerproduct: ['inner_product_param', 'weight_filler'],
  });
  route('bias_filler', { conv: ['convolution_param', 'bias_filler'], innerproduct: ['inner_product_param', 'bias_filler'] });
  route('pad', { conv: ['convolution_param', 'pad', true], pool: ['pooling_param', 'pad', isRepeated('PoolingParameter', 'pad')] });
  route('kernelsize', {
    conv: ['convolution_param', 'kernel_size', true],
    pool: ['pooling_param', 'kernel_size', isRepeated('PoolingParameter', 'kernel_size')],
  });
  route('group', { conv: ['convolution_param', 'group'] });
  route('stride', {
    conv: ['convolution_param', 'stride', true],
    pool: ['pooling_param', 'stride', isRepeated('PoolingParameter', 'stride')],
  });
  if (has(v0, 'pool')) {
    if (type === 'pool') {
      const name = enumName('V0LayerParameter.PoolMethod', v0.pool);
      if (name === 'MAX' || name === 'AVE' || name === 'STOCHASTIC') {
        mutable(out, 'pooling_param').pool = enumValue('PoolingParameter.PoolMethod', name);
      } else {
        log.push(`Unknown pool method ${v0.pool}` + (label ? ` (layer '${label}')` : ''));
        ok = false;
      }
    } else unknown('pool');
  }
  route('dropout_ratio', { dropout: ['dropout_param', 'dropout_ratio'] });
  route('local_size', { lrn: ['lrn_param', 'local_size'] });
  route('alpha', { lrn: ['lrn_param', 'alpha'] });
  route('beta', { lrn: ['lrn_param', 'beta'] });
  route('k', { lrn: ['lrn_param', 'k'] });
  route('source', {
    data: ['data_param', 'source'],
    hdf5_data: ['hdf5_data_param', 'source'],
    images: ['image_data_param', 'source'],
    window_data: ['window_data_param', 'source'],
    infogain_loss: ['infogain_loss_param', 'source'],
  });
  if (has(v0, 'scale')) setFloat(mutable(out, 'transform_param'), 'scale', v0.scale);
  if (has(v0, 'meanfile')) mutable(out, 'transform_param').mean_file = v0.meanfile;
  route('batchsize', {
    data: ['data_param', 'batch_size'],
    hdf5_data: ['hdf5_data_param', 'batch_size'],
    images: ['image_data_param', 'batch_size'],
    window_data: ['window_data_param', 'batch_size'],
  });
  if (has(v0, 'cropsize')) mutable(out, 'transform_param').crop_size = v0.cropsize;
  if (has(v0, 'mirror')) mutable(out, 'transform_param').mirror = v0.mirror;
  route('rand_skip', { data: ['data_param', 'rand_skip'], images: ['image_data_param', 'rand_skip'] });
  route('shuffle_images', { images: ['image_data_param', 'shuffle'] }, (v) => v, 'shuffle');
  route('new_height', { images: ['image_data_param', 'new_height'] });
  route('new_width', { images: ['image_data_param', 'new_width'] });
  route('concat_dim', { concat: ['concat_param', 'concat_dim'] });
  route('det_fg_threshold', { window_data: ['window_data_param', 'fg_threshold'] });
  route('det_bg_threshold', { window_data: ['window_data_param', 'bg_threshold'] });
  route('det_fg_fraction', { window_data: ['window_data_param', 'fg_fraction'] });
  route('det_context_pad', { window_data: ['window_data_param', 'context_pad'] });
  route('det_crop_mode', { window_data: ['window_data_param', 'crop_mode'] });
  if (has(v0, 'hdf5_output_param')) {
    if (type === 'hdf5_output') out.hdf5_output_param = cloneMessage(v0.hdf5_output_param);
    else unknown('hdf5_output_param');
  }
  return ok;
}

function isRepeated(typeName: string, field: string): boolean {
  return fieldOf(messageType(typeName), field)?.repeated ?? false;
}

/** UpgradeV0Net: padding layers folded, then every V0 layer upgraded to a V1 layer. */
export function upgradeV0Net(v0Padded: Message, log: string[], file = '<net>'): { net: Message; ok: boolean } {
  const v0 = upgradeV0PaddingLayers(v0Padded, file);
  const net = newMessage('NetParameter');
  let ok = true;
  if (has(v0, 'name')) net.name = v0.name;
  const layers = list<Message>(v0, 'layers');
  for (let i = 0; i < layers.length; i++) {
    const out = addMessage(net, 'layers');
    ok = upgradeV0LayerParameter(layers[i], out, log, file) && ok;
  }
  for (const s of list<string>(v0, 'input')) addScalar(net, 'input', s);
  for (const d of list<unknown>(v0, 'input_dim')) addScalar(net, 'input_dim', d);
  if (has(v0, 'force_backward')) net.force_backward = v0.force_backward;
  return { net, ok };
}

// ---------------------------------------------------------------------------------------------
// Data transformation fields

/** UpgradeNetDataTransformation: moves scale/mean_file/crop_size/mirror into transform_param. */
export function upgradeNetDataTransformation(net: Message): void {
  const layers = list<Message>(net, 'layers');
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i];
    for (const [kind, paramField] of DATA_UPGRADE_KINDS) {
      if (l.type !== enumValue('V1LayerParameter.LayerType', kind)) continue;
      const p = mutable(l, paramField);
      const t = mutable(l, 'transform_param');
      for (const f of DATA_UPGRADE_FIELDS) {
        if (has(p, f)) {
          t[f] = p[f];
          delete p[f];
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// V1 -> V2

const V1_TYPE_NAMES: Record<string, string> = {
  NONE: '',
  ABSVAL: 'AbsVal',
  ACCURACY: 'Accuracy',
  ARGMAX: 'ArgMax',
  BNLL: 'BNLL',
  CONCAT: 'Concat',
  CONTRASTIVE_LOSS: 'ContrastiveLoss',
  CONVOLUTION: 'Convolution',
  DECONVOLUTION: 'Deconvolution',
  DATA: 'Data',
  DROPOUT: 'Dropout',
  DUMMY_DATA: 'DummyData',
  EUCLIDEAN_LOSS: 'EuclideanLoss',
  ELTWISE: 'Eltwise',
  EXP: 'Exp',
  FLATTEN: 'Flatten',
  HDF5_DATA: 'HDF5Data',
  HDF5_OUTPUT: 'HDF5Output',
  HINGE_LOSS: 'HingeLoss',
  IM2COL: 'Im2col',
  IMAGE_DATA: 'ImageData',
  INFOGAIN_LOSS: 'InfogainLoss',
  INNER_PRODUCT: 'InnerProduct',
  LRN: 'LRN',
  MEMORY_DATA: 'MemoryData',
  MULTINOMIAL_LOGISTIC_LOSS: 'MultinomialLogisticLoss',
  MVN: 'MVN',
  POOLING: 'Pooling',
  POWER: 'Power',
  RELU: 'ReLU',
  SIGMOID: 'Sigmoid',
  SIGMOID_CROSS_ENTROPY_LOSS: 'SigmoidCrossEntropyLoss',
  SILENCE: 'Silence',
  SOFTMAX: 'Softmax',
  SOFTMAX_LOSS: 'SoftmaxWithLoss',
  SPLIT: 'Split',
  SLICE: 'Slice',
  TANH: 'TanH',
  WINDOW_DATA: 'WindowData',
  THRESHOLD: 'Threshold',
};

/** UpgradeV1LayerType: a V1 LayerType enum value to the V2 type string. */
export function upgradeV1LayerType(type: number, file = '<net>', layer = ''): string {
  const name = enumName('V1LayerParameter.LayerType', type);
  if (name === undefined || !Object.hasOwn(V1_TYPE_NAMES, name)) {
    throw new UpgradeError(file, `${layer ? `layer '${layer}': ` : ''}unknown V1LayerParameter layer type ${type}`);
  }
  return V1_TYPE_NAMES[name];
}

/** The *_param sub-messages UpgradeV1LayerParameter copies, in Caffe's order. */
export const V1_PARAM_FIELDS = [
  'accuracy_param',
  'argmax_param',
  'concat_param',
  'contrastive_loss_param',
  'convolution_param',
  'data_param',
  'dropout_param',
  'dummy_data_param',
  'eltwise_param',
  'exp_param',
  'hdf5_data_param',
  'hdf5_output_param',
  'hinge_loss_param',
  'image_data_param',
  'infogain_loss_param',
  'inner_product_param',
  'lrn_param',
  'memory_data_param',
  'mvn_param',
  'pooling_param',
  'power_param',
  'relu_param',
  'sigmoid_param',
  'softmax_param',
  'slice_param',
  'tanh_param',
  'threshold_param',
  'window_data_param',
  'transform_param',
  'loss_param',
] as const;

/**
 * UpgradeV1LayerParameter: one V1 `layers` entry to a V2 LayerParameter. Sub-messages are moved,
 * not copied (the V1 layer is discarded afterwards).
 */
export function upgradeV1LayerParameter(v1: Message, out: Message, log: string[], file = '<net>'): boolean {
  let ok = true;
  const label = has(v1, 'name') ? (v1.name as string) : '';
  for (const b of list<string>(v1, 'bottom')) addScalar(out, 'bottom', b);
  for (const t of list<string>(v1, 'top')) addScalar(out, 'top', t);
  if (has(v1, 'name')) out.name = v1.name;
  for (const r of list<Message>(v1, 'include')) addMessage(out, 'include', r);
  for (const r of list<Message>(v1, 'exclude')) addMessage(out, 'exclude', r);
  if (has(v1, 'type')) out.type = upgradeV1LayerType(v1.type, file, label);
  for (const b of list<Message>(v1, 'blobs')) addMessage(out, 'blobs', b);
  const paramSpec = (i: number): Message => {
    while (list(out, 'param').length <= i) addMessage(out, 'param');
    return (out.param as Message[])[i];
  };
  const names = list<string>(v1, 'param');
  for (let i = 0; i < names.length; i++) paramSpec(i).name = names[i];
  const modes = list<number>(v1, 'blob_share_mode');
  for (let i = 0; i < modes.length; i++) {
    const name = enumName('V1LayerParameter.DimCheckMode', modes[i]);
    if (name !== 'STRICT' && name !== 'PERMISSIVE') {
      throw new UpgradeError(file, `${label ? `layer '${label}': ` : ''}unknown blob_share_mode ${modes[i]}`);
    }
    paramSpec(i).share_mode = enumValue('ParamSpec.DimCheckMode', name);
  }
  const lrs = list<number>(v1, 'blobs_lr');
  for (let i = 0; i < lrs.length; i++) setFloat(paramSpec(i), 'lr_mult', lrs[i]);
  const decays = list<number>(v1, 'weight_decay');
  for (let i = 0; i < decays.length; i++) setFloat(paramSpec(i), 'decay_mult', decays[i]);
  for (const w of list<number>(v1, 'loss_weight')) addScalar(out, 'loss_weight', w);
  for (const f of V1_PARAM_FIELDS) {
    if (has(v1, f)) out[f] = v1[f];
  }
  if (has(v1, 'layer')) {
    log.push(`Input NetParameter has V0 layer -- ignoring.` + (label ? ` (layer '${label}')` : ''));
    ok = false;
  }
  return ok;
}

/**
 * UpgradeV1Net: `layers` (V1) to `layer` (V2). Refuses (throws) a net that has both, as Caffe master
 * does ("Refusing to upgrade inconsistent NetParameter input").
 */
export function upgradeV1Net(v1Net: Message, log: string[], file = '<net>'): { net: Message; ok: boolean } {
  if (list(v1Net, 'layer').length > 0) {
    throw new UpgradeError(
      file,
      "refusing to upgrade inconsistent NetParameter input: the definition includes both 'layer' and 'layers' fields. " +
        "The current format defines 'layer' fields with string type like layer { type: 'Layer' ... } and not " +
        "layers { type: LAYER ... }. Manually switch the definition to 'layer' format to continue.",
    );
  }
  let ok = true;
  const v1Layers = list<Message>(v1Net, 'layers');
  const net = new (typeOf(v1Net).ctor as any)() as Message;
  for (const key of Object.keys(v1Net)) {
    if (key === 'layers' || key === 'layer') continue;
    net[key] = v1Net[key];
  }
  for (let i = 0; i < v1Layers.length; i++) {
    const out = addMessage(net, 'layer');
    if (!upgradeV1LayerParameter(v1Layers[i], out, log, file)) {
      log.push(`Upgrade of input layer ${i} failed.`);
      ok = false;
    }
  }
  return { net, ok };
}

// ---------------------------------------------------------------------------------------------
// Input fields, BatchNorm

/**
 * UpgradeNetInput: `input` + `input_shape`/`input_dim` become one "Input" layer named "input",
 * placed first; the legacy fields are cleared. (An `input` without shapes, as old caffemodels
 * carry, is simply dropped.)
 */
export function upgradeNetInput(net: Message, file = '<net>'): void {
  const inputs = list<string>(net, 'input');
  const shapes = list<Message>(net, 'input_shape');
  const dims = list<unknown>(net, 'input_dim');
  const hasShape = shapes.length > 0;
  const hasDim = dims.length > 0;
  if (hasShape || hasDim) {
    if (hasShape && shapes.length < inputs.length) {
      throw new UpgradeError(file, `${inputs.length} input blobs but only ${shapes.length} input_shape entries`);
    }
    if (!hasShape && dims.length < 4 * inputs.length) {
      throw new UpgradeError(
        file,
        `${inputs.length} input blobs need ${4 * inputs.length} input_dim values (4 per input), found ${dims.length}`,
      );
    }
    const layer = newMessage('LayerParameter');
    layer.name = 'input';
    layer.type = 'Input';
    const inputParam = mutable(layer, 'input_param');
    for (let i = 0; i < inputs.length; i++) {
      addScalar(layer, 'top', inputs[i]);
      if (hasShape) {
        addMessage(inputParam, 'shape', cloneMessage(shapes[i]));
      } else {
        const shape = addMessage(inputParam, 'shape');
        for (let j = i * 4; j < i * 4 + 4; j++) addScalar(shape, 'dim', dims[j]);
      }
    }
    net.layer = [layer, ...Array.from(list<Message>(net, 'layer'))];
  }
  clear(net, 'input');
  clear(net, 'input_shape');
  clear(net, 'input_dim');
}

/**
 * UpgradeNetBatchNorm (Caffe master): a BatchNorm layer declaring three ParamSpecs (the old
 * definition, where the statistics had to be frozen by hand) gets lr_mult 0 and decay_mult 0 on
 * each; the specs themselves (names, share modes) are kept.
 */
export function upgradeNetBatchNorm(net: Message): void {
  for (const l of Array.from(list<Message>(net, 'layer'))) {
    if (l.type === 'BatchNorm' && list(l, 'param').length === 3) {
      for (const p of l.param as Message[]) {
        p.lr_mult = 0;
        p.decay_mult = 0;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// UpgradeNetAsNeeded

/**
 * Caffe's UpgradeNetAsNeeded (master): V0->V1, data transformation fields, V1->V2, input fields,
 * BatchNorm, each when needed and in that order. `source` names the file in messages and errors.
 * The input message may be modified and its sub-messages reused by the result.
 */
export function upgradeNetAsNeeded(net: Message, source = '<net>'): NetUpgradeResult {
  const log: string[] = [];
  let success = true;
  let upgraded = false;
  let cur = net;
  if (netNeedsV0ToV1Upgrade(cur)) {
    upgraded = true;
    log.push(`Attempting to upgrade input file specified using deprecated V0LayerParameter: ${source}`);
    const r = upgradeV0Net(cur, log, source);
    cur = r.net;
    if (!r.ok) {
      success = false;
      log.push('Warning: had one or more problems upgrading V0NetParameter to NetParameter (see above); continuing anyway.');
    } else {
      log.push('Successfully upgraded file specified using deprecated V0LayerParameter');
    }
  }
  if (netNeedsDataUpgrade(cur)) {
    upgraded = true;
    log.push(`Attempting to upgrade input file specified using deprecated transformation parameters: ${source}`);
    upgradeNetDataTransformation(cur);
    log.push('Successfully upgraded file specified using deprecated data transformation parameters.');
  }
  if (netNeedsV1ToV2Upgrade(cur)) {
    upgraded = true;
    log.push(`Attempting to upgrade input file specified using deprecated V1LayerParameter: ${source}`);
    const r = upgradeV1Net(cur, log, source);
    cur = r.net;
    if (!r.ok) {
      success = false;
      log.push('Warning: had one or more problems upgrading V1LayerParameter (see above); continuing anyway.');
    } else {
      log.push('Successfully upgraded file specified using deprecated V1LayerParameter');
    }
  }
  if (netNeedsInputUpgrade(cur)) {
    upgraded = true;
    log.push(`Attempting to upgrade input file specified using deprecated input fields: ${source}`);
    upgradeNetInput(cur, source);
    log.push('Successfully upgraded file specified using deprecated input fields.');
  }
  if (netNeedsBatchNormUpgrade(cur)) {
    upgraded = true;
    log.push(`Attempting to upgrade batch norm layers using deprecated params: ${source}`);
    upgradeNetBatchNorm(cur);
    log.push('Successfully upgraded batch norm layers using deprecated params.');
  }
  return { net: cur, upgraded, success, log };
}

// ---------------------------------------------------------------------------------------------
// Solver

const SOLVER_TYPE_NAMES: Record<string, string> = {
  SGD: 'SGD',
  NESTEROV: 'Nesterov',
  ADAGRAD: 'AdaGrad',
  RMSPROP: 'RMSProp',
  ADADELTA: 'AdaDelta',
  ADAM: 'Adam',
};

/** SolverNeedsTypeUpgrade: the deprecated `solver_type` enum is set. */
export function solverNeedsTypeUpgrade(solver: Message): boolean {
  return has(solver, 'solver_type');
}

/** UpgradeSolverType: `solver_type` enum -> `type` string, old field cleared. False when already up to date. */
export function upgradeSolverType(solver: Message, log: string[] = [], file = '<solver>'): boolean {
  if (has(solver, 'solver_type') && has(solver, 'type')) {
    throw new UpgradeError(
      file,
      'failed to upgrade solver: old solver_type field (enum) and new type field (string) cannot be both specified',
    );
  }
  if (!has(solver, 'solver_type')) {
    log.push('Warning: solver type already up to date. ');
    return false;
  }
  const name = enumName('SolverParameter.SolverType', solver.solver_type);
  if (name === undefined || !Object.hasOwn(SOLVER_TYPE_NAMES, name)) {
    throw new UpgradeError(file, `unknown SolverParameter solver_type ${solver.solver_type}`);
  }
  solver.type = SOLVER_TYPE_NAMES[name];
  delete solver.solver_type;
  return true;
}

/** Caffe's UpgradeSolverAsNeeded. Modifies the solver in place (and returns it). */
export function upgradeSolverAsNeeded(solver: Message, source = '<solver>'): SolverUpgradeResult {
  const log: string[] = [];
  let success = true;
  let upgraded = false;
  if (solverNeedsTypeUpgrade(solver)) {
    upgraded = true;
    log.push(`Attempting to upgrade input file specified using deprecated 'solver_type' field (enum)': ${source}`);
    if (!upgradeSolverType(solver, log, source)) {
      success = false;
      log.push('Warning: had one or more problems upgrading SolverType (see above).');
    } else {
      log.push("Successfully upgraded file specified using deprecated 'solver_type' field (enum) to 'type' field (string).");
    }
  }
  return { solver, upgraded, success, log };
}
