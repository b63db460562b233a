# Runs inside the Caffe chroot: replays FORMAT.md net cases given as folders and prints, per case,
# whether this Caffe reproduces every tensor bit for bit (EXACT) or which tensors differ (DIFF),
# then a FAIL line for each tensor outside the case's tolerance.
import sys, os, json, numpy as np
os.environ['GLOG_minloglevel'] = '2'
import caffe
caffe.set_mode_cpu()
def run(case):
    c = json.load(open(os.path.join(case, 'case.json')))
    if c.get('kind', 'net') != 'net': return
    cwd = os.getcwd(); os.chdir(case)
    try:
        phase = caffe.TRAIN if c['phase'] == 'TRAIN' else caffe.TEST
        kw = {}
        if c.get('stages'): kw['stages'] = c['stages']
        if c.get('level'): kw['level'] = c['level']
        net = caffe.Net(c['net'], phase, **kw)
        if c.get('weights'): net.copy_from(c['weights'])
        for b, f in c.get('inputs', {}).items():
            a = np.load(f); net.blobs[b].reshape(*a.shape); net.blobs[b].data[...] = a
        if c.get('inputs'): net.reshape()
        net.forward()
        res = []
        def cmp(kind, name, got, f):
            e = np.load(f)
            if got.shape != e.shape: got = got.reshape(e.shape) if got.size == e.size else got
            if got.shape != e.shape: res.append((kind, name, 'shape', got.shape, e.shape)); return
            ex = (got.astype(np.float32).view(np.uint32) == e.view(np.uint32)).mean()
            err = float(np.abs(got - e).max()) if e.size else 0.0
            tol = c.get('tolerance', {'abs': 1e-5, 'rel': 1e-4})
            limit = tol['abs'] + tol['rel'] * (float(np.abs(e).max()) if e.size else 0.0)
            res.append((kind, name, round(ex * 100, 2), err, limit))
        for b, f in c.get('forward', {}).items(): cmp('fwd', b, net.blobs[b].data.copy(), f)
        for l, fs in c.get('params_after_forward', {}).items():
            for i, f in enumerate(fs): cmp('paf', f'{l}.{i}', net.params[l][i].data.copy(), f)
        if 'backward' in c:
            for l in net.params:
                for p in net.params[l]: p.diff[...] = 0
            for b, f in c.get('top_diffs', {}).items(): net.blobs[b].diff[...] = np.load(f)
            net._backward(len(net.layers) - 1, 0)
            for b, f in c['backward'].items(): cmp('bwd', b, net.blobs[b].diff.copy(), f)
            for l, fs in c.get('param_diffs', {}).items():
                for i, f in enumerate(fs): cmp('pdiff', f'{l}.{i}', net.params[l][i].diff.copy(), f)
        return res
    finally:
        os.chdir(cwd)
for case in sys.argv[1:]:
    try:
        res = run(case)
    except Exception as e:
        print('ERROR', case, type(e).__name__, str(e)[:200]); continue
    if res is None: continue
    bad = [r[:4] for r in res if r[2] != 100.0]
    print(('EXACT ' if not bad else 'DIFF  ') + case, '' if not bad else bad[:4])
    for r in res:
        if r[2] == 'shape' or not r[3] <= r[4]: print('FAIL ', case, *r)
