# Runs inside the Caffe chroot: reference cases for `caffe-ts classify`, computed by BVLC Caffe's
# own two classification pipelines on the zoo's trained models and their sample images.
#   cpp: the `classification` tool (examples/cpp_classification/classification.cpp as Debian
#        builds it): imread unchanged, channel conversion, cv::resize INTER_LINEAR to the net's
#        input, minus the per-channel mean of the mean file, top 5 printed with 4 decimals.
#   py:  pycaffe's caffe.Classifier + caffe.io (what python/classify.py runs): load_image to
#        [0,1] RGB, resize_image (skimage) to image_dims, oversample 10 crops or the centre crop,
#        Transformer.preprocess (transpose, channel_swap, raw_scale, mean, input_scale), forward,
#        mean of the 10 crops. Every probability and each image's preprocessed input are saved.
# argv[1]: the repo's fixtures folder (mounted); cases go to its classify/ folder. Further arguments
# (cpp, py, transformer) pick groups; none: all.
import json, os, subprocess, sys
import numpy as np
os.environ['GLOG_minloglevel'] = '3'
import caffe
caffe.set_mode_cpu()


# Debian's pycaffe passes skimage's old `as_grey` keyword, which skimage 0.18 hands on to imageio
# (a TypeError); this is caffe.io.load_image with the keyword's current name, nothing else changed.
def load_image(filename, color=True):
    import skimage.io
    img = skimage.img_as_float(skimage.io.imread(filename, as_gray=not color)).astype(np.float32)
    if img.ndim == 2:
        img = img[:, :, np.newaxis]
        if color:
            img = np.tile(img, (1, 1, 3))
    elif img.shape[2] == 4:
        img = img[:, :, :3]
    return img


caffe.io.load_image = load_image

root = sys.argv[1]
out = os.path.join(root, 'classify')
imgs = lambda *names: ['classify/images/' + n for n in names]
DIGITS = ['demo/digits/' + f for f in sorted(os.listdir(os.path.join(root, 'demo/digits')))]
CIFAR = imgs('cat10.png', 'dog10.png', 'truck10.png')
SIGNS = imgs('SignalAhead.1.png', 'SpeedLimit25.png', 'added-lane.jpg', 'merge8.jpg', 'pedestrian.jpg',
             'speed-limit-35.jpg', 'yield3.jpg')
LENET = ('demo/lenet.prototxt', 'demo/lenet_iter_10000.caffemodel', 'classify/models/mnist_labels.txt')
CIFAR_NET = ('classify/models/cifar10_quick.prototxt', 'classify/models/cifar10_quick_iter_5000.caffemodel',
             'classify/models/cifar10_labels.txt')
SIGN_NET = ('hdf5-weights/cifar10_quick.prototxt', 'hdf5-weights/cifar10_quick_iter_5000.caffemodel.h5',
            'classify/models/trafficsign_labels.txt')


def p(rel):
    return os.path.join(root, rel)


def write_mean_proto(rel, arr):
    blob = caffe.io.array_to_blobproto(arr[np.newaxis].astype(np.float32))
    with open(p(rel), 'wb') as f:
        f.write(blob.SerializeToString())


def cpp_case(name, net, images, mean_file, what):
    model, weights, labels = net
    results = []
    for im in images:
        r = subprocess.run(['/usr/bin/classification', p(model), p(weights), p(mean_file), p(labels), p(im)],
                           capture_output=True, text=True, env=dict(os.environ, GLOG_minloglevel='3'))
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        top = []
        for line in r.stdout.splitlines():
            if line.startswith('---------- Prediction'):
                continue
            prob, label = line.split(' - ', 1)
            top.append([label.strip().strip('"'), float(prob)])
        results.append({'image': im, 'top': top})
    case = {'pipeline': 'cpp', 'description': what, 'model': model, 'weights': weights, 'labels': labels,
            'mean': mean_file, 'results': results,
            'tolerance': {'abs': 1.5e-4, 'note': 'the tool prints probabilities with 4 decimals'}}
    with open(os.path.join(out, 'cases', name + '.json'), 'w') as f:
        json.dump(case, f, indent=1)
    print('ok', name)


