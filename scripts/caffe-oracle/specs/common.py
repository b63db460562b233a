# Helpers for case specs: each spec is one JSON line that gen-net-cases.py turns into a case folder
# (fixtures/FORMAT.md) computed by the Caffe in the chroot.
import json

specs = []


def inp(name, shape):
    dims = ' '.join(f'dim: {d}' for d in shape)
    return f'layer {{ name: "input_{name}" type: "Input" top: "{name}" input_param {{ shape {{ {dims} }} }} }}\n'


def case(name, layers, inputs, phases=('TRAIN', 'TEST'), backward=True, force=True, **kw):
    """A net of Input layers for `inputs` (blob -> {shape, kind}) followed by `layers` (prototxt)."""
    net = f'name: "{name.replace("/", "_")}"\n' + ('force_backward: true\n' if force else '')
    for b, s in inputs.items():
        net += inp(b, s['shape'])
    net += layers
    d = dict(name=name, net=net, inputs=inputs, phases=list(phases), backward=backward)
    d.update(kw)
    specs.append(d)


def N(*s): return {'shape': list(s), 'kind': 'normal'}
def Pos(*s): return {'shape': list(s), 'kind': 'positive'}
def I(k, *s): return {'shape': list(s), 'kind': f'int:{k}'}
def U(*s): return {'shape': list(s), 'kind': 'uniform'}


def one(t, params='', bottoms=('x',), tops=('y',), name='layer', extra=''):
    b = ' '.join(f'bottom: "{x}"' for x in bottoms)
    tt = ' '.join(f'top: "{x}"' for x in tops)
    return f'layer {{ name: "{name}" type: "{t}" {b} {tt} {params} {extra} }}\n'


def emit():
    for s in specs:
        print(json.dumps(s))
