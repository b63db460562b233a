# Layers on tensors large enough for the SIMD and threaded GEMM paths, and graph structures.
from common import *  # noqa: F401,F403

B = N(2, 32, 24, 24)
case('big/conv3x3', one('Convolution', 'convolution_param { num_output: 48 kernel_size: 3 pad: 1 weight_filler { type: "msra" } }'), {'x': B})
case('big/conv_group_stride', one('Convolution', 'convolution_param { num_output: 32 kernel_size: 3 pad: 1 stride: 2 group: 4 weight_filler { type: "msra" } }'), {'x': B})
case('big/depthwise', one('Convolution', 'convolution_param { num_output: 32 kernel_size: 3 pad: 1 group: 32 weight_filler { type: "msra" } }'), {'x': B})
case('big/conv1x1', one('Convolution', 'convolution_param { num_output: 64 kernel_size: 1 weight_filler { type: "msra" } }'), {'x': B})
case('big/deconv', one('Deconvolution', 'convolution_param { num_output: 16 kernel_size: 4 stride: 2 pad: 1 weight_filler { type: "msra" } }'), {'x': N(2, 32, 12, 12)})
case('big/ip', one('InnerProduct', 'inner_product_param { num_output: 300 weight_filler { type: "xavier" } }'), {'x': N(8, 32, 8, 8)})
case('big/ip_transpose', one('InnerProduct', 'inner_product_param { num_output: 200 transpose: true weight_filler { type: "xavier" } }'), {'x': N(16, 700)})
case('big/bn', one('BatchNorm'), {'x': B})
case('big/bn_inplace', one('BatchNorm', tops=('x',)), {'x': B})
case('big/scale_bias', one('Scale', 'scale_param { bias_term: true }'), {'x': B})
case('big/scale_bias_inplace', one('Scale', 'scale_param { bias_term: true }', tops=('x',)), {'x': B})
case('big/bias', one('Bias'), {'x': B})
case('big/relu', one('ReLU'), {'x': B})
case('big/relu_leaky_inplace', one('ReLU', 'relu_param { negative_slope: 0.1 }', tops=('x',)), {'x': B})
case('big/eltwise_sum', one('Eltwise', bottoms=('a', 'b')), {'a': B, 'b': B})
case('big/eltwise_sum_coeff', one('Eltwise', 'eltwise_param { coeff: 0.5 coeff: -1 }', bottoms=('a', 'b')), {'a': B, 'b': B})
case('big/eltwise_max', one('Eltwise', 'eltwise_param { operation: MAX }', bottoms=('a', 'b')), {'a': B, 'b': B})
case('big/eltwise_prod', one('Eltwise', 'eltwise_param { operation: PROD }', bottoms=('a', 'b')), {'a': B, 'b': B})
case('big/maxpool', one('Pooling', 'pooling_param { pool: MAX kernel_size: 3 stride: 2 }'), {'x': B})
case('big/maxpool_pad', one('Pooling', 'pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 }'), {'x': B})
case('big/maxpool_s1', one('Pooling', 'pooling_param { pool: MAX kernel_size: 3 stride: 1 pad: 1 }'), {'x': B})
case('big/avepool', one('Pooling', 'pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }'), {'x': B})
case('big/globalave', one('Pooling', 'pooling_param { pool: AVE global_pooling: true }'), {'x': B})
case('big/lrn', one('LRN', 'lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }'), {'x': B})
case('big/lrn_k2', one('LRN', 'lrn_param { local_size: 5 alpha: 0.001 beta: 0.75 k: 2 }'), {'x': B})
case('big/lrn_inplace', one('LRN', 'lrn_param { local_size: 3 alpha: 0.01 beta: 0.75 }', tops=('x',)), {'x': B})
case('big/lrn_within', one('LRN', 'lrn_param { local_size: 3 alpha: 0.01 beta: 0.75 norm_region: WITHIN_CHANNEL }'), {'x': B})
case('big/softmax', one('Softmax'), {'x': B})
case('big/sigmoid', one('Sigmoid'), {'x': B})
case('big/tanh', one('TanH'), {'x': B})
case('big/prelu', one('PReLU'), {'x': B})
case('big/concat', one('Concat', bottoms=('a', 'b')), {'a': B, 'b': N(2, 16, 24, 24)})
case('big/dropout_test', one('Dropout', 'dropout_param { dropout_ratio: 0.4 }'), {'x': B}, phases=('TEST',))
case('big/mvn', one('MVN'), {'x': B})
case('big/softmax_loss', one('SoftmaxWithLoss', bottoms=('x', 'l'), tops=('loss',)), {'x': N(4, 10, 12, 12), 'l': I(10, 4, 1, 12, 12)})
case('big/im2col', one('Im2col', 'convolution_param { kernel_size: 3 pad: 1 stride: 2 }'), {'x': B})
case('big/power', one('Power', 'power_param { power: 2 scale: 0.5 shift: 1 }'), {'x': B})
case('big/elu', one('ELU'), {'x': B})
case('big/absval', one('AbsVal'), {'x': B})
# small corrected ones
case('pooling/ave_rect_pad', one('Pooling', 'pooling_param { pool: AVE kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 0 }'), {'x': N(2, 2, 6, 5)})
case('pooling/max_rect_pad', one('Pooling', 'pooling_param { pool: MAX kernel_h: 2 kernel_w: 3 stride_h: 1 stride_w: 2 pad_h: 0 pad_w: 1 }'), {'x': N(2, 2, 5, 6)})
case('filter/two_tops', one('Filter', bottoms=('a', 'b', 's'), tops=('fa', 'fb')), {'a': N(5, 3, 2), 'b': N(5, 4), 's': {'shape': [5], 'kind': 'binary'}}, seed=2, force=False)
case('batch_reindex/repeat', one('BatchReindex', bottoms=('x', 'idx')), {'x': N(4, 3, 2), 'idx': {'shape': [6], 'kind': 'int:4'}}, force=False)
# graph structures
g = lambda *ls: ''.join(ls)
case('graph2/inplace_fanout_chain', g(
    one('Convolution', 'convolution_param { num_output: 4 kernel_size: 3 pad: 1 }', ('x',), ('c',), 'conv'),
    one('ReLU', '', ('c',), ('c',), 'relu'),
    one('Pooling', 'pooling_param { pool: MAX kernel_size: 2 stride: 2 }', ('c',), ('p1',), 'pool1'),
    one('Pooling', 'pooling_param { pool: AVE kernel_size: 2 stride: 2 }', ('c',), ('p2',), 'pool2'),
    one('Eltwise', '', ('p1', 'p2'), ('s',), 'sum'),
    one('InnerProduct', 'inner_product_param { num_output: 3 }', ('s',), ('ip',), 'ip'),
    one('SoftmaxWithLoss', '', ('ip', 'l'), ('loss',), 'loss')), {'x': N(2, 3, 6, 6), 'l': I(3, 2)}, force=False)
