// Checks proto/caffe.proto against facts of BVLC Caffe's schema (field numbers, labels, types,
// packed options, defaults, enum values, type counts). These are the on-disk format, so any
// drift here breaks reading real .caffemodel / .prototxt / .solverstate files.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { addForkProto, enumType, fieldOf, forkFieldInfo, messageType, newMessage, protobuf } from '../src/proto/schema.js';
import { decodeMessage, encodeMessage } from '../src/format/binary.js';
import { parseText } from '../src/format/text.js';

// caffe.proto's own fields: the forks' extensions (proto/forks/*.proto) are left out.
function ids(typeName: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of messageType(typeName).fieldsArray) if (!forkFieldInfo(f)) out[f.name] = f.id;
  return out;
}

function field(typeName: string, name: string): protobuf.Field {
  const f = messageType(typeName).fields[name];
  if (!f) throw new Error(`${typeName}.${name} missing`);
  return f;
}

function dflt(typeName: string, name: string): unknown {
  return field(typeName, name).options?.default;
}

function countTypes(): { messages: number; enums: number; fields: number } {
  let messages = 0;
  let enums = 0;
  let fields = 0;
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const o of ns.nestedArray) {
      if (o instanceof protobuf.Type) {
        messages++;
        fields += o.fieldsArray.length;
      } else if (o instanceof protobuf.Enum) enums++;
      if (o instanceof protobuf.Namespace || o instanceof protobuf.Type) walk(o);
    }
  };
  // caffe.proto alone: the forks' files add their own messages to the loaded root.
  walk(new protobuf.Root().loadSync(join(import.meta.dirname, '..', 'proto', 'caffe.proto'), { keepCase: true }));
  return { messages, enums, fields };
}

