# Parameter variants of single layers, small tensors, both phases.
from common import *  # noqa: F401,F403

X4 = N(2, 3, 4, 5)
# element-wise
case('bnll/large', one('BNLL'), {'x': {'shape': [2, 3, 4, 5], 'kind': 'normal'}}, seed=3)
case('clip/inplace', one('Clip', 'clip_param { min: -0.5 max: 0.7 }', tops=('x',)), {'x': X4})
case('elu/inplace_alpha', one('ELU', 'elu_param { alpha: 0.3 }', tops=('x',)), {'x': X4})
case('exp/scale_shift', one('Exp', 'exp_param { base: 3 scale: 0.5 shift: -0.2 }'), {'x': X4})
case('exp/e_scale', one('Exp', 'exp_param { scale: -1.5 shift: 0.3 }'), {'x': X4})
case('log/scale_shift', one('Log', 'log_param { base: 2 scale: 0.5 shift: 0.1 }'), {'x': Pos(2, 3, 4, 5)})
case('log/inplace', one('Log', 'log_param { scale: 2 }', tops=('x',)), {'x': Pos(2, 3, 4, 5)})
case('power/cube', one('Power', 'power_param { power: 3 scale: 0.7 shift: 0.2 }'), {'x': X4})
case('power/p0', one('Power', 'power_param { power: 0 scale: 0.7 shift: 0.2 }'), {'x': X4})
case('power/inplace_half', one('Power', 'power_param { power: 0.5 scale: 2 shift: 1 }', tops=('x',)), {'x': Pos(2, 3, 4, 5)})
case('power/scale0', one('Power', 'power_param { power: 2 scale: 0 shift: 1.5 }'), {'x': X4})
case('prelu/channel_shared_inplace', one('PReLU', 'prelu_param { channel_shared: true }', tops=('x',)), {'x': X4})
case('prelu/2d', one('PReLU'), {'x': N(4, 6)})
case('relu/slope', one('ReLU', 'relu_param { negative_slope: 0.2 }'), {'x': X4})
case('sigmoid/inplace', one('Sigmoid', tops=('x',)), {'x': X4})
case('tanh/inplace', one('TanH', tops=('x',)), {'x': X4})
case('swish/inplace', one('Swish', 'swish_param { beta: 1.7 }', tops=('x',)), {'x': X4})
case('threshold/half', one('Threshold', 'threshold_param { threshold: 0.5 }'), {'x': X4}, backward=False)
case('dropout/test_noscale', one('Dropout', 'dropout_param { dropout_ratio: 0.7 }'), {'x': X4}, phases=('TEST',))
case('dropout/test_inplace', one('Dropout', 'dropout_param { dropout_ratio: 0.3 }', tops=('x',)), {'x': X4}, phases=('TEST',))
# reductions / shapes
case('argmax/neg_axis_topk', one('ArgMax', 'argmax_param { axis: -1 top_k: 2 }'), {'x': X4}, backward=False)
case('argmax/maxval_top3', one('ArgMax', 'argmax_param { top_k: 3 out_max_val: true }'), {'x': N(3, 10)}, backward=False)
case('argmax/axis_maxval', one('ArgMax', 'argmax_param { axis: 1 out_max_val: true }'), {'x': X4}, backward=False)
for op in ('SUM', 'ASUM', 'SUMSQ', 'MEAN'):
    case(f'reduction/{op.lower()}_axis2_coeff', one('Reduction', f'reduction_param {{ operation: {op} axis: 2 coeff: -1.5 }}'), {'x': X4})
