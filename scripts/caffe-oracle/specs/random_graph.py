# Random small nets for differential testing of the graph: chains with fan-out (splits), in-place
# layers, Eltwise/Concat joins, frozen and shared parameters, extra loss weights and
# propagate_down, ending in a loss. Every blob keeps the shape (N, C, H, W) = (2, 3, 5, 5) or
# changes it in known ways. SEED and COUNT as in random.py.
import os, random
from common import *  # noqa: F401,F403

rnd = random.Random(int(os.environ.get('SEED', '1')) + 2000)
COUNT = int(os.environ.get('COUNT', '60'))
ch = rnd.choice


def net_spec(i):
    layers = []
    blobs = ['x']          # blobs of shape (2, C, 5, 5) that later layers may read
    C = {'x': 3}
    n = 0
    shared = None
    consumed = set()       # an in-place layer on a blob another layer already read is an error
    biased = set()         # conv outputs with a bias: not fed to TRAIN BatchNorm (see below)

    def name():
        nonlocal n
        n += 1
        return f'l{n}'

    for _ in range(rnd.randint(3, 8)):
        b = ch(blobs)
        kind = ch(['conv', 'relu_inplace', 'bn_scale', 'eltwise', 'concat', 'sigmoid', 'pool', 'conv_shared', 'conv_frozen', 'prelu', 'tanh_inplace'])
        if kind in ('relu_inplace', 'bn_scale', 'tanh_inplace'):
            # A bias feeding TRAIN BatchNorm has an exact gradient of 0; Caffe's value for it is
            # rounding noise no other summation order reproduces.
            fresh = [o for o in blobs if o not in consumed and (kind != 'bn_scale' or o not in biased)]
            if not fresh: kind = 'sigmoid'
            else: b = ch(fresh)
        else:
            consumed.add(b)
        l = name()
        if kind in ('conv', 'conv_shared', 'conv_frozen'):
            co = ch([2, 3, 4])
            param = ''
            if kind == 'conv_shared':
                if shared is None: shared = (C[b], co)
                if shared[0] != C[b]:
                    kind = 'conv'
                else:
                    co = shared[1]; param = 'param { name: "sw" } param { name: "sb" }'
            if kind == 'conv_frozen': param = 'param { lr_mult: 0 } param { lr_mult: 0 }'
            layers.append(one('Convolution', f'{param} convolution_param {{ num_output: {co} kernel_size: 3 pad: 1 }}', (b,), (l,), l))
            blobs.append(l); C[l] = co; biased.add(l)
        elif kind == 'relu_inplace':
            layers.append(one('ReLU', '', (b,), (b,), l))
        elif kind == 'tanh_inplace':
            layers.append(one('TanH', '', (b,), (b,), l))
        elif kind == 'bn_scale':
            layers.append(one('BatchNorm', '', (b,), (b,), l))
            layers.append(one('Scale', 'scale_param { bias_term: true }', (b,), (b,), l + 's'))
        elif kind == 'eltwise':
            same = [o for o in blobs if C[o] == C[b]]
            o = ch(same); consumed.add(o)
            layers.append(one('Eltwise', f'eltwise_param {{ operation: {ch(["SUM", "PROD", "MAX"])} }}', (b, o), (l,), l))
            blobs.append(l); C[l] = C[b]
        elif kind == 'concat':
            o = ch(blobs); consumed.add(o)
            layers.append(one('Concat', '', (b, o), (l,), l))
            blobs.append(l); C[l] = C[b] + C[o]
        elif kind == 'sigmoid':
            layers.append(one('Sigmoid', ch(['', 'loss_weight: 0.3']), (b,), (l,), l))
            blobs.append(l); C[l] = C[b]
        elif kind == 'pool':
            layers.append(one('Pooling', f'pooling_param {{ pool: {ch(["MAX", "AVE"])} kernel_size: 3 stride: 1 pad: 1 }}', (b,), (l,), l))
            blobs.append(l); C[l] = C[b]
        elif kind == 'prelu':
            layers.append(one('PReLU', '', (b,), (l,), l))
            blobs.append(l); C[l] = C[b]
    last = blobs[-1]
    pd = ' propagate_down: false propagate_down: false' if rnd.random() < 0.15 else ''
    layers.append(one('InnerProduct', 'inner_product_param { num_output: 4 }', (last,), ('ip',), 'ip'))
    layers.append(one('SoftmaxWithLoss', pd.replace(' propagate_down: false propagate_down: false', ' propagate_down: true propagate_down: false') if pd else '', ('ip', 'label'), ('loss',), 'loss'))
    if rnd.random() < 0.3:
        o = ch(blobs)
        layers.append(one('Reduction', f'reduction_param {{ operation: SUMSQ }} loss_weight: {rnd.uniform(0.01, 0.2):.3f}', (o,), ('reg',), 'reg'))
    case(f'graph_random/{i:03d}', ''.join(layers), {'x': N(2, 3, 5, 5), 'label': I(4, 2)}, force=rnd.random() < 0.5)


for i in range(COUNT):
    net_spec(i)
emit()
