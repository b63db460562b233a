# Runs inside the Caffe chroot: replays one solver case and prints each loss/parameter outside tolerance.
import sys, os, json, numpy as np
os.environ['GLOG_minloglevel'] = '3'
import caffe
caffe.set_mode_cpu()
case = sys.argv[1]
c = json.load(open(os.path.join(case, 'case.json'))); os.chdir(case)
t = c['tolerance']
s = caffe.get_solver(c['solver'])
if c.get('weights'): s.net.copy_from(c['weights'])
feeds = {b: np.load(f) for b, f in c['feeds'].items()}
losses = []
for k in range(c['steps']):
    for b, a in feeds.items(): s.net.blobs[b].data[...] = a[k]
    s.step(1); losses.append(float(s.net.blobs['loss'].data))
bad = 0
for k, (g, e) in enumerate(zip(losses, c['losses'])):
    if abs(g - e) > t['abs'] + t['rel'] * abs(e): print('FAIL loss', k, g, e); bad += 1
for l, fs in c['params_after'].items():
    for i, f in enumerate(fs):
        e = np.load(f); g = s.net.params[l][i].data.reshape(e.shape)
        err = np.abs(g - e).max(); lim = t['abs'] + t['rel'] * np.abs(e).max()
        if err > lim: print('FAIL', l, i, err, lim); bad += 1
print('bad', bad)