case('reduction/axis_neg', one('Reduction', 'reduction_param { operation: MEAN axis: -1 }'), {'x': X4})
case('softmax/axis_last', one('Softmax', 'softmax_param { axis: -1 }'), {'x': X4})
case('softmax/axis0', one('Softmax', 'softmax_param { axis: 0 }'), {'x': X4})
case('flatten/axis2_end', one('Flatten', 'flatten_param { axis: 2 end_axis: -1 }'), {'x': N(2, 3, 4, 5, 2)})
case('flatten/mid', one('Flatten', 'flatten_param { axis: 1 end_axis: 2 }'), {'x': X4})
case('reshape/insert', one('Reshape', 'reshape_param { shape { dim: 1 } axis: 1 num_axes: 0 }'), {'x': X4})
case('reshape/infer_mid', one('Reshape', 'reshape_param { shape { dim: 0 dim: -1 dim: 5 } }'), {'x': X4})
case('tile/axis0', one('Tile', 'tile_param { axis: 0 tiles: 3 }'), {'x': X4})
case('tile/one', one('Tile', 'tile_param { axis: 2 tiles: 1 }'), {'x': X4})
case('concat/three_axis2', one('Concat', 'concat_param { axis: 2 }', bottoms=('a', 'b', 'c')), {'a': N(2, 3, 2, 5), 'b': N(2, 3, 1, 5), 'c': N(2, 3, 4, 5)})
case('concat/legacy_dim', one('Concat', 'concat_param { concat_dim: 0 }', bottoms=('a', 'b')), {'a': N(1, 3, 2, 2), 'b': N(2, 3, 2, 2)})
case('concat/single', one('Concat', bottoms=('a',)), {'a': X4})
case('slice/axis1_one_point', one('Slice', 'slice_param { axis: 1 slice_point: 1 }', tops=('p', 'q')), {'x': X4})
case('slice/legacy_dim_equal', one('Slice', 'slice_param { slice_dim: 3 }', tops=('p', 'q', 'r')), {'x': N(2, 2, 2, 6)})
case('crop/axis1_one_offset', one('Crop', 'crop_param { axis: 1 offset: 1 }', bottoms=('x', 'ref')), {'x': N(2, 4, 6, 6), 'ref': N(2, 2, 3, 4)})
case('crop/axis_neg', one('Crop', 'crop_param { axis: -1 offset: 2 }', bottoms=('x', 'ref')), {'x': N(2, 4, 6, 6), 'ref': N(2, 4, 6, 3)})
case('crop/axis0', one('Crop', 'crop_param { axis: 0 offset: 1 offset: 0 offset: 1 offset: 2 }', bottoms=('x', 'ref')), {'x': N(3, 4, 6, 6), 'ref': N(2, 3, 3, 4)})
case('eltwise/prod3', one('Eltwise', 'eltwise_param { operation: PROD }', bottoms=('a', 'b', 'c')), {'a': X4, 'b': X4, 'c': X4})
case('eltwise/prod_unstable', one('Eltwise', 'eltwise_param { operation: PROD stable_prod_grad: false }', bottoms=('a', 'b', 'c')), {'a': X4, 'b': X4, 'c': X4})
case('eltwise/max3', one('Eltwise', 'eltwise_param { operation: MAX }', bottoms=('a', 'b', 'c')), {'a': X4, 'b': X4, 'c': X4})
case('eltwise/sum3_coeff', one('Eltwise', 'eltwise_param { operation: SUM coeff: 1 coeff: -0.5 coeff: 2 }', bottoms=('a', 'b', 'c')), {'a': X4, 'b': X4, 'c': X4})
case('bias/scalar_numaxes0', one('Bias', 'bias_param { axis: 0 num_axes: 0 }'), {'x': X4})
case('bias/axis2_numaxes_all', one('Bias', 'bias_param { axis: 2 num_axes: -1 }'), {'x': X4})
case('bias/inplace_two', one('Bias', 'bias_param { axis: 1 }', bottoms=('x', 'b'), tops=('x',)), {'x': X4, 'b': N(3, 4)})
case('scale/axis2_numaxes0', one('Scale', 'scale_param { axis: 2 num_axes: 0 bias_term: true }'), {'x': X4})
case('scale/two_bottoms_axis1_bias_inplace', one('Scale', 'scale_param { axis: 1 bias_term: true }', bottoms=('x', 's'), tops=('x',)), {'x': X4, 's': N(3, 4)})
# norm
case('lrn/within5', one('LRN', 'lrn_param { local_size: 5 alpha: 0.3 beta: 0.6 norm_region: WITHIN_CHANNEL }'), {'x': N(2, 3, 6, 6)})
case('lrn/across_beta1', one('LRN', 'lrn_param { local_size: 3 alpha: 0.5 beta: 1.0 k: 1.5 }'), {'x': N(2, 5, 3, 3)})
case('lrn/across_size1', one('LRN', 'lrn_param { local_size: 1 alpha: 2 beta: 0.75 }'), {'x': N(2, 5, 3, 3)})
case('mvn/across_nonorm', one('MVN', 'mvn_param { across_channels: true normalize_variance: false }'), {'x': X4})
case('mvn/eps', one('MVN', 'mvn_param { eps: 0.1 }'), {'x': X4})
for nm, p in (('maf0', 'moving_average_fraction: 0'), ('maf1', 'moving_average_fraction: 1'), ('eps_big', 'eps: 0.5'), ('global_true_train', 'use_global_stats: true'), ('global_false_test', 'use_global_stats: false')):
    case(f'batch_norm/{nm}', one('BatchNorm', f'batch_norm_param {{ {p} }}'), {'x': X4})
