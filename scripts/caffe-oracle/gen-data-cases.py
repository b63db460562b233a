# Runs inside the Caffe chroot: Data-layer cases over LMDBs that Caffe's own convert_imageset
# writes (raw and encoded Datums, color and gray), with TEST-phase transformations, under argv[2];
# images from argv[1] (the first twelve by name). Each case folder holds its LMDB and mean file.
import os, subprocess, sys, numpy as np
os.environ['GLOG_minloglevel'] = '3'
import caffe
from oracle_case import write_forward_case
caffe.set_mode_cpu()
src, out = sys.argv[1], sys.argv[2]
imgs = sorted(f for f in os.listdir(src) if f.endswith(('.jpg', '.png')) and 'truncated' not in f and 'exif6.png' not in f)[:12]
variants = [
    # name, convert_imageset flags, transform_param, data_param extra, phase
    ('raw_color_crop_meanvalue', ['--resize_height=20', '--resize_width=24'], 'crop_size: 16 mean_value: 104 mean_value: 117 mean_value: 123 scale: 0.017', '', 'TEST'),
    ('raw_gray_meanfile', ['--resize_height=18', '--resize_width=18', '--gray'], 'mean_file: "mean.binaryproto"', '', 'TEST'),
    ('raw_color_meanfile_crop', ['--resize_height=20', '--resize_width=20'], 'crop_size: 14 mean_file: "mean.binaryproto" scale: 0.5', '', 'TEST'),
    ('encoded_jpg_color', ['--resize_height=21', '--resize_width=19', '--encoded', '--encode_type=jpg'], 'scale: 0.00390625', '', 'TEST'),
    ('encoded_png_force_gray', ['--resize_height=16', '--resize_width=16', '--encoded', '--encode_type=png'], 'force_gray: true mean_value: 128', '', 'TEST'),
    ('encoded_native_gray_force_color', ['--resize_height=16', '--resize_width=16', '--encoded', '--gray'], 'force_color: true crop_size: 12', '', 'TEST'),
    ('raw_train_scale_only', ['--resize_height=12', '--resize_width=10'], 'scale: 0.25 mean_value: 10', '', 'TRAIN'),
    ('encoded_one_mean_value', ['--resize_height=17', '--resize_width=13', '--encoded'], 'mean_value: 100 crop_size: 9', '', 'TEST'),
]
for name, flags, tp, dp, phase in variants:
    d = os.path.join(out, name); os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'list.txt'), 'w') as f:
        for i, img in enumerate(imgs): f.write(f'{img} {i % 5}\n')
    subprocess.run(['convert_imageset', *flags, '--backend=lmdb', src + '/', os.path.join(d, 'list.txt'), os.path.join(d, 'data.lmdb')], check=True, capture_output=True)
    if 'mean.binaryproto' in tp:
        subprocess.run(['compute_image_mean', '--backend=lmdb', os.path.join(d, 'data.lmdb'), os.path.join(d, 'mean.binaryproto')], check=True, capture_output=True)
    os.remove(os.path.join(d, 'list.txt'))
    net = f'''name: "data"
layer {{ name: "data" type: "Data" top: "data" top: "label" transform_param {{ {tp} }} data_param {{ source: "data.lmdb" backend: LMDB batch_size: 5 {dp} }} }}
layer {{ name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param {{ num_output: 3 weight_filler {{ type: "gaussian" std: 0.1 }} }} }}
'''
    open(os.path.join(d, 'net.prototxt'), 'w').write(net)
    cwd = os.getcwd(); os.chdir(d)
    try:
        n = caffe.Net('net.prototxt', caffe.TRAIN if phase == 'TRAIN' else caffe.TEST)
        n.save('weights.caffemodel')
        n = caffe.Net('net.prototxt', caffe.TRAIN if phase == 'TRAIN' else caffe.TEST, weights='weights.caffemodel')
        n.forward()
        write_forward_case(n, 'data/' + name, phase, 'weights.caffemodel')
        print('ok', name)
    finally:
        os.chdir(cwd)
