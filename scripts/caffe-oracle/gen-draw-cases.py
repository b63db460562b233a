# Runs inside the Caffe chroot: what python/draw_net.py draws for some nets, as data for
# test/draw.test.ts. caffe.draw.get_pydot_graph (the graph draw_net.py renders) is asked for each
# net, rankdir and phase; its nodes (label, shape, fill) and edges (ends, label) go to
# fixtures/draw/<name>.json. argv[1]: the repo's fixtures folder (mounted).
import json, os, sys
os.environ['GLOG_minloglevel'] = '3'
from google.protobuf import text_format
import caffe
import caffe.draw
from caffe.proto import caffe_pb2

root = sys.argv[1]
out = os.path.join(root, 'draw')
os.makedirs(out, exist_ok=True)
PHASES = {'ALL': None, 'TRAIN': caffe.TRAIN, 'TEST': caffe.TEST}
cases = [
    ('lenet_deploy_LR', 'demo/lenet.prototxt', 'LR', 'ALL'),
    ('lenet_train_test_TB_TRAIN', 'zoo-files/mnist_lenet/lenet_train_test.prototxt', 'TB', 'TRAIN'),
    ('lenet_train_test_LR_TEST', 'zoo-files/mnist_lenet/lenet_train_test.prototxt', 'LR', 'TEST'),
    ('cifar10_quick_train_test_BT_ALL', 'zoo-files/cifar10_quick/cifar10_quick_train_test.prototxt', 'BT', 'ALL'),
    ('googlenet_deploy_LR', 'zoo-files/bvlc_googlenet/deploy.prototxt', 'LR', 'ALL'),
    ('resnet50_deploy_TB', 'zoo-files/resnet/ResNet-50-deploy.prototxt', 'TB', 'ALL'),
]


def unquote(s):
    s = s or ''
    return s[1:-1] if len(s) >= 2 and s[0] == '"' and s[-1] == '"' else s


for name, proto, rankdir, phase in cases:
    net = caffe_pb2.NetParameter()
    text_format.Merge(open(os.path.join(root, proto)).read(), net)
    g = caffe.draw.get_pydot_graph(net, rankdir, label_edges=True, phase=PHASES[phase])
    nodes = [{'label': unquote(n.get_name()), 'shape': n.get('shape'), 'fill': n.get('fillcolor')} for n in g.get_nodes()]
    edges = [{'src': unquote(e.get_source()), 'dst': unquote(e.get_destination()), 'label': unquote(e.get('label'))}
             for e in g.get_edges()]
    with open(os.path.join(out, name + '.json'), 'w') as f:
        json.dump({'net': proto, 'rankdir': rankdir, 'phase': phase, 'nodes': nodes, 'edges': edges}, f, indent=1)
    print('ok', name, len(nodes), len(edges))