case('batch_norm/5d', one('BatchNorm'), {'x': N(2, 3, 2, 3, 2)})
case('batch_norm/factor0_train', one('BatchNorm'), {'x': X4}, bn_factor=0.0)
case('batch_norm/2d_inplace', one('BatchNorm', tops=('x',)), {'x': N(5, 3)})
# conv family
for nm, p, shp in (
    ('pad2_stride3', 'num_output: 3 kernel_size: 3 pad: 2 stride: 3', (2, 3, 7, 7)),
    ('group3_bias', 'num_output: 6 kernel_size: 2 group: 3', (2, 3, 5, 5)),
    ('dil_rect', 'num_output: 2 kernel_h: 2 kernel_w: 3 dilation: 2 pad_h: 0 pad_w: 1 stride_h: 2 stride_w: 1', (2, 3, 7, 7)),
    ('k1_stride2', 'num_output: 4 kernel_size: 1 stride: 2', (2, 3, 5, 5)),
    ('big_k', 'num_output: 3 kernel_size: 5 pad: 1', (1, 16, 8, 8)),
    ('1d', 'num_output: 3 kernel_size: 3 pad: 1 axis: 1', (2, 3, 9)),
    ('3d_stride_dil', 'num_output: 2 kernel_size: 2 stride: 2 dilation: 1 pad: 1', (2, 2, 5, 4, 5)),
    ('force_nd', 'num_output: 3 kernel_size: 3 pad: 1 force_nd_im2col: true', (2, 3, 5, 5)),
    ('filler_xavier', 'num_output: 3 kernel_size: 3 weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0.3 }', (2, 3, 5, 5)),
    ('stride_pad_per_axis', 'num_output: 3 kernel_size: 3 kernel_size: 2 stride: 2 stride: 1 pad: 1 pad: 0', (2, 2, 6, 5)),
):
    case(f'convolution/{nm}', one('Convolution', f'convolution_param {{ {p} }}'), {'x': N(*shp)})
for nm, p, shp in (
    ('pad_bias', 'num_output: 3 kernel_size: 3 pad: 1 stride: 2', (2, 4, 4, 4)),
    ('group_bias', 'num_output: 4 kernel_size: 2 stride: 2 group: 2', (2, 4, 3, 3)),
    ('dilation', 'num_output: 2 kernel_size: 3 dilation: 2', (2, 3, 4, 4)),
    ('3d', 'num_output: 2 kernel_size: 2 stride: 2', (1, 2, 3, 3, 2)),
):
    case(f'deconvolution/{nm}', one('Deconvolution', f'convolution_param {{ {p} }}'), {'x': N(*shp)})
