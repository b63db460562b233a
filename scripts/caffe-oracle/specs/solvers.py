# Solver types, lr policies and options on a small conv net, with and without BatchNorm.
import json
NET = '''name: "solver_net"
layer { name: "input" type: "Input" top: "data" top: "label" input_param { shape { dim: 4 dim: 3 dim: 6 dim: 6 } shape { dim: 4 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 } convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "ip1" type: "InnerProduct" bottom: "pool1" top: "ip1" param { lr_mult: 0.5 decay_mult: 3 } inner_product_param { num_output: 8 } }
layer { name: "tanh" type: "TanH" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2" inner_product_param { num_output: 5 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
'''
NET_BN = NET.replace('layer { name: "relu1"', 'layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }\nlayer { name: "sc1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }\nlayer { name: "relu1"').replace('param { lr_mult: 2 decay_mult: 0 } convolution_param { num_output: 4', 'convolution_param { bias_term: false num_output: 4')
feeds = {'data': {'shape': [4, 3, 6, 6], 'kind': 'normal'}, 'label': {'shape': [4], 'kind': 'int:5'}}
S = [
 ('sgd_nesterov_l1_step', 'type: "Nesterov" base_lr: 0.05 momentum: 0.8 weight_decay: 0.01 regularization_type: "L1" lr_policy: "step" gamma: 0.5 stepsize: 2'),
 ('adam_wd_inv_itersize', 'type: "Adam" base_lr: 0.01 momentum: 0.8 momentum2: 0.99 delta: 1e-6 weight_decay: 0.01 lr_policy: "inv" gamma: 0.2 power: 0.5 iter_size: 3'),
 ('adagrad_l1_clip', 'type: "AdaGrad" base_lr: 0.1 weight_decay: 0.02 regularization_type: "L1" clip_gradients: 0.3 lr_policy: "fixed"'),
 ('rmsprop_momentum0_exp', 'type: "RMSProp" base_lr: 0.01 rms_decay: 0.9 delta: 1e-5 weight_decay: 0.005 lr_policy: "exp" gamma: 0.8'),
 ('adadelta_lr_poly', 'type: "AdaDelta" base_lr: 0.5 momentum: 0.9 delta: 1e-5 lr_policy: "poly" power: 1.5 max_iter: 20'),
 ('sgd_multistep_itersize_clip', 'type: "SGD" base_lr: 0.1 momentum: 0.9 weight_decay: 0.001 lr_policy: "multistep" gamma: 0.1 stepvalue: 1 stepvalue: 3 stepvalue: 4 iter_size: 2 clip_gradients: 1.0'),
 ('sgd_sigmoid', 'type: "SGD" base_lr: 0.2 lr_policy: "sigmoid" gamma: 0.7 stepsize: 2'),
 ('solver_type_legacy_nesterov', 'solver_type: NESTEROV base_lr: 0.05 momentum: 0.9 lr_policy: "fixed"'),
]
for n, s in S:
    print(json.dumps({'name': n, 'solver': s.replace(' max_iter: 20', ''), 'net': NET, 'steps': 6, 'feeds': feeds}))
    print(json.dumps({'name': n + '_bn', 'solver': s.replace(' max_iter: 20', ''), 'net': NET_BN, 'steps': 6, 'feeds': feeds}))
