# Random recurrent (LSTM/RNN with static input and exposed hidden state), LSTMUnit, and
# multi-bottom Convolution specs. SEED and COUNT as in random.py.
import os, random
from common import *  # noqa: F401,F403

rnd = random.Random(int(os.environ.get('SEED', '1')) + 4000)
COUNT = int(os.environ.get('COUNT', '60'))
r = rnd.randint
ch = rnd.choice


def gen(i):
    kind = ch(['lstm', 'rnn', 'lstm_unit', 'conv_multi'])
    name = f'random3/{i:03d}_{kind}'
    if kind in ('lstm', 'rnn'):
        T, B, D, H = r(1, 4), r(1, 3), r(1, 3), r(1, 4)
        t = 'LSTM' if kind == 'lstm' else 'RNN'
        static = rnd.random() < 0.5
        expose = rnd.random() < 0.5
        bottoms = ['x', 'cont'] + (['xs'] if static else [])
        inputs = {'x': N(T, B, D), 'cont': {'shape': [T, B], 'kind': 'binary'}}
        if static: inputs['xs'] = N(B, r(1, 3))
        tops = ['y']
        if expose:
            bottoms += ['h0'] + (['c0'] if t == 'LSTM' else [])
            inputs['h0'] = N(1, B, H)
            if t == 'LSTM': inputs['c0'] = N(1, B, H)
            tops += ['hT'] + (['cT'] if t == 'LSTM' else [])
        p = f'recurrent_param {{ num_output: {H} expose_hidden: {"true" if expose else "false"} weight_filler {{ type: "uniform" min: -0.6 max: 0.6 }} bias_filler {{ type: "uniform" min: -0.3 max: 0.3 }} }}'
        case(name, one(t, p, tuple(bottoms), tuple(tops)), inputs, seed=i + 1)
    elif kind == 'lstm_unit':
        B, H = r(1, 3), r(1, 4)
        case(name, one('LSTMUnit', '', ('c_prev', 'x', 'cont'), ('c', 'h')), {'c_prev': N(1, B, H), 'x': N(1, B, 4 * H), 'cont': {'shape': [1, B], 'kind': 'binary'}})
    else:
        x = [r(1, 2), r(1, 3), r(3, 6), r(3, 6)]
        p = f'convolution_param {{ num_output: {r(1, 4)} kernel_size: {r(1, 3)} stride: {r(1, 2)} pad: {r(0, 1)} }}'
        case(name, one('Convolution', p, ('a', 'b'), ('ya', 'yb')), {'a': N(*x), 'b': N(*x)})


for i in range(COUNT):
    gen(i)
emit()