case('im2col/pad_stride_dil', one('Im2col', 'convolution_param { kernel_size: 3 pad: 1 stride: 2 dilation: 2 }'), {'x': N(2, 2, 6, 6)})
case('im2col/rect', one('Im2col', 'convolution_param { kernel_h: 2 kernel_w: 3 stride_h: 1 stride_w: 2 }'), {'x': N(2, 2, 5, 6)})
case('inner_product/transpose_bias', one('InnerProduct', 'inner_product_param { num_output: 4 transpose: true }'), {'x': N(3, 2, 3)})
case('inner_product/axis_neg', one('InnerProduct', 'inner_product_param { num_output: 3 axis: -1 }'), {'x': N(2, 3, 5)})
case('inner_product/axis0', one('InnerProduct', 'inner_product_param { num_output: 3 axis: 0 }'), {'x': N(2, 3, 2)})
case('embed/nobias', one('Embed', 'embed_param { num_output: 4 input_dim: 7 bias_term: false }'), {'x': I(7, 3, 2)}, force=False)
case('embed/bias', one('Embed', 'embed_param { num_output: 3 input_dim: 5 }'), {'x': I(5, 4)}, force=False)
# pooling
for nm, p, shp in (
    ('max_pad_stride1', 'pool: MAX kernel_size: 3 stride: 1 pad: 1', (2, 3, 5, 5)),
    ('ave_pad2', 'pool: AVE kernel_size: 5 stride: 2 pad: 2', (2, 3, 7, 7)),
    ('global_max_rect', 'pool: MAX global_pooling: true', (2, 3, 3, 7)),
    ('global_ave_rect', 'pool: AVE global_pooling: true', (2, 3, 3, 7)),
    ('floor_max', 'pool: MAX kernel_size: 3 stride: 2 round_mode: FLOOR', (2, 3, 6, 6)),
    ('floor_ave_pad', 'pool: AVE kernel_size: 3 stride: 2 pad: 1 round_mode: FLOOR', (2, 3, 6, 6)),
    ('ceil_overhang', 'pool: AVE kernel_size: 2 stride: 2', (2, 3, 5, 5)),
    ('ave_pad_overhang', 'pool: AVE kernel_size: 3 stride: 3 pad: 1', (2, 2, 7, 8)),
):
    case(f'pooling/{nm}', one('Pooling', f'pooling_param {{ {p} }}'), {'x': N(*shp)})
case('pooling/max_mask_top', one('Pooling', 'pooling_param { pool: MAX kernel_size: 2 stride: 2 pad: 1 }', tops=('y', 'mask')), {'x': N(2, 2, 5, 5)})
case('spp/h1', one('SPP', 'spp_param { pyramid_height: 1 pool: MAX }'), {'x': N(2, 3, 5, 7)})
case('spp/h3_ave', one('SPP', 'spp_param { pyramid_height: 3 pool: AVE }'), {'x': N(2, 2, 9, 7)})
# losses
def loss(t, p, bottoms, inputs, name, **kw):
    case(name, one(t, p, bottoms=bottoms, tops=('loss',)), inputs, **kw)
loss('SoftmaxWithLoss', 'loss_param { ignore_label: 2 normalization: VALID } softmax_param { axis: 1 }', ('x', 'l'), {'x': N(2, 4, 3, 2), 'l': I(4, 2, 3, 2)}, 'softmax_loss/valid_ignore_spatial')
loss('SoftmaxWithLoss', 'loss_param { normalize: false }', ('x', 'l'), {'x': N(2, 4, 3), 'l': I(4, 2, 3)}, 'softmax_loss/legacy_normalize_false')
loss('SoftmaxWithLoss', 'loss_param { normalize: true ignore_label: 0 }', ('x', 'l'), {'x': N(3, 4), 'l': I(4, 3)}, 'softmax_loss/legacy_normalize_true_ignore')
loss('SoftmaxWithLoss', 'softmax_param { axis: 2 } loss_param { normalization: BATCH_SIZE }', ('x', 'l'), {'x': N(2, 3, 4), 'l': I(4, 2, 3)}, 'softmax_loss/axis2')
for norm in ('FULL', 'VALID', 'BATCH_SIZE', 'NONE'):
    loss('SigmoidCrossEntropyLoss', f'loss_param {{ normalization: {norm} ignore_label: -1 }}', ('x', 't'), {'x': N(3, 4), 't': {'shape': [3, 4], 'kind': 'binary'}}, f'sigmoid_ce_loss/{norm.lower()}')
