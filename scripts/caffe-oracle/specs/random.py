# Random single-layer specs for differential testing: parameters drawn within each field's range
# (invalid combinations included: Caffe refuses those and run.sh reports them). SEED in the
# environment picks the draw; COUNT how many.
import os, random
from common import *  # noqa: F401,F403

rnd = random.Random(int(os.environ.get('SEED', '1')))
COUNT = int(os.environ.get('COUNT', '200'))
# BIG=k scales channels and spatial sizes of the shape-free kinds by k (SIMD and threaded paths).
BIG = int(os.environ.get('BIG', '1'))
r = rnd.randint
ch = rnd.choice


def big(dims):
    return [dims[0]] + [d * BIG for d in dims[1:]]


def shape(nd=4, lo=1, hi=6):
    return [r(1, 3)] + [r(lo, hi) for _ in range(nd - 1)]


def conv_params(nd_spatial, g):
    p = [f'num_output: {g * r(1, 3)}']
    if g > 1: p.append(f'group: {g}')
    if nd_spatial == 2 and rnd.random() < 0.4:
        p += [f'kernel_h: {r(1, 4)}', f'kernel_w: {r(1, 4)}', f'stride_h: {r(1, 3)}', f'stride_w: {r(1, 3)}', f'pad_h: {r(0, 2)}', f'pad_w: {r(0, 2)}']
    else:
        p += [f'kernel_size: {r(1, 4)}']
        if rnd.random() < 0.5: p.append(f'stride: {r(1, 3)}')
        if rnd.random() < 0.5: p.append(f'pad: {r(0, 2)}')
    if rnd.random() < 0.3: p.append(f'dilation: {r(1, 3)}')
    if rnd.random() < 0.2: p.append('bias_term: false')
    return ' '.join(p)