def py_case(name, net, images, what, color=True, image_dims=None, oversample=True, mean=None, mean_file=None,
            mean_value=None, raw_scale=None, input_scale=None, channel_swap=None):
    model, weights, labels = net
    if mean_file is not None:
        mean = np.load(p(mean_file)) if mean_file.endswith('.npy') else caffe.io.blobproto_to_array(
            caffe.proto.caffe_pb2.BlobProto.FromString(open(p(mean_file), 'rb').read()))[0]
    if mean_value is not None:
        mean = np.array(mean_value, dtype=np.float32)
    clf = caffe.Classifier(p(model), p(weights), image_dims=image_dims, mean=mean, input_scale=input_scale,
                           raw_scale=raw_scale, channel_swap=channel_swap)
    loaded = [caffe.io.load_image(p(im), color) for im in images]
    probs = clf.predict(loaded, oversample)
    d = os.path.join(out, 'cases', name)
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, 'probs.npy'), probs.astype(np.float32))
    # The net input of each image, built by pycaffe's own steps as Classifier.predict takes them
    # (the input blob itself keeps only the last batch).
    inputs = []
    for i, im in enumerate(loaded):
        im = caffe.io.resize_image(im, clf.image_dims)
        if oversample:
            crops = caffe.io.oversample([im], clf.crop_dims)
        else:
            center = np.array(clf.image_dims) / 2.0
            c = (np.tile(center, (1, 2))[0] + np.concatenate([-clf.crop_dims / 2.0, clf.crop_dims / 2.0])).astype(int)
            crops = [im[c[0]:c[2], c[1]:c[3], :]]
        f = f'input.{i}.npy'
        np.save(os.path.join(d, f), np.array([clf.transformer.preprocess(clf.inputs[0], c) for c in crops]))
        inputs.append(f)
    case = {'pipeline': 'py', 'description': what, 'model': model, 'weights': weights, 'labels': labels,
            'images': images, 'color': color, 'image_dims': [int(x) for x in clf.image_dims], 'oversample': oversample,
            'mean_file': mean_file, 'mean_value': mean_value, 'raw_scale': raw_scale, 'input_scale': input_scale,
            'channel_swap': list(channel_swap) if channel_swap else None, 'probs': 'probs.npy', 'inputs': inputs,
            'tolerance': {'abs': 1e-5, 'rel': 1e-4}}
    with open(os.path.join(d, 'case.json'), 'w') as f:
        json.dump(case, f, indent=1)
    print('ok', name, probs.argmax(1))


os.makedirs(os.path.join(out, 'cases'), exist_ok=True)
write_mean_proto('classify/models/zero_mean_1x28x28.binaryproto', np.zeros((1, 28, 28)))
write_mean_proto('classify/models/mean120_3x32x32.binaryproto', np.full((3, 32, 32), 120.0))
write_mean_proto('classify/models/mean120_1x28x28.binaryproto', np.full((1, 28, 28), 120.0))
# A 3x40x40 copy of the traffic-sign mean (edge-padded), so that set_mean has to resize it.
sign_mean = np.load(p('classify/models/trafficsign_mean.npy'))
np.save(p('classify/models/trafficsign_mean_3x40x40.npy'), np.pad(sign_mean, ((0, 0), (4, 4), (4, 4)), 'edge'))

if not sys.argv[2:]:
  cpp_case('cpp_lenet_digits', LENET, DIGITS, 'classify/models/zero_mean_1x28x28.binaryproto',
         'LeNet on 10 MNIST digits, raw 0..255 pixels as classification.cpp feeds them (zero mean file)')
  cpp_case('cpp_lenet_color', LENET, SIGNS[1:4] + CIFAR[:1], 'classify/models/mean120_1x28x28.binaryproto',
           'LeNet on colour photos and an RGBA PNG: BGR(A) to gray by cv::cvtColor, resized, minus 120')
  cpp_case('cpp_cifar10_quick', CIFAR_NET, CIFAR, 'classify/models/mean120_3x32x32.binaryproto',
         'CIFAR-10 quick (V1 weights) on cat/dog/truck RGBA PNGs, mean file of 120')
  cpp_case('cpp_trafficsign', SIGN_NET, SIGNS, 'classify/models/trafficsign_mean.binaryproto',
         'traffic-sign CIFAR-10 quick (HDF5 weights) on its photos with its mean file, resized by cv::resize')