loss('SigmoidCrossEntropyLoss', 'loss_weight: 2.5', ('x', 't'), {'x': N(2, 3, 2), 't': U(2, 3, 2)}, 'sigmoid_ce_loss/soft_targets_weight')
loss('EuclideanLoss', 'loss_weight: 0.3', ('a', 'b'), {'a': N(3, 4, 2), 'b': N(3, 4, 2)}, 'euclidean_loss/weight')
loss('HingeLoss', 'hinge_loss_param { norm: L2 } loss_weight: 2', ('x', 'l'), {'x': N(4, 5), 'l': I(5, 4)}, 'hinge_loss/l2_weight')
loss('HingeLoss', '', ('x', 'l'), {'x': N(3, 5, 2, 1), 'l': I(5, 3)}, 'hinge_loss/4d')
loss('ContrastiveLoss', 'contrastive_loss_param { margin: 2.5 }', ('a', 'b', 's'), {'a': N(4, 3), 'b': N(4, 3), 's': {'shape': [4], 'kind': 'binary'}}, 'contrastive_loss/margin', seed=5)
loss('MultinomialLogisticLoss', '', ('p', 'l'), {'p': {'shape': [4, 5], 'kind': 'prob'}, 'l': I(5, 4)}, 'multinomial_logistic_loss/weight', force=False)
loss('InfogainLoss', 'infogain_loss_param { axis: 1 }', ('x', 'l', 'H'), {'x': N(3, 4), 'l': I(4, 3), 'H': U(4, 4)}, 'infogain_loss/h_bottom_logits', force=False)
loss('InfogainLoss', 'infogain_loss_param { axis: 2 } loss_param { normalization: BATCH_SIZE ignore_label: 1 }', ('x', 'l', 'H'), {'x': N(2, 3, 4), 'l': I(4, 2, 3), 'H': U(4, 4)}, 'infogain_loss/axis2', force=False)
case('accuracy/top2_axis2_ignore', one('Accuracy', 'accuracy_param { top_k: 2 axis: 2 ignore_label: 1 }', bottoms=('x', 'l'), tops=('acc', 'per')), {'x': N(2, 3, 4), 'l': I(4, 2, 3)}, backward=False)
case('accuracy/ties', one('Accuracy', 'accuracy_param { top_k: 1 }', bottoms=('x', 'l'), tops=('acc',)), {'x': {'shape': [6, 4], 'kind': 'int:2'}, 'l': I(4, 6)}, backward=False)
# recurrent
case('rnn/expose_hidden', one('RNN', 'recurrent_param { num_output: 3 expose_hidden: true weight_filler { type: "uniform" min: -0.5 max: 0.5 } bias_filler { type: "constant" value: 0.1 } }', bottoms=('x', 'cont', 'h0'), tops=('y', 'hT')), {'x': N(3, 2, 4), 'cont': {'shape': [3, 2], 'kind': 'binary'}, 'h0': N(1, 2, 3)}, seed=4)
case('lstm/expose_hidden', one('LSTM', 'recurrent_param { num_output: 3 expose_hidden: true weight_filler { type: "uniform" min: -0.5 max: 0.5 } }', bottoms=('x', 'cont', 'h0', 'c0'), tops=('y', 'hT', 'cT')), {'x': N(4, 2, 3), 'cont': {'shape': [4, 2], 'kind': 'binary'}, 'h0': N(1, 2, 3), 'c0': N(1, 2, 3)}, seed=6)
case('lstm/cont_zero_first', one('LSTM', 'recurrent_param { num_output: 2 weight_filler { type: "gaussian" std: 0.3 } }', bottoms=('x', 'cont')), {'x': N(5, 3, 2), 'cont': {'shape': [5, 3], 'kind': 'binary'}}, seed=8)
# dummy data / parameter
case('dummy_data/multi', 'layer { name: "d" type: "DummyData" top: "a" top: "b" dummy_data_param { shape { dim: 2 dim: 3 } shape { dim: 4 } data_filler { type: "constant" value: 1.5 } data_filler { type: "constant" value: -2 } } }\n', {}, backward=False)
case('dummy_data/legacy_dims', 'layer { name: "d" type: "DummyData" top: "a" dummy_data_param { num: 2 channels: 3 height: 1 width: 2 data_filler { type: "constant" value: 0.5 } } }\n', {}, backward=False)
emit()
