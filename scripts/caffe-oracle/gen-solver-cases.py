# Runs inside the Caffe chroot: one solver case (fixtures/FORMAT.md, kind "solver") from the spec in
# argv[2] (JSON: name, solver text without net/display/snapshot, net text, steps, feeds) under argv[1].
import sys, os, json, numpy as np
os.environ['GLOG_minloglevel'] = '3'
import caffe
caffe.set_mode_cpu()
OUT = sys.argv[1]; spec = json.loads(sys.argv[2])
d = os.path.join(OUT, spec['name']); os.makedirs(d, exist_ok=True); os.chdir(d)
rng = np.random.default_rng(spec.get('seed', 1))
open('net.prototxt', 'w').write(spec['net'])
open('solver.prototxt', 'w').write('net: "net.prototxt"\n' + spec['solver'] + '\ndisplay: 0\nsnapshot: 0\nrandom_seed: 1\nmax_iter: 1000\n')
s = caffe.get_solver('solver.prototxt')
for l, ps in s.net.params.items():
    for p in ps: p.data[...] = p.data + 0.1 * rng.standard_normal(p.data.shape).astype(np.float32)
s.net.save('weights.caffemodel')
s = caffe.get_solver('solver.prototxt'); s.net.copy_from('weights.caffemodel')
feeds = {}
for b, f in spec['feeds'].items():
    shape = [spec['steps']] + f['shape']
    a = rng.standard_normal(shape).astype(np.float32) if f['kind'] == 'normal' else rng.integers(0, int(f['kind'][4:]), shape).astype(np.float32)
    np.save(f'feed.{b}.npy', a); feeds[b] = a
losses = []
for k in range(spec['steps']):
    for b, a in feeds.items(): s.net.blobs[b].data[...] = a[k]
    s.step(1); losses.append(float(s.net.blobs['loss'].data))
pa = {}
for l, ps in s.net.params.items():
    pa[l] = []
    for i, p in enumerate(ps):
        f = f'after.{l}.{i}.npy'; np.save(f, p.data); pa[l].append(f)
json.dump({'format': 1, 'kind': 'solver', 'name': spec['name'], 'solver': 'solver.prototxt', 'net': 'net.prototxt',
           'weights': 'weights.caffemodel', 'steps': spec['steps'], 'feeds': {b: f'feed.{b}.npy' for b in feeds},
           'losses': losses, 'params_after': pa, 'tolerance': spec.get('tolerance', {'abs': 1e-5, 'rel': 5e-4})}, open('case.json', 'w'), indent=1)
print('ok')
