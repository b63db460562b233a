# Runs inside the Caffe chroot: writes legacy/v0_padding_weights.caffemodel, a V0 binary net (padding
# layer, conv, pool, inner product with random blobs) built with Caffe's own protobuf classes.
# Usage: make-v0-binary.py OUT.caffemodel
import numpy as np
from caffe.proto import caffe_pb2 as pb
rng = np.random.default_rng(3)
net = pb.NetParameter(); net.name = 'v0bin'
net.input.extend(['data']); net.input_dim.extend([1, 3, 10, 10])
def add(name, typ, bottoms, tops, **kw):
    l = net.layers.add(); l.layer.name = name; l.layer.type = typ
    for k, v in kw.items():
        if k == 'blobs':
            for shape in v:
                b = l.layer.blobs.add(); b.num, b.channels, b.height, b.width = shape
                b.data.extend(rng.standard_normal(int(np.prod(shape))).astype(np.float32).tolist())
        else: setattr(l.layer, k, v)
    l.bottom.extend(bottoms); l.top.extend(tops)
add('pad1', 'padding', ['data'], ['pad1'], pad=1)
add('conv1', 'conv', ['pad1'], ['conv1'], num_output=4, kernelsize=3, stride=1, blobs=[(4, 3, 3, 3), (1, 1, 1, 4)])
add('relu1', 'relu', ['conv1'], ['conv1'])
add('pool1', 'pool', ['conv1'], ['pool1'], pool=pb.V0LayerParameter.MAX, kernelsize=2, stride=2)
add('ip', 'innerproduct', ['pool1'], ['ip'], num_output=5, blobs=[(1, 1, 5, 100), (1, 1, 1, 5)])
add('prob', 'softmax', ['ip'], ['prob'])
import sys
open(sys.argv[1], 'wb').write(net.SerializeToString())
print('ok')