describe('caffe.proto schema', () => {
  it('has exactly the BVLC message, enum and field counts', () => {
    // BVLC master: 63 messages, 26 enums (1 top-level + 25 nested), 423 fields.
    expect(countTypes()).toEqual({ messages: 63, enums: 26, fields: 423 });
  });

  it('LayerParameter field numbers', () => {
    const f = ids('LayerParameter');
    expect(f).toMatchObject({
      name: 1, type: 2, bottom: 3, top: 4, phase: 10, loss_weight: 5, param: 6, blobs: 7,
      propagate_down: 11, include: 8, exclude: 9, transform_param: 100, loss_param: 101,
      accuracy_param: 102, argmax_param: 103, batch_norm_param: 139, bias_param: 141,
      clip_param: 148, concat_param: 104, contrastive_loss_param: 105, convolution_param: 106,
      crop_param: 144, data_param: 107, dropout_param: 108, dummy_data_param: 109,
      eltwise_param: 110, elu_param: 140, embed_param: 137, exp_param: 111, flatten_param: 135,
      hdf5_data_param: 112, hdf5_output_param: 113, hinge_loss_param: 114,
      image_data_param: 115, infogain_loss_param: 116, inner_product_param: 117,
      input_param: 143, log_param: 134, lrn_param: 118, memory_data_param: 119,
      mvn_param: 120, parameter_param: 145, pooling_param: 121, power_param: 122,
      prelu_param: 131, python_param: 130, recurrent_param: 146, reduction_param: 136,
      relu_param: 123, reshape_param: 133, scale_param: 142, sigmoid_param: 124,
      softmax_param: 125, spp_param: 132, slice_param: 126, swish_param: 147, tanh_param: 127,
      threshold_param: 128, tile_param: 138, window_data_param: 129,
    });
    expect(Object.keys(f)).toHaveLength(60);
    expect(field('LayerParameter', 'bottom').repeated).toBe(true);
    expect(field('LayerParameter', 'loss_weight').type).toBe('float');
    expect(field('LayerParameter', 'propagate_down').type).toBe('bool');
    expect(field('LayerParameter', 'phase').resolvedType?.fullName).toBe('.caffe.Phase');
  });

  it('NetParameter, SolverState, NetState, NetStateRule, ParamSpec', () => {
    expect(ids('NetParameter')).toEqual({
      name: 1, input: 3, input_shape: 8, input_dim: 4, force_backward: 5, state: 6,
      debug_info: 7, layer: 100, layers: 2,
    });
    expect(field('NetParameter', 'input_dim').type).toBe('int32');
    expect(ids('SolverState')).toEqual({ iter: 1, learned_net: 2, history: 3, current_step: 4 });
    expect(ids('NetState')).toEqual({ phase: 1, level: 2, stage: 3 });
    expect(dflt('NetState', 'phase')).toBe('TEST');
    expect(ids('NetStateRule')).toEqual({ phase: 1, min_level: 2, max_level: 3, stage: 4, not_stage: 5 });
    expect(ids('ParamSpec')).toEqual({ name: 1, share_mode: 2, lr_mult: 3, decay_mult: 4 });
    expect(enumType('ParamSpec.DimCheckMode').values).toEqual({ STRICT: 0, PERMISSIVE: 1 });
    expect(enumType('Phase').values).toEqual({ TRAIN: 0, TEST: 1 });
  });

  it('blob messages, packed options and legacy int32 dims', () => {
    expect(field('BlobShape', 'dim').type).toBe('int64');
    expect(field('BlobShape', 'dim').packed).toBe(true);
    expect(ids('BlobProto')).toEqual({
      shape: 7, data: 5, diff: 6, double_data: 8, double_diff: 9, num: 1, channels: 2, height: 3, width: 4,
    });
    for (const n of ['data', 'diff', 'double_data', 'double_diff']) {
      expect(field('BlobProto', n).repeated).toBe(true);
      expect(field('BlobProto', n).packed).toBe(true);
    }
    expect(field('BlobProto', 'double_data').type).toBe('double');
    expect(field('BlobProto', 'num').type).toBe('int32');
    // Datum.float_data and the repeated numeric layer fields are NOT packed in proto2.
    expect(field('Datum', 'float_data').packed).toBe(false);
    expect(field('ConvolutionParameter', 'kernel_size').packed).toBe(false);
    expect(field('TransformationParameter', 'mean_value').packed).toBe(false);
    expect(ids('Datum')).toEqual({
      channels: 1, height: 2, width: 3, data: 4, label: 5, float_data: 6, encoded: 7,
    });
    expect(field('Datum', 'data').type).toBe('bytes');
  });

  it('SolverParameter ids, enums and defaults', () => {
    const f = ids('SolverParameter');
    expect(f).toMatchObject({
      net: 24, net_param: 25, train_net: 1, test_net: 2, train_net_param: 21, test_net_param: 22,
      train_state: 26, test_state: 27, test_iter: 3, test_interval: 4, test_compute_loss: 19,
      test_initialization: 32, base_lr: 5, display: 6, average_loss: 33, max_iter: 7,
      iter_size: 36, lr_policy: 8, gamma: 9, power: 10, momentum: 11, weight_decay: 12,
      regularization_type: 29, stepsize: 13, stepvalue: 34, clip_gradients: 35, snapshot: 14,
      snapshot_prefix: 15, snapshot_diff: 16, snapshot_format: 37, solver_mode: 17,
      device_id: 18, random_seed: 20, type: 40, delta: 31, momentum2: 39, rms_decay: 38,
      debug_info: 23, snapshot_after_train: 28, solver_type: 30, layer_wise_reduce: 41,
      weights: 42,
    });
    expect(Object.keys(f)).toHaveLength(42);
    expect(dflt('SolverParameter', 'type')).toBe('SGD');
    expect(dflt('SolverParameter', 'solver_mode')).toBe('GPU');
    expect(dflt('SolverParameter', 'solver_type')).toBe('SGD');
    expect(dflt('SolverParameter', 'snapshot_format')).toBe('BINARYPROTO');
    expect(dflt('SolverParameter', 'delta')).toBe(1e-8);
    expect(dflt('SolverParameter', 'momentum2')).toBe(0.999);
    expect(dflt('SolverParameter', 'rms_decay')).toBe(0.99);
    expect(dflt('SolverParameter', 'regularization_type')).toBe('L2');
    expect(dflt('SolverParameter', 'clip_gradients')).toBe(-1);
    expect(dflt('SolverParameter', 'random_seed')).toBe(-1);
    expect(dflt('SolverParameter', 'average_loss')).toBe(1);
    expect(dflt('SolverParameter', 'iter_size')).toBe(1);
    expect(dflt('SolverParameter', 'test_initialization')).toBe(true);
    expect(dflt('SolverParameter', 'snapshot_after_train')).toBe(true);
    expect(dflt('SolverParameter', 'layer_wise_reduce')).toBe(true);
    expect(field('SolverParameter', 'random_seed').type).toBe('int64');
    expect(field('SolverParameter', 'weights').repeated).toBe(true);
    expect(enumType('SolverParameter.SolverType').values).toEqual({
      SGD: 0, NESTEROV: 1, ADAGRAD: 2, RMSPROP: 3, ADADELTA: 4, ADAM: 5,
    });
    expect(enumType('SolverParameter.SolverMode').values).toEqual({ CPU: 0, GPU: 1 });
    expect(enumType('SolverParameter.SnapshotFormat').values).toEqual({ HDF5: 0, BINARYPROTO: 1 });
  });

  it('layer parameter defaults', () => {
    expect(dflt('ConvolutionParameter', 'bias_term')).toBe(true);
    expect(dflt('ConvolutionParameter', 'group')).toBe(1);
    expect(dflt('ConvolutionParameter', 'axis')).toBe(1);
    expect(ids('ConvolutionParameter')).toMatchObject({ pad: 3, kernel_size: 4, stride: 6, dilation: 18, engine: 15, force_nd_im2col: 17 });
    expect(dflt('PoolingParameter', 'pool')).toBe('MAX');
    expect(dflt('PoolingParameter', 'stride')).toBe(1);
    expect(dflt('PoolingParameter', 'round_mode')).toBe('CEIL');
    expect(enumType('PoolingParameter.PoolMethod').values).toEqual({ MAX: 0, AVE: 1, STOCHASTIC: 2 });
    expect(enumType('PoolingParameter.RoundMode').values).toEqual({ CEIL: 0, FLOOR: 1 });
    expect(dflt('BatchNormParameter', 'moving_average_fraction')).toBe(0.999);
    expect(dflt('BatchNormParameter', 'eps')).toBe(1e-5);
    expect(dflt('BatchNormParameter', 'use_global_stats')).toBeUndefined();
    expect(dflt('LRNParameter', 'k')).toBe(1);
    expect(dflt('LRNParameter', 'local_size')).toBe(5);
    expect(dflt('LRNParameter', 'alpha')).toBe(1);
    expect(dflt('LRNParameter', 'beta')).toBe(0.75);
    expect(dflt('LRNParameter', 'norm_region')).toBe('ACROSS_CHANNELS');
    expect(dflt('FillerParameter', 'type')).toBe('constant');
    expect(dflt('FillerParameter', 'std')).toBe(1);
    expect(dflt('FillerParameter', 'sparse')).toBe(-1);
    expect(dflt('FillerParameter', 'variance_norm')).toBe('FAN_IN');
    expect(dflt('MVNParameter', 'eps')).toBe(1e-9);
    expect(dflt('ExpParameter', 'base')).toBe(-1);
    expect(dflt('FlattenParameter', 'end_axis')).toBe(-1);
    expect(dflt('ReshapeParameter', 'num_axes')).toBe(-1);
    expect(dflt('CropParameter', 'axis')).toBe(2);
    expect(dflt('DropoutParameter', 'dropout_ratio')).toBe(0.5);
    expect(dflt('EltwiseParameter', 'operation')).toBe('SUM');
    expect(dflt('EltwiseParameter', 'stable_prod_grad')).toBe(true);
    expect(dflt('DataParameter', 'backend')).toBe('LEVELDB');
    expect(dflt('DataParameter', 'prefetch')).toBe(4);
    expect(dflt('ImageDataParameter', 'batch_size')).toBe(1);
    expect(dflt('HingeLossParameter', 'norm')).toBe('L1');
    expect(enumType('HingeLossParameter.Norm').values).toEqual({ L1: 1, L2: 2 });
    expect(enumType('ReductionParameter.ReductionOp').values).toEqual({ SUM: 1, ASUM: 2, SUMSQ: 3, MEAN: 4 });
    expect(dflt('LossParameter', 'normalization')).toBe('VALID');
    expect(enumType('LossParameter.NormalizationMode').values).toEqual({ FULL: 0, VALID: 1, BATCH_SIZE: 2, NONE: 3 });
    expect(dflt('SwishParameter', 'beta')).toBe(1);
    expect(dflt('WindowDataParameter', 'crop_mode')).toBe('warp');
    expect(dflt('PReLUParameter', 'channel_shared')).toBe(false);
    expect(field('ClipParameter', 'min').required).toBe(true);
    expect(field('ClipParameter', 'max').required).toBe(true);
  });

  it('defaults read through reflected message prototypes', () => {
    const conv = newMessage('ConvolutionParameter');
    expect(conv.bias_term).toBe(true);
    const pool = newMessage('PoolingParameter');
    expect(pool.pool).toBe(0);
    const bn = newMessage('BatchNormParameter');
    expect(bn.moving_average_fraction).toBeCloseTo(0.999, 6);
    const solver = newMessage('SolverParameter');
    expect(solver.type).toBe('SGD');
    expect(solver.solver_mode).toBe(1);
  });

  it('V1LayerParameter ids and LayerType enum', () => {
    expect(enumType('V1LayerParameter.LayerType').values).toEqual({
      NONE: 0, ABSVAL: 35, ACCURACY: 1, ARGMAX: 30, BNLL: 2, CONCAT: 3, CONTRASTIVE_LOSS: 37,
      CONVOLUTION: 4, DATA: 5, DECONVOLUTION: 39, DROPOUT: 6, DUMMY_DATA: 32, EUCLIDEAN_LOSS: 7,
      ELTWISE: 25, EXP: 38, FLATTEN: 8, HDF5_DATA: 9, HDF5_OUTPUT: 10, HINGE_LOSS: 28, IM2COL: 11,
      IMAGE_DATA: 12, INFOGAIN_LOSS: 13, INNER_PRODUCT: 14, LRN: 15, MEMORY_DATA: 29,
      MULTINOMIAL_LOGISTIC_LOSS: 16, MVN: 34, POOLING: 17, POWER: 26, RELU: 18, SIGMOID: 19,
      SIGMOID_CROSS_ENTROPY_LOSS: 27, SILENCE: 36, SOFTMAX: 20, SOFTMAX_LOSS: 21, SPLIT: 22,
      SLICE: 33, TANH: 23, WINDOW_DATA: 24, THRESHOLD: 31,
    });
    expect(ids('V1LayerParameter')).toMatchObject({
      bottom: 2, top: 3, name: 4, include: 32, exclude: 33, type: 5, blobs: 6, param: 1001,
      blob_share_mode: 1002, blobs_lr: 7, weight_decay: 8, loss_weight: 35, convolution_param: 10,
      pooling_param: 19, transform_param: 36, loss_param: 42, layer: 1,
    });
    expect(enumType('V1LayerParameter.DimCheckMode').values).toEqual({ STRICT: 0, PERMISSIVE: 1 });
  });

  it('V0LayerParameter ids and defaults', () => {
    expect(ids('V0LayerParameter')).toMatchObject({
      name: 1, type: 2, num_output: 3, biasterm: 4, weight_filler: 5, bias_filler: 6, pad: 7,
      kernelsize: 8, group: 9, stride: 10, pool: 11, dropout_ratio: 12, local_size: 13, alpha: 14,
      beta: 15, k: 22, source: 16, scale: 17, meanfile: 18, batchsize: 19, cropsize: 20, mirror: 21,
      blobs: 50, blobs_lr: 51, weight_decay: 52, rand_skip: 53, det_fg_threshold: 54,
      det_bg_threshold: 55, det_fg_fraction: 56, det_context_pad: 58, det_crop_mode: 59,
      new_num: 60, new_channels: 61, new_height: 62, new_width: 63, shuffle_images: 64,
      concat_dim: 65, hdf5_output_param: 1001,
    });
    expect(Object.keys(ids('V0LayerParameter'))).toHaveLength(38);
    expect(dflt('V0LayerParameter', 'biasterm')).toBe(true);
    expect(dflt('V0LayerParameter', 'det_crop_mode')).toBe('warp');
    expect(enumType('V0LayerParameter.PoolMethod').values).toEqual({ MAX: 0, AVE: 1, STOCHASTIC: 2 });
  });
});