if not sys.argv[2:] or 'py' in sys.argv[2:]:
  py_case('py_lenet_center', LENET, DIGITS, 'LeNet, gray, centre crop, raw_scale 255, input_scale 1/256',
        color=False, oversample=False, raw_scale=255.0, input_scale=0.00390625)
  py_case('py_lenet_color', LENET, SIGNS[1:4] + CIFAR[:1], 'LeNet on colour photos read as gray (skimage rgb2gray), '
          'downsampled to 28x28, centre crop', color=False, oversample=False, raw_scale=255.0, input_scale=0.00390625)
  py_case('py_lenet_oversample', LENET, DIGITS[:4], 'LeNet, gray, image_dims 32x32, 10 crops averaged',
        color=False, image_dims=(32, 32), oversample=True, raw_scale=255.0, input_scale=0.00390625)
  py_case('py_cifar10_oversample', CIFAR_NET, CIFAR, 'CIFAR-10 quick, image_dims 36x36 (upsampled), 10 crops, '
        'mean values 120, raw_scale 255, channel_swap 2,1,0', image_dims=(36, 36), oversample=True,
        mean_value=[120.0, 120.0, 120.0], raw_scale=255.0, channel_swap=(2, 1, 0))
  py_case('py_trafficsign_center', SIGN_NET, SIGNS, 'traffic signs, photos downsampled to 32x32 (anti-aliased), '
        'centre crop, its .npy mean', oversample=False, mean_file='classify/models/trafficsign_mean.npy',
        raw_scale=255.0, channel_swap=(2, 1, 0))
  py_case('py_trafficsign_oversample', SIGN_NET, SIGNS, 'traffic signs, image_dims 40x40, 10 crops, a 3x40x40 mean '
        'that set_mean resizes to 32x32', image_dims=(40, 40), oversample=True,
        mean_file='classify/models/trafficsign_mean_3x40x40.npy', raw_scale=255.0, channel_swap=(2, 1, 0))
  py_case('py_trafficsign_binaryproto', SIGN_NET, SIGNS[:3], 'traffic signs, mean from the .binaryproto, '
        'input_scale 0.5 (the net sees half the range)', oversample=False,
        mean_file='classify/models/trafficsign_mean.binaryproto', raw_scale=255.0, input_scale=0.5,
        channel_swap=(2, 1, 0))


# caffe.io.Transformer on arrays: random images through preprocess and back through deprocess.
def transformer_case(name, image, blob_shape, transpose=(2, 0, 1), channel_swap=None, raw_scale=None, mean=None,
                     input_scale=None):
    d = os.path.join(out, 'transformer', name)
    os.makedirs(d, exist_ok=True)
    t = caffe.io.Transformer({'data': blob_shape})
    t.set_transpose('data', transpose)
    if channel_swap is not None:
        t.set_channel_swap('data', channel_swap)
    if raw_scale is not None:
        t.set_raw_scale('data', raw_scale)
    if mean is not None:
        np.save(os.path.join(d, 'mean.npy'), mean)
        t.set_mean('data', mean)
    if input_scale is not None:
        t.set_input_scale('data', input_scale)
    pre = t.preprocess('data', image)
    np.save(os.path.join(d, 'image.npy'), image)
    np.save(os.path.join(d, 'pre.npy'), pre)
    try:
        np.save(os.path.join(d, 'de.npy'), t.deprocess('data', pre))
        de = 'de.npy'
    except ValueError as e:  # pycaffe's deprocess squeezes a single channel away, then cannot transpose
        de = None
        print('deprocess refused', name, e)
    spec = {'blob_shape': list(blob_shape), 'transpose': list(transpose),
            'channel_swap': list(channel_swap) if channel_swap is not None else None, 'raw_scale': raw_scale,
            'mean': 'mean.npy' if mean is not None else None, 'input_scale': input_scale, 'deprocessed': de}
    with open(os.path.join(d, 'case.json'), 'w') as f:
        json.dump(spec, f, indent=1)
    print('ok transformer', name)


if not sys.argv[2:] or 'transformer' in sys.argv[2:]:
    rng = np.random.default_rng(5)
    transformer_case('rgb01_same_size', rng.random((12, 10, 3), dtype=np.float32), (1, 3, 12, 10),
                     channel_swap=(2, 1, 0), raw_scale=255.0, mean=np.array([104.0, 117.0, 123.0]), input_scale=0.017)
    transformer_case('rgb01_upsized', rng.random((7, 9, 3), dtype=np.float32), (1, 3, 16, 13),
                     channel_swap=(2, 1, 0), raw_scale=255.0, mean=rng.random((3, 16, 13)) * 255)
    transformer_case('rgb01_downsized_mean_resized', rng.random((40, 31, 3), dtype=np.float32), (2, 3, 11, 14),
                     channel_swap=(2, 0, 1), raw_scale=255.0, mean=(rng.random((3, 23, 19)) * 200).astype(np.float32),
                     input_scale=0.5)
    transformer_case('bgr_bytes', rng.integers(0, 256, (20, 24, 3)).astype(np.uint8), (1, 3, 20, 24),
                     mean=np.array([110.0, 120.0, 130.0], dtype=np.float32))
    transformer_case('bgr_bytes_resized', rng.integers(0, 256, (33, 17, 3)).astype(np.uint8), (1, 3, 15, 15),
                     input_scale=1 / 128.0)
    transformer_case('gray_hw_mean', rng.random((9, 9, 1), dtype=np.float32), (1, 1, 18, 18), raw_scale=255.0,
                     mean=rng.random((18, 18)) * 100)
