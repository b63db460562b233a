# Runs inside the Caffe chroot: writes the FORMAT.md net case(s) of one spec (argv[2], JSON) under
# argv[1], one folder per phase, every number computed by this Caffe. A spec:
# {"name": "relu/neg", "net": "<prototxt text>", "phases": ["TRAIN","TEST"],
#  "inputs": {"x": {"shape": [2,3,4,5], "kind": "normal"|"positive"|"int:K"|"uniform"|"binary"}},
#  "backward": true, "seed": 1}
import sys, os, json, numpy as np
os.environ['GLOG_minloglevel'] = '3'
import caffe
caffe.set_mode_cpu()
OUT = sys.argv[1]
def fname(kind, name):
    safe = ''.join(ch if ch.isalnum() or ch in '_.-' else '~' for ch in name)
    return f'{kind}.{safe}.npy'
def make_input(rng, spec):
    shape = spec['shape']; kind = spec.get('kind', 'normal')
    if kind == 'normal': return rng.standard_normal(shape).astype(np.float32)
    if kind == 'positive': return (rng.random(shape) * 2 + 0.1).astype(np.float32)
    if kind == 'uniform': return rng.random(shape).astype(np.float32)
    if kind == 'binary': return (rng.random(shape) > 0.5).astype(np.float32)
    if kind == 'prob':
        a = rng.random(shape).astype(np.float32) + 0.05; return (a / a.sum(axis=1, keepdims=True)).astype(np.float32)
    if kind.startswith('int:'):
        return rng.integers(0, int(kind[4:]), shape).astype(np.float32)
    if kind.startswith('const:'): return np.full(shape, float(kind[6:]), np.float32)
    raise ValueError(kind)
def one(spec, phase):
    name = spec['name']; d = os.path.join(OUT, name, phase.lower()); os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(spec.get('seed', 1) * 7 + (phase == 'TRAIN'))
    caffe.set_random_seed(spec.get('seed', 1))
    open(os.path.join(d, 'net.prototxt'), 'w').write(spec['net'])
    P = caffe.TRAIN if phase == 'TRAIN' else caffe.TEST
    kw = {}
    if spec.get('stages'): kw['stages'] = spec['stages']
    if spec.get('level'): kw['level'] = spec['level']
    cwd = os.getcwd(); os.chdir(d)
    try:
        net = caffe.Net('net.prototxt', P, **kw)
        # random parameters, BatchNorm statistics kept sane
        types = {l: net.layers[i].type for i, l in enumerate(net._layer_names)}
        if spec.get('perturb', True):
            for l, ps in net.params.items():
                for i, p in enumerate(ps):
                    if types.get(l) == 'BatchNorm':
                        if i == 0: p.data[...] = rng.standard_normal(p.data.shape)
                        elif i == 1: p.data[...] = rng.random(p.data.shape) * 2 + 0.2
                        else: p.data[...] = spec.get('bn_factor', 1.5)
                    else:
                        p.data[...] = p.data + 0.1 * rng.standard_normal(p.data.shape).astype(np.float32)
        net.save('weights.caffemodel')
        net = caffe.Net('net.prototxt', P, weights='weights.caffemodel', **kw)
        case = {'format': 1, 'name': name + '/' + phase.lower(), 'description': spec.get('description', name),
                'net': 'net.prototxt', 'phase': phase, 'weights': 'weights.caffemodel'}
        if spec.get('stages'): case['stages'] = spec['stages']
        if spec.get('level'): case['level'] = spec['level']
        inputs = {}
        for b, s in spec.get('inputs', {}).items():
            a = make_input(rng, s); np.save(fname('in', b), a); inputs[b] = fname('in', b)
            net.blobs[b].reshape(*a.shape); net.blobs[b].data[...] = a
        if spec.get('auto_inputs'):
            for b in net.inputs:
                a = rng.standard_normal(net.blobs[b].data.shape).astype(np.float32) * spec.get('input_scale', 1.0)
                np.save(fname('in', b), a); inputs[b] = fname('in', b); net.blobs[b].data[...] = a
        if inputs: net.reshape(); case['inputs'] = inputs
        loss_tops = {b for b in net.blobs if np.any(net.blobs[b].diff != 0)}
        net.forward()
        case['forward'] = {}
        for b in net.blobs:
            if spec.get('outputs_only') and b not in net.outputs: continue
            np.save(fname('fwd', b), net.blobs[b].data); case['forward'][b] = fname('fwd', b)
        paf = {}
        for l, ps in net.params.items():
            if types.get(l) == 'BatchNorm' and phase == 'TRAIN' or spec.get('all_paf'):
                paf[l] = []
                for i, p in enumerate(ps):
                    f = f'par.{l}.{i}.npy'.replace('/', '~'); np.save(f, p.data); paf[l].append(f)
        if paf: case['params_after_forward'] = paf
        if spec.get('backward', True):
            tds = {}
            for b in net.outputs:
                if b in loss_tops: continue
                a = rng.standard_normal(net.blobs[b].diff.shape).astype(np.float32)
                net.blobs[b].diff[...] = a; np.save(fname('topdiff', b), a); tds[b] = fname('topdiff', b)
            case['top_diffs'] = tds
            net._backward(len(net.layers) - 1, 0)
            case['backward'] = {}
            for b in net.blobs:
                np.save(fname('bwd', b), net.blobs[b].diff); case['backward'][b] = fname('bwd', b)
            pd = {}
            for l, ps in net.params.items():
                pd[l] = []
                for i, p in enumerate(ps):
                    f = f'pardiff.{l}.{i}.npy'.replace('/', '~'); np.save(f, p.diff); pd[l].append(f)
            case['param_diffs'] = pd
        case['blob_order'] = list(net.blobs.keys())
        case['layers'] = [[n, net.layers[i].type] for i, n in enumerate(net._layer_names)]
        case['outputs'] = list(net.outputs)
        case['tolerance'] = spec.get('tolerance', {'abs': 1e-5, 'rel': 1e-4})
        json.dump(case, open('case.json', 'w'), indent=1)
    finally:
        os.chdir(cwd)
spec = json.loads(sys.argv[2])
for ph in spec.get('phases', ['TRAIN', 'TEST']):
    one(spec, ph)
print('ok', spec['name'])