describe('float defaults', () => {
  it('read as float32, as Caffe reads an unset float field', () => {
    const bn = newMessage('BatchNormParameter');
    expect(bn.moving_average_fraction).toBe(Math.fround(0.999));
    expect(bn.eps).toBe(Math.fround(1e-5));
    expect(newMessage('SolverParameter').delta).toBe(Math.fround(1e-8));
    expect(newMessage('LRNParameter').k).toBe(1);
  });
});

describe('fork fields (proto/forks/*.proto, added by addForkProto)', () => {
  // A fresh root, so the test does not depend on which fork files ship.
  const fresh = () => {
    const r = new protobuf.Root().loadSync(join(import.meta.dirname, '..', 'proto', 'caffe.proto'), { keepCase: true });
    addForkProto(
      r,
      `syntax = "proto2"; package caffe;
       message WidgetParameter { optional float gain = 1 [default = 0.1]; optional FillerParameter filler = 2; }
       extend LayerParameter { optional WidgetParameter widget_param = 4001; }
       extend PoolingParameter { optional bool ceil_mode = 13 [default = true]; }`,
      'widget.proto',
    );
    r.resolveAll();
    return r;
  };
  it('a field with a free number becomes an ordinary field that both formats carry', () => {
    const r = fresh();
    const lp = r.lookupType('caffe.LayerParameter');
    const f = fieldOf(lp, 'widget_param')!;
    expect(f.id).toBe(4001);
    expect(forkFieldInfo(f)).toEqual({ file: 'widget.proto', textOnly: false, number: 4001 });
    const msg = parseText('name: "w" type: "Widget" widget_param { gain: 2.5 filler { type: "xavier" } }', lp);
    expect(msg.widget_param.gain).toBe(2.5);
    const back = decodeMessage(encodeMessage(msg, lp), lp);
    expect(back.widget_param.gain).toBe(2.5);
    expect(back.widget_param.filler.type).toBe('xavier');
  });
  it('a field whose number BVLC uses is text-only: prototxts set it, binary files never carry it', () => {
    const r = fresh();
    const pp = r.lookupType('caffe.PoolingParameter');
    const f = fieldOf(pp, 'ceil_mode')!;
    expect(forkFieldInfo(f)?.textOnly).toBe(true);
    expect(f.id).not.toBe(13);
    expect(fieldOf(pp, 'round_mode')!.id).toBe(13); // BVLC's field keeps its number
    const msg = parseText('pool: MAX ceil_mode: false', pp);
    expect(msg.ceil_mode).toBe(false);
    const bytes = encodeMessage(msg, pp);
    const back = decodeMessage(bytes, pp);
    expect(Object.hasOwn(back, 'ceil_mode')).toBe(false);
    // field 13 in a binary file is BVLC's round_mode (1 = FLOOR)
    const withRound = decodeMessage(Uint8Array.from([0x68, 0x01]), pp);
    expect(withRound.round_mode).toBe(1);
    expect(Object.hasOwn(withRound, 'ceil_mode')).toBe(false);
  });
  it('refuses a fork field that reuses a BVLC field name', () => {
    const r = new protobuf.Root().loadSync(join(import.meta.dirname, '..', 'proto', 'caffe.proto'), { keepCase: true });
    expect(() => addForkProto(r, 'syntax = "proto2"; package caffe; extend PoolingParameter { optional bool pad = 900; }', 'bad.proto')).toThrow(
      /bad\.proto: PoolingParameter already has a field named pad/,
    );
  });
});

