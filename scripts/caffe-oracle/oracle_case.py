# Shared by the gen-*.py scripts (inside the chroot): writes a forward-only net case for a net
# that has just run, every blob, in fixtures/FORMAT.md.
import json
import numpy as np


def safe(name):
    return ''.join(c if c.isalnum() or c in '_.-' else '~' for c in name)


def write_forward_case(net, name, phase, weights, inputs=None, tolerance=None):
    """Saves every blob of `net` as fwd.<blob>.npy in the current folder and writes case.json."""
    fwd = {}
    for b in net.blobs:
        f = f'fwd.{safe(b)}.npy'
        np.save(f, net.blobs[b].data)
        fwd[b] = f
    case = {'format': 1, 'name': name, 'net': 'net.prototxt', 'phase': phase,
            'inputs': inputs or {}, 'forward': fwd, 'blob_order': list(net.blobs.keys()), 'outputs': list(net.outputs),
            'layers': [[l, net.layers[i].type] for i, l in enumerate(net._layer_names)],
            'tolerance': tolerance or {'abs': 1e-5, 'rel': 1e-5}}
    if weights:
        case['weights'] = weights
    with open('case.json', 'w') as f:
        json.dump(case, f, indent=1)
