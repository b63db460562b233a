# Runs inside the Caffe chroot: TEST-phase cases for the trained zoo models (their own prototxt and
# weights, V1 and HDF5 files included) on random inputs, every blob compared. argv[1]: the zoo
# folder, argv[2]: output. Weights are referenced by absolute path, not copied.
import os, sys, numpy as np
os.environ['GLOG_minloglevel'] = '3'
import caffe
from oracle_case import write_forward_case
caffe.set_mode_cpu()
zoo, out = sys.argv[1], sys.argv[2]
models = [
    ('lenet_mnist_trained_ahmdtaha/mnist_deploy.prototxt', 'lenet_mnist_trained_ahmdtaha/lenet_iter_10000.caffemodel', 1),
    ('lenet_mnist_trained_ethereon/lenet.prototxt', 'lenet_mnist_trained_ethereon/lenet_iter_10000.caffemodel', 1),
    ('lenet_mnist_trained_everpeace_2014/lenet.prototxt', 'lenet_mnist_trained_everpeace_2014/lenet_iter_10000.caffemodel', 1),
    ('lenet_mnist_trained_jachinshen/lenet_deploy.prototxt', 'lenet_mnist_trained_jachinshen/lenet_iter_10000.caffemodel', 1),
    ('cifar10_trained_everpeace_2014/cifar10_full.prototxt', 'cifar10_trained_everpeace_2014/cifar10_full_iter_60000.caffemodel', 30),
    ('cifar10_trained_everpeace_2014/cifar10_quick.prototxt', 'cifar10_trained_everpeace_2014/cifar10_quick_iter_5000.caffemodel', 30),
    ('trafficsign_cifar10quick_h5/cifar10_quick.prototxt', 'trafficsign_cifar10quick_h5/cifar10_quick_iter_5000.caffemodel.h5', 30),
    ('mtcnn/det1.prototxt', 'mtcnn/det1.caffemodel', 0.5),
    ('mtcnn/det2.prototxt', 'mtcnn/det2.caffemodel', 0.5),
    ('mtcnn/det3.prototxt', 'mtcnn/det3.caffemodel', 0.5),
    ('mtcnn/det4.prototxt', 'mtcnn/det4.caffemodel', 0.5),
]
rng = np.random.default_rng(11)
for proto, weights, scale in models:
    name = proto.replace('/', '__').replace('.prototxt', '')
    d = os.path.join(out, name); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, 'net.prototxt'), 'w').write(open(os.path.join(zoo, proto)).read())
    cwd = os.getcwd(); os.chdir(d)
    try:
        n = caffe.Net('net.prototxt', caffe.TEST, weights=os.path.join(zoo, weights))
        inputs = {}
        for b in n.inputs:
            a = (rng.random(n.blobs[b].data.shape) * scale).astype(np.float32)
            np.save(f'in.{b}.npy', a); inputs[b] = f'in.{b}.npy'; n.blobs[b].data[...] = a
        n.forward()
        write_forward_case(n, 'trained/' + name, 'TEST', os.path.join(zoo, weights), inputs, {'abs': 1e-5, 'rel': 1e-4})
        print('ok', name)
    except Exception as e:
        print('ERR', name, e)
    finally:
        os.chdir(cwd)