describe('proto/forks/ssd.proto (the SSD fork, and OpenCV for DetectionOutput clip)', () => {
  const forkId = (typeName: string, name: string) => {
    const f = fieldOf(messageType(typeName), name)!;
    expect(forkFieldInfo(f)?.file, `${typeName}.${name}`).toMatch(/ssd\.proto$/);
    return forkFieldInfo(f)!.textOnly ? 'text-only' : f.id;
  };
  it("LayerParameter's fork fields keep the fork's numbers, so its caffemodels decode", () => {
    expect([
      'annotated_data_param', 'multibox_loss_param', 'permute_param', 'prior_box_param',
      'detection_output_param', 'detection_evaluate_param', 'norm_param', 'video_data_param',
    ].map((n) => forkId('LayerParameter', n))).toEqual([200, 201, 202, 203, 204, 205, 206, 207]);
    expect(['resize_param', 'noise_param', 'emit_constraint', 'distort_param', 'expand_param'].map((n) => forkId('TransformationParameter', n)))
      .toEqual([8, 9, 10, 13, 14]);
    expect(['minimum_loss', 'iter_last_event'].map((n) => forkId('SolverState', n))).toEqual([5, 6]);
  });
  it("solver fields on BVLC's numbers 41 and 42 are text-only", () => {
    expect(['eval_type', 'ap_version', 'plateau_winsize', 'show_per_class_result'].map((n) => forkId('SolverParameter', n)))
      .toEqual(['text-only', 'text-only', 43, 44]);
    expect(fieldOf(messageType('SolverParameter'), 'layer_wise_reduce')!.id).toBe(41);
    const s = parseText('eval_type: "detection" ap_version: "11point" show_per_class_result: true', 'SolverParameter');
    expect([s.eval_type, s.ap_version, s.show_per_class_result]).toEqual(['detection', '11point', true]);
    expect(newMessage('SolverParameter').eval_type).toBe('classification');
  });
  it("the fork's messages, numbers and defaults", () => {
    expect(ids('DetectionOutputParameter')).toEqual({
      num_classes: 1, share_location: 2, background_label_id: 3, nms_param: 4, save_output_param: 5, code_type: 6,
      variance_encoded_in_target: 8, keep_top_k: 7, confidence_threshold: 9, visualize: 10, visualize_threshold: 11,
      save_file: 12, clip: 1000,
    });
    expect(enumType('PriorBoxParameter.CodeType').values).toEqual({ CORNER: 1, CENTER_SIZE: 2, CORNER_SIZE: 3 });
    const mb = newMessage('MultiBoxLossParameter');
    expect([mb.loc_loss_type, mb.conf_loss_type, mb.match_type, mb.mining_type, mb.code_type, mb.sample_size]).toEqual([1, 0, 1, 1, 1, 64]);
    expect(newMessage('NormalizeParameter').eps).toBe(Math.fround(1e-10));
    expect(newMessage('NonMaximumSuppressionParameter').nms_threshold).toBe(Math.fround(0.3));
    expect(newMessage('PriorBoxParameter').offset).toBe(0.5);
    expect(ids('LabelMapItem')).toEqual({ name: 1, label: 2, display_name: 3 });
    expect(ids('AnnotatedDatum')).toEqual({ datum: 1, type: 2, annotation_group: 3 });
    expect(ids('NormalizedBBox')).toEqual({ xmin: 1, ymin: 2, xmax: 3, ymax: 4, label: 5, difficult: 6, score: 7, size: 8 });
  });
  it('a caffemodel layer with norm_param decodes (field 206)', () => {
    const lp = messageType('LayerParameter');
    const msg = parseText('name: "n" type: "Normalize" norm_param { across_spatial: false eps: 0.001 }', lp);
    const back = decodeMessage(encodeMessage(msg, lp), lp);
    expect(back.norm_param.across_spatial).toBe(false);
    expect(back.norm_param.eps).toBe(Math.fround(0.001));
  });
});