def gen(i):
    kind = ch(['conv', 'deconv', 'pool', 'crop', 'slice', 'concat', 'reshape', 'flatten', 'reduction', 'softmax', 'ip',
               'scale', 'bias', 'eltwise', 'lrn', 'mvn', 'bn', 'tile', 'spp', 'argmax', 'softmax_loss', 'sigmoid_ce', 'power', 'prelu'])
    name = f'random/{i:04d}_{kind}'
    if kind in ('conv', 'deconv'):
        nd = ch([1, 2, 2, 2, 3])
        g = ch([1, 1, 1, 2, 3])
        params = conv_params(nd, g)
        x = [r(1, 2), g * r(1, 3)] + [r(2, 7) for _ in range(nd)]
        t = 'Convolution' if kind == 'conv' else 'Deconvolution'
        case(name, one(t, f'convolution_param {{ {params} }}'), {'x': N(*big(x))})
    elif kind == 'pool':
        p = [f'pool: {ch(["MAX", "AVE"])}']
        if rnd.random() < 0.2: p.append('global_pooling: true')
        elif rnd.random() < 0.4:
            p += [f'kernel_h: {r(1, 4)}', f'kernel_w: {r(1, 4)}', f'stride_h: {r(1, 3)}', f'stride_w: {r(1, 3)}', f'pad_h: {r(0, 1)}', f'pad_w: {r(0, 1)}']
        else:
            k = r(1, 4); p += [f'kernel_size: {k}', f'stride: {r(1, 3)}', f'pad: {r(0, max(0, k - 1))}']
        if rnd.random() < 0.3: p.append(f'round_mode: {ch(["CEIL", "FLOOR"])}')
        tops = ('y', 'mask') if 'MAX' in p[0] and rnd.random() < 0.3 else ('y',)
        case(name, one('Pooling', f'pooling_param {{ {" ".join(p)} }}', tops=tops), {'x': N(*big([r(1, 2), r(1, 3), r(2, 8), r(2, 8)]))})
    elif kind == 'crop':
        x = shape(4, 3, 7); ref = [max(1, d - r(0, 2)) for d in x]; axis = r(0, 3)
        offs = ' '.join(f'offset: {r(0, 2)}' for _ in range(ch([1, 4 - axis])))
        case(name, one('Crop', f'crop_param {{ axis: {axis} {offs} }}', ('x', 'ref')), {'x': N(*x), 'ref': N(*ref)})
    elif kind == 'slice':
        x = shape(4, 2, 6); axis = r(0, 3); pts = sorted(set(r(1, x[axis] - 1) for _ in range(r(0, 2)))) if x[axis] > 1 else []
        tops = tuple(f't{j}' for j in range(len(pts) + 1)) if pts else tuple(f't{j}' for j in range(ch([1, x[axis]]) if x[axis] <= 3 else 1))
        sp = ' '.join(f'slice_point: {q}' for q in pts)
        case(name, one('Slice', f'slice_param {{ axis: {axis} {sp} }}', tops=tops), {'x': N(*x)})
    elif kind == 'concat':
        x = shape(4, 1, 4); axis = r(0, 3); n = r(1, 3)
        ins = {}
        for j in range(n):
            s = list(x); s[axis] = r(1, 3); ins[f'b{j}'] = N(*s)
        case(name, one('Concat', f'concat_param {{ axis: {axis - 4 if rnd.random() < 0.3 else axis} }}', tuple(ins)), ins)
    elif kind == 'reshape':
        x = [2, 3, 4]; opts = ['dim: 0 dim: -1', 'dim: -1', 'dim: 0 dim: 0 dim: 2 dim: 2', 'dim: 6 dim: 4', 'dim: 2 dim: 1 dim: -1 dim: 1']
        case(name, one('Reshape', f'reshape_param {{ shape {{ {ch(opts)} }} }}'), {'x': N(*x)})
    elif kind == 'flatten':
        case(name, one('Flatten', f'flatten_param {{ axis: {r(-3, 2)} end_axis: {r(-1, 3)} }}'), {'x': N(*shape(4, 2, 4))})
    elif kind == 'reduction':
        case(name, one('Reduction', f'reduction_param {{ operation: {ch(["SUM", "ASUM", "SUMSQ", "MEAN"])} axis: {r(-3, 3)} coeff: {rnd.uniform(-2, 2):.3f} }}'), {'x': N(*shape(4, 1, 4))})
    elif kind == 'softmax':
        case(name, one('Softmax', f'softmax_param {{ axis: {r(-4, 3)} }}'), {'x': N(*big(shape(4, 1, 5)))})
    elif kind == 'ip':
        x = shape(4, 1, 4)
        case(name, one('InnerProduct', f'inner_product_param {{ num_output: {r(1, 6)} axis: {r(-3, 3)} transpose: {ch(["true", "false"])} bias_term: {ch(["true", "false"])} }}'), {'x': N(*x)})
    elif kind in ('scale', 'bias'):
        x = shape(4, 1, 4); axis = r(0, 3); na = ch([-1, 0, 1, 2]); t = 'Scale' if kind == 'scale' else 'Bias'
        two = rnd.random() < 0.4
        pr = f'{kind}_param {{ axis: {axis} ' + ('' if two else f'num_axes: {na} ') + ('bias_term: true ' if kind == 'scale' and rnd.random() < 0.5 else '') + '}'
        if two:
            end = ch([axis, axis + 1, min(4, axis + 2), 4]); s = x[axis:max(axis, end)]
            case(name, one(t, pr, ('x', 's'), tops=ch([('y',), ('x',)])), {'x': N(*x), 's': N(*(s or [1]))} if s else {'x': N(*x), 's': N(1)})
        else:
            case(name, one(t, pr, tops=ch([('y',), ('x',)])), {'x': N(*x)})
    elif kind == 'eltwise':
        op = ch(['SUM', 'PROD', 'MAX']); n = r(2, 4); x = shape(4, 1, 4)
        co = ' '.join(f'coeff: {rnd.uniform(-2, 2):.2f}' for _ in range(n)) if op == 'SUM' and rnd.random() < 0.5 else ''
        x = big(x); ins = {f'b{j}': N(*x) for j in range(n)}
        case(name, one('Eltwise', f'eltwise_param {{ operation: {op} {co} }}', tuple(ins)), ins)
    elif kind == 'lrn':
        case(name, one('LRN', f'lrn_param {{ local_size: {ch([1, 3, 5])} alpha: {rnd.uniform(0.01, 1):.3f} beta: {ch([0.75, 0.5, 1.0, 0.6])} k: {ch([1, 2, 0.5])} norm_region: {ch(["ACROSS_CHANNELS", "WITHIN_CHANNEL"])} }}'), {'x': N(*big([r(1, 2), r(1, 6), r(3, 6), r(3, 6)]))})
    elif kind == 'mvn':
        case(name, one('MVN', f'mvn_param {{ normalize_variance: {ch(["true", "false"])} across_channels: {ch(["true", "false"])} eps: {ch([1e-9, 1e-3, 0.1])} }}'), {'x': N(*big(shape(4, 2, 5)))})
    elif kind == 'bn':
        nd = ch([2, 3, 4, 5]); x = big([r(2, 4)] + [r(1, 4) for _ in range(nd - 1)])
        case(name, one('BatchNorm', f'batch_norm_param {{ moving_average_fraction: {ch([0.999, 0.9, 0.5])} eps: {ch([1e-5, 1e-3, 0.1])} }}', tops=ch([('y',), ('x',)])), {'x': N(*x)}, bn_factor=ch([1.0, 2.5, 0.0]))
    elif kind == 'tile':
        case(name, one('Tile', f'tile_param {{ axis: {r(-4, 3)} tiles: {r(1, 3)} }}'), {'x': N(*shape(4, 1, 3))})
    elif kind == 'spp':
        case(name, one('SPP', f'spp_param {{ pyramid_height: {r(1, 3)} pool: {ch(["MAX", "AVE"])} }}'), {'x': N(r(1, 2), r(1, 3), r(4, 9), r(4, 9))})
    elif kind == 'argmax':
        x = shape(4, 1, 5)
        ax = f'axis: {r(-4, 3)} ' if rnd.random() < 0.6 else ''
        case(name, one('ArgMax', f'argmax_param {{ {ax}top_k: {r(1, 3)} out_max_val: {ch(["true", "false"])} }}'), {'x': N(*x)}, backward=False)
    elif kind == 'softmax_loss':
        C = r(2, 5); x = [r(1, 3), C, r(1, 3), r(1, 3)]
        nm = ch(['FULL', 'VALID', 'BATCH_SIZE', 'NONE'])
        ig = f'ignore_label: {r(0, C - 1)} ' if rnd.random() < 0.5 else ''
        case(name, one('SoftmaxWithLoss', f'loss_param {{ {ig}normalization: {nm} }} loss_weight: {rnd.uniform(0.1, 3):.2f}', ('x', 'l'), ('loss',)), {'x': N(*x), 'l': I(C, x[0], 1, x[2], x[3])}, force=False)
    elif kind == 'sigmoid_ce':
        x = shape(3, 1, 5); nm = ch(['FULL', 'VALID', 'BATCH_SIZE', 'NONE'])
        case(name, one('SigmoidCrossEntropyLoss', f'loss_param {{ normalization: {nm} }}', ('x', 't'), ('loss',)), {'x': N(*x), 't': {'shape': x, 'kind': 'binary'}}, force=False)
    elif kind == 'power':
        case(name, one('Power', f'power_param {{ power: {ch([1, 2, 3, 0.5, -1, 0])} scale: {rnd.uniform(-2, 2):.2f} shift: {rnd.uniform(0.5, 2):.2f} }}', tops=ch([('y',), ('x',)])), {'x': Pos(*big(shape(4, 1, 4)))})
    elif kind == 'prelu':
        case(name, one('PReLU', f'prelu_param {{ channel_shared: {ch(["true", "false"])} }}', tops=ch([('y',), ('x',)])), {'x': N(*big(shape(ch([2, 3, 4]), 1, 4)))})


for i in range(COUNT):
    gen(i)
emit()
