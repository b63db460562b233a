# Random solver cases: solver type, lr policy and options drawn at random, on nets with shared,
# frozen and decay-scaled parameters (and BatchNorm in some). SEED and COUNT as in random.py.
import json, os, random

rnd = random.Random(int(os.environ.get('SEED', '1')) + 3000)
COUNT = int(os.environ.get('COUNT', '30'))
ch = rnd.choice
u = rnd.uniform


def net(bn):
    bnl = ('layer { name: "bn" type: "BatchNorm" bottom: "h" top: "h" }\n'
           'layer { name: "sc" type: "Scale" bottom: "h" top: "h" scale_param { bias_term: true } }\n') if bn else ''
    return f'''name: "solver_net"
layer {{ name: "input" type: "Input" top: "data" top: "data2" top: "label" input_param {{ shape {{ dim: 4 dim: 6 }} shape {{ dim: 4 dim: 6 }} shape {{ dim: 4 }} }} }}
layer {{ name: "ip1" type: "InnerProduct" bottom: "data" top: "h" param {{ name: "w1" lr_mult: {ch([1, 2, 0.5])} decay_mult: {ch([1, 0, 3])} }} {'' if bn else 'param { name: "b1" lr_mult: 2 decay_mult: 0 }'} inner_product_param {{ num_output: 5 {'bias_term: false' if bn else ''} }} }}
layer {{ name: "ip1b" type: "InnerProduct" bottom: "data2" top: "h2" param {{ name: "w1" }} {'' if bn else 'param { name: "b1" }'} inner_product_param {{ num_output: 5 {'bias_term: false' if bn else ''} }} }}
{bnl}layer {{ name: "sum" type: "Eltwise" bottom: "h" bottom: "h2" top: "s" }}
layer {{ name: "act" type: "{ch(['TanH', 'Sigmoid', 'ReLU'])}" bottom: "s" top: "s" }}
layer {{ name: "frozen" type: "InnerProduct" bottom: "s" top: "f" param {{ lr_mult: 0 }} param {{ lr_mult: 0 }} inner_product_param {{ num_output: 4 }} }}
layer {{ name: "ip2" type: "InnerProduct" bottom: "f" top: "ip2" inner_product_param {{ num_output: 3 }} }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }}
'''


def solver():
    t = ch(['SGD', 'Nesterov', 'AdaGrad', 'RMSProp', 'AdaDelta', 'Adam'])
    p = [f'type: "{t}"', f'base_lr: {ch([0.01, 0.05, 0.1, 0.3])}']
    if t in ('SGD', 'Nesterov'): p.append(f'momentum: {ch([0, 0.5, 0.9])}')
    if t == 'AdaDelta': p += [f'momentum: {ch([0.9, 0.95])}', f'delta: {ch([1e-6, 1e-8])}']
    if t == 'Adam': p += [f'momentum: {ch([0.9, 0.8])}', f'momentum2: {ch([0.999, 0.99])}', f'delta: {ch([1e-8, 1e-6])}']
    if t == 'RMSProp': p += [f'rms_decay: {ch([0.9, 0.98])}', f'delta: {ch([1e-6, 1e-8])}']
    if t == 'AdaGrad': p.append(f'delta: {ch([1e-6, 1e-8])}')
    if rnd.random() < 0.6: p += [f'weight_decay: {ch([0.001, 0.01, 0.05])}', f'regularization_type: "{ch(["L1", "L2"])}"']
    pol = ch(['fixed', 'step', 'exp', 'inv', 'multistep', 'poly', 'sigmoid'])
    p.append(f'lr_policy: "{pol}"')
    if pol == 'step': p += [f'gamma: {ch([0.1, 0.5])}', f'stepsize: {ch([1, 2, 3])}']
    if pol == 'exp': p.append(f'gamma: {ch([0.9, 0.5])}')
    if pol == 'inv': p += [f'gamma: {ch([0.1, 0.01])}', f'power: {ch([0.75, 0.5])}']
    if pol == 'multistep': p += [f'gamma: {ch([0.1, 0.5])}', 'stepvalue: 1', f'stepvalue: {ch([2, 3, 4])}']
    if pol == 'poly': p.append(f'power: {ch([1, 2, 0.5])}')
    if pol == 'sigmoid': p += [f'gamma: {ch([0.5, 1])}', f'stepsize: {ch([2, 3])}']
    if rnd.random() < 0.3: p.append(f'clip_gradients: {ch([0.1, 1, 5])}')
    if rnd.random() < 0.3: p.append(f'iter_size: {ch([2, 3])}')
    return ' '.join(p), pol


feeds = {'data': {'shape': [4, 6], 'kind': 'normal'}, 'data2': {'shape': [4, 6], 'kind': 'normal'}, 'label': {'shape': [4], 'kind': 'int:3'}}
for i in range(COUNT):
    s, pol = solver()
    bn = rnd.random() < 0.4
    print(json.dumps({'name': f'solver_random/{i:03d}', 'solver': s, 'net': net(bn), 'steps': 5, 'feeds': feeds, 'seed': i + 1}))