case('graph2/shared_lr_decay', g(
    one('InnerProduct', 'param { name: "w" lr_mult: 2 } param { name: "b" decay_mult: 0 } inner_product_param { num_output: 4 }', ('x',), ('a',), 'ip1'),
    one('InnerProduct', 'param { name: "w" } param { name: "b" } inner_product_param { num_output: 4 }', ('y',), ('b',), 'ip2'),
    one('EuclideanLoss', '', ('a', 'b'), ('loss',), 'loss')), {'x': N(3, 5), 'y': N(3, 5)}, force=False)
case('graph2/loss_weight_on_plain_layer', g(
    one('InnerProduct', 'inner_product_param { num_output: 4 }', ('x',), ('a',), 'ip'),
    one('Sigmoid', 'loss_weight: 0.5', ('a',), ('s',), 'sig'),
    one('EuclideanLoss', 'loss_weight: 2', ('a', 'y'), ('loss',), 'loss')), {'x': N(3, 5), 'y': N(3, 4)}, force=False)
case('graph2/propagate_down_mixed', g(
    one('InnerProduct', 'inner_product_param { num_output: 4 }', ('x',), ('a',), 'ip1'),
    one('InnerProduct', 'inner_product_param { num_output: 4 }', ('x',), ('b',), 'ip2'),
    one('EuclideanLoss', 'propagate_down: true propagate_down: false', ('a', 'b'), ('loss',), 'loss')), {'x': N(3, 5)}, force=False)
# The conv has no bias: a bias feeding TRAIN BatchNorm has an exact gradient of 0, and what Caffe
# computes for it is rounding noise that no other summation order reproduces.
case('graph2/concat_split_inplace', g(
    one('Convolution', 'convolution_param { num_output: 3 kernel_size: 1 bias_term: false }', ('x',), ('c',), 'conv'),
    one('BatchNorm', '', ('c',), ('c',), 'bn'),
    one('Scale', 'scale_param { bias_term: true }', ('c',), ('c',), 'sc'),
    one('ReLU', '', ('c',), ('c',), 'relu'),
    one('Concat', '', ('c', 'x', 'c'), ('cat',), 'cat'),
    one('Reduction', 'reduction_param { operation: SUMSQ }', ('cat',), ('loss',), 'red', 'loss_weight: 1')), {'x': N(2, 3, 4, 4)}, force=False)
case('graph2/force_backward_silence', g(
    one('InnerProduct', 'inner_product_param { num_output: 4 }', ('x',), ('a',), 'ip'),
    one('TanH', '', ('a',), ('t',), 'tanh'),
    one('Silence', '', ('t',), (), 'sil')), {'x': N(3, 5)})
case('graph2/slice_loss_two', g(
    one('Slice', 'slice_param { axis: 1 slice_point: 2 }', ('x',), ('p', 'q'), 'slice'),
    one('EuclideanLoss', '', ('p', 'y'), ('l1',), 'loss1'),
    one('SigmoidCrossEntropyLoss', 'loss_weight: 0.7', ('q', 't'), ('l2',), 'loss2')), {'x': N(3, 5), 'y': N(3, 2), 't': {'shape': [3, 3], 'kind': 'binary'}}, force=False)
emit()
