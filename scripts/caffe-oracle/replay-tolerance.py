# Runs inside the Caffe chroot: replays one net case and prints each tensor outside the case tolerance.
import sys, os, json, numpy as np
os.environ['GLOG_minloglevel'] = '3'
import caffe
caffe.set_mode_cpu()
case = sys.argv[1]
c = json.load(open(os.path.join(case, 'case.json'))); os.chdir(case)
t = c['tolerance']
kw = {}
if c.get('stages'): kw['stages'] = c['stages']
if c.get('level'): kw['level'] = c['level']
net = caffe.Net(c['net'], caffe.TRAIN if c['phase'] == 'TRAIN' else caffe.TEST, **kw)
if c.get('weights'): net.copy_from(c['weights'])
for b, f in c.get('inputs', {}).items(): a = np.load(f); net.blobs[b].reshape(*a.shape); net.blobs[b].data[...] = a
if c.get('inputs'): net.reshape()
net.forward()
def chk(kind, name, got, f):
    e = np.load(f); got = got.reshape(e.shape)
    err = np.abs(got - e).max(); lim = t['abs'] + t['rel'] * np.abs(e).max()
    if err > lim: print('FAIL', kind, name, err, lim)
for b, f in c.get('forward', {}).items(): chk('fwd', b, net.blobs[b].data, f)
for l, fs in c.get('params_after_forward', {}).items():
    for i, f in enumerate(fs): chk('paf', l, net.params[l][i].data, f)
if 'backward' in c:
    for l in net.params:
        for p in net.params[l]: p.diff[...] = 0
    for b, f in c.get('top_diffs', {}).items(): net.blobs[b].diff[...] = np.load(f)
    net._backward(len(net.layers) - 1, 0)
    for b, f in c['backward'].items(): chk('bwd', b, net.blobs[b].diff, f)
    for l, fs in c.get('param_diffs', {}).items():
        for i, f in enumerate(fs): chk('pdiff', f'{l}.{i}', net.params[l][i].diff, f)
print('done')
