#!/usr/bin/python3
# Compares caffe-ts with OpenCV dnn (python3-opencv) on the fork layers OpenCV implements, and on
# DenseNet_121 (pooling ceil_mode) with weights caffe-ts fills and saves. Outside the test suite:
#   npm run build && /usr/bin/python3 scripts/opencv-compare/compare.py
# Prints the largest absolute difference per case (or OpenCV's error when it cannot run a case).
import os, subprocess, sys, tempfile
import numpy as np
import cv2

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
rng = np.random.default_rng(7)

def inputs_text(inputs):
    return ''.join('input: "%s"\ninput_shape { %s }\n' % (n, ' '.join('dim: %d' % d for d in a.shape)) for n, a in inputs)

def caffe_ts(proto, weights, inputs, tmp, save=None):
    feed = []
    for name, a in inputs:
        p = os.path.join(tmp, name + '.in.npy')
        np.save(p, a.astype(np.float32))
        feed.append('%s=%s' % (name, p))
    cmd = ['node', os.path.join(HERE, 'run-caffe-ts.mjs'), proto, weights or '-', tmp] + feed
    if save:
        cmd += ['--save-weights', save]
    subprocess.run(cmd, check=True)

def opencv(proto, weights, inputs, out):
    net = cv2.dnn.readNetFromCaffe(proto, weights) if weights else cv2.dnn.readNetFromCaffe(proto)
    for name, a in inputs:
        net.setInput(a.astype(np.float32), name)
    return net.forward(out)

def case(title, layers, inputs, out, weights_from_caffe_ts=False, proto_file=None, layer_name='l'):
    # caffe-ts writes the net outputs by blob name; OpenCV's forward() takes the layer's name.
    with tempfile.TemporaryDirectory() as tmp:
        proto = proto_file or os.path.join(tmp, 'net.prototxt')
        if not proto_file:
            with open(proto, 'w') as f:
                f.write('name: "c"\n' + inputs_text(inputs) + layers)
        weights = os.path.join(tmp, 'w.caffemodel') if weights_from_caffe_ts else None
        try:
            caffe_ts(proto, None, inputs, tmp, save=weights)
            ours = np.load(os.path.join(tmp, out.replace('/', '_') + '.npy'))
        except subprocess.CalledProcessError as e:
            print('%-52s caffe-ts failed: %s' % (title, e))
            return
        try:
            theirs = opencv(proto, weights, inputs, layer_name)
        except cv2.error as e:
            msg = str(e).strip().splitlines()[-1] if str(e).strip() else repr(e)
            print('%-52s OpenCV cannot run it: %s' % (title, msg[:110]))
            return
        if ours.shape != theirs.shape:
            print('%-52s shapes differ: caffe-ts %s, OpenCV %s' % (title, ours.shape, theirs.shape))
            return
        d = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
        print('%-52s shape %-14s max |diff| %.3g (max |value| %.3g)' % (title, 'x'.join(map(str, ours.shape)), d.max(), np.abs(theirs).max()))

x = rng.standard_normal((2, 3, 7, 9)).astype(np.float32)
layer = lambda t, p='': 'layer { name: "l" type: "%s" bottom: "x" top: "y" %s }\n' % (t, p)
case('Interp zoom_factor 2', layer('Interp', 'interp_param { zoom_factor: 2 }'), [('x', x)], 'y')
case('Interp height 13 width 5', layer('Interp', 'interp_param { height: 13 width: 5 }'), [('x', x)], 'y')
case('Interp size from a second bottom',
     'layer { name: "l" type: "Interp" bottom: "x" bottom: "r" top: "y" }\n', [('x', x), ('r', np.zeros((2, 1, 12, 17), np.float32))], 'y')
case('Interp shrink_factor 2', layer('Interp', 'interp_param { shrink_factor: 2 }'), [('x', x)], 'y')
case('Interp zoom 3, pad_beg -1, pad_end -2', layer('Interp', 'interp_param { zoom_factor: 3 pad_beg: -1 pad_end: -2 }'), [('x', x)], 'y')
case('ReLU6', layer('ReLU6'), [('x', 4 * x)], 'y')
case('ShuffleChannel group 3', layer('ShuffleChannel', 'shuffle_channel_param { group: 3 }'), [('x', rng.standard_normal((2, 6, 4, 5)))], 'y')
x8 = rng.standard_normal((2, 3, 8, 10)).astype(np.float32)  # 3x3 stride 2: CEIL gives 4x5, FLOOR 3x4
for ceil in ('true', 'false'):
    for pool in ('MAX', 'AVE'):
        case('Pooling %s 3x3 s2 ceil_mode %s' % (pool, ceil),
             layer('Pooling', 'pooling_param { pool: %s kernel_size: 3 stride: 2 ceil_mode: %s }' % (pool, ceil)), [('x', x8)], 'y')
case('Pooling AVE 3x3 s2 pad 1 ceil_mode false', layer('Pooling', 'pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 ceil_mode: false }'), [('x', x8)], 'y')
fmap = rng.standard_normal((2, 3, 12, 16)).astype(np.float32)
rois = np.array([[0, 0, 0, 15, 11], [1, 2, 3, 9, 8], [0, 4.4, 2.6, 30, 20], [1, 10, 1, 12, 3], [1, -1, -3, 5, 5]], np.float32)
case('ROIPooling 3x2, spatial_scale 0.5',
     'layer { name: "l" type: "ROIPooling" bottom: "x" bottom: "rois" top: "y" roi_pooling_param { pooled_h: 3 pooled_w: 2 spatial_scale: 0.5 } }\n',
     [('x', fmap), ('rois', rois)], 'y')
case('DepthwiseConvolution 3x3 (weights from caffe-ts)',
     layer('DepthwiseConvolution', 'convolution_param { num_output: 3 kernel_size: 3 pad: 1 group: 3 weight_filler { type: "gaussian" std: 1 } bias_filler { type: "gaussian" std: 1 } }'),
     [('x', x)], 'y', weights_from_caffe_ts=True)
pooled_mask = 'layer { name: "p" type: "Pooling" bottom: "x" top: "p" top: "m" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n'
case('Upsample scale 2 (after MAX pooling with mask)',
     pooled_mask + 'layer { name: "l" type: "Upsample" bottom: "p" bottom: "m" top: "y" upsample_param { scale: 2 } }\n',
     [('x', rng.standard_normal((1, 3, 8, 10)))], 'y')
img = rng.uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32)
# fc6 has no weight_filler (zeros), so compare the pooled features that feed it.
dense = os.path.join(ROOT, 'fixtures', 'zoo-files', 'densenet', 'DenseNet_121.prototxt')
with open(dense) as f:
    dense_text = f.read()
with tempfile.TemporaryDirectory() as t:
    cut = os.path.join(t, 'densenet_pool5.prototxt')
    with open(cut, 'w') as f:
        f.write(dense_text[:dense_text.index('layer {\n  name: "fc6"')])
    case('DenseNet_121 to pool5 (ceil_mode: false), caffe-ts weights', None, [('data', img)], 'pool5', weights_from_caffe_ts=True,
         proto_file=cut, layer_name='pool5')
