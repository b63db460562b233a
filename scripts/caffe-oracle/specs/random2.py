# More random single-layer specs (the layers random.py leaves out): neurons, losses, recurrent,
# index layers. SEED and COUNT as in random.py.
import os, random
from common import *  # noqa: F401,F403

rnd = random.Random(int(os.environ.get('SEED', '1')) + 1000)
COUNT = int(os.environ.get('COUNT', '200'))
r = rnd.randint
ch = rnd.choice
u = rnd.uniform


def shape(nd=4, lo=1, hi=5):
    return [r(1, 3)] + [r(lo, hi) for _ in range(nd - 1)]


def gen(i):
    kind = ch(['elu', 'exp', 'log', 'threshold', 'clip', 'swish', 'relu', 'dropout', 'bnll', 'absval', 'sigmoid', 'tanh',
               'embed', 'im2col', 'accuracy', 'euclidean', 'hinge', 'infogain', 'contrastive', 'multinomial',
               'lstm', 'rnn', 'batch_reindex', 'filter', 'silence_split'])
    name = f'random2/{i:04d}_{kind}'
    x = shape(ch([2, 3, 4]))
    inplace = ch([('y',), ('x',)])
    if kind == 'elu': case(name, one('ELU', f'elu_param {{ alpha: {u(0, 2):.2f} }}', tops=inplace), {'x': N(*x)})
    elif kind == 'exp': case(name, one('Exp', f'exp_param {{ base: {ch([-1, 2, 0.5, 10])} scale: {u(-1, 1):.2f} shift: {u(-1, 1):.2f} }}', tops=inplace), {'x': N(*x)})
    elif kind == 'log': case(name, one('Log', f'log_param {{ base: {ch([-1, 2, 10])} scale: {u(0.5, 2):.2f} shift: {u(0, 1):.2f} }}', tops=inplace), {'x': Pos(*x)})
    elif kind == 'threshold': case(name, one('Threshold', f'threshold_param {{ threshold: {u(-1, 1):.2f} }}'), {'x': N(*x)}, backward=False)
    elif kind == 'clip':
        lo = u(-1, 0.5); case(name, one('Clip', f'clip_param {{ min: {lo:.2f} max: {lo + u(0, 1.5):.2f} }}', tops=inplace), {'x': N(*x)})
    elif kind == 'swish': case(name, one('Swish', f'swish_param {{ beta: {u(0.1, 3):.2f} }}', tops=inplace), {'x': N(*x)})
    elif kind == 'relu': case(name, one('ReLU', f'relu_param {{ negative_slope: {ch([0, 0.01, 0.3, -0.5])} }}', tops=inplace), {'x': N(*x)})
    elif kind == 'dropout': case(name, one('Dropout', f'dropout_param {{ dropout_ratio: {u(0, 0.9):.2f} }}', tops=inplace), {'x': N(*x)}, phases=('TEST',))
    elif kind == 'bnll': case(name, one('BNLL', tops=inplace), {'x': {'shape': x, 'kind': 'normal'}})
    elif kind == 'absval': case(name, one('AbsVal'), {'x': N(*x)})
    elif kind == 'sigmoid': case(name, one('Sigmoid', tops=inplace), {'x': N(*x)})
    elif kind == 'tanh': case(name, one('TanH', tops=inplace), {'x': N(*x)})
    elif kind == 'embed':
        K = r(2, 8); case(name, one('Embed', f'embed_param {{ num_output: {r(1, 5)} input_dim: {K} bias_term: {ch(["true", "false"])} }}'), {'x': I(K, *shape(ch([1, 2, 3])))}, force=False)
    elif kind == 'im2col':
        k = r(1, 3); case(name, one('Im2col', f'convolution_param {{ kernel_size: {k} stride: {r(1, 2)} pad: {r(0, k - 1)} dilation: {r(1, 2)} }}'), {'x': N(r(1, 2), r(1, 3), r(3, 6), r(3, 6))})
    elif kind == 'accuracy':
        C = r(2, 5); ax = r(1, 2); xs = [r(1, 3), C, r(1, 3)] if ax == 1 else [r(1, 3), r(1, 3), C]
        ls = [xs[0], xs[2]] if ax == 1 else [xs[0], xs[1]]
        ig = f'ignore_label: {r(0, C - 1)} ' if rnd.random() < 0.4 else ''
        tops = ch([('acc',), ('acc', 'per')])
        case(name, one('Accuracy', f'accuracy_param {{ top_k: {r(1, C)} axis: {ax} {ig}}}', ('x', 'l'), tops), {'x': N(*xs), 'l': I(C, *ls)}, backward=False)
    elif kind == 'euclidean': case(name, one('EuclideanLoss', f'loss_weight: {u(0.1, 2):.2f}', ('a', 'b'), ('loss',)), {'a': N(*x), 'b': N(*x)})
    elif kind == 'hinge':
        C = r(2, 5); n = r(1, 4); case(name, one('HingeLoss', f'hinge_loss_param {{ norm: {ch(["L1", "L2"])} }}', ('x', 'l'), ('loss',)), {'x': N(n, C), 'l': I(C, n)}, force=False)
    elif kind == 'infogain':
        C = r(2, 4); n = r(1, 4); case(name, one('InfogainLoss', '', ('x', 'l', 'H'), ('loss',)), {'x': N(n, C), 'l': I(C, n), 'H': U(C, C)}, force=False)
    elif kind == 'contrastive':
        n = r(1, 4); d = r(1, 4)
        case(name, one('ContrastiveLoss', f'contrastive_loss_param {{ margin: {u(0.5, 3):.2f} legacy_version: {ch(["true", "false"])} }}', ('a', 'b', 's'), ('loss',)), {'a': N(n, d), 'b': N(n, d), 's': {'shape': [n], 'kind': 'binary'}}, force=False)
    elif kind == 'multinomial':
        C = r(2, 5); n = r(1, 4); case(name, one('MultinomialLogisticLoss', '', ('p', 'l'), ('loss',)), {'p': {'shape': [n, C], 'kind': 'prob'}, 'l': I(C, n)}, force=False)
    elif kind in ('lstm', 'rnn'):
        T, B, D, H = r(1, 4), r(1, 3), r(1, 3), r(1, 3)
        t = 'LSTM' if kind == 'lstm' else 'RNN'
        case(name, one(t, f'recurrent_param {{ num_output: {H} weight_filler {{ type: "uniform" min: -0.5 max: 0.5 }} bias_filler {{ type: "uniform" min: -0.2 max: 0.2 }} }}', ('x', 'cont')), {'x': N(T, B, D), 'cont': {'shape': [T, B], 'kind': 'binary'}})
    elif kind == 'batch_reindex':
        n = r(1, 4); case(name, one('BatchReindex', '', ('x', 'i')), {'x': N(n, r(1, 3)), 'i': {'shape': [r(1, 5)], 'kind': f'int:{n}'}}, force=False)
    elif kind == 'filter':
        n = r(1, 5); case(name, one('Filter', '', ('x', 's'), ('y',)), {'x': N(n, r(1, 3)), 's': {'shape': [n], 'kind': 'binary'}}, force=False)
    elif kind == 'silence_split':
        case(name, one('Split', '', ('x',), ('a', 'b', 'c')) + one('Silence', '', ('b',), (), 'sil'), {'x': N(*x)})


for i in range(COUNT):
    gen(i)
emit()
