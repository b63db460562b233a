# Runs inside the Caffe chroot: HDF5Data cases under argv[1]: lists of several .h5 files whose
# sizes do not divide the batch, float64 and float32 datasets, 2-D and 4-D data, extra tops,
# batch sizes larger than a file. One forward pass per case (shuffle off, so it is deterministic).
import os, sys, numpy as np
os.environ['GLOG_minloglevel'] = '3'
import caffe, h5py
from oracle_case import write_forward_case
caffe.set_mode_cpu()
out = sys.argv[1]
rng = np.random.default_rng(5)
variants = [
    # name, [(rows per file)], data shape (per row), dtype, batch, tops
    ('two_files_cross', [3, 4], (2, 3, 2), 'f4', 5, ['data', 'label']),
    ('float64_2d', [6], (7,), 'f8', 4, ['data', 'label']),
    ('three_tops_small_files', [2, 1, 3], (3,), 'f4', 4, ['data', 'label', 'extra']),
    ('batch_bigger_than_files', [2, 3], (2, 2), 'f8', 7, ['data', 'label']),
    ('one_row_files', [1, 1, 1, 1], (4, 1, 1), 'f4', 3, ['data', 'label']),
]
for name, rows, shape, dt, batch, tops in variants:
    d = os.path.join(out, name); os.makedirs(d, exist_ok=True)
    files = []
    for i, r in enumerate(rows):
        f = f'part{i}.h5'; files.append(f)
        with h5py.File(os.path.join(d, f), 'w') as h:
            for t in tops:
                s = (r,) + (shape if t == 'data' else (1,) if t == 'label' else (2,))
                a = rng.standard_normal(s) if t != 'label' else rng.integers(0, 3, s)
                h.create_dataset(t, data=a.astype(dt))
    open(os.path.join(d, 'list.txt'), 'w').write(''.join(f + '\n' for f in files))
    top_s = ' '.join(f'top: "{t}"' for t in tops)
    net = f'''name: "h5"
layer {{ name: "data" type: "HDF5Data" {top_s} hdf5_data_param {{ source: "list.txt" batch_size: {batch} }} }}
layer {{ name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param {{ num_output: 2 weight_filler {{ type: "gaussian" std: 0.3 }} }} }}
'''
    open(os.path.join(d, 'net.prototxt'), 'w').write(net)
    cwd = os.getcwd(); os.chdir(d)
    try:
        n = caffe.Net('net.prototxt', caffe.TEST); n.save('weights.caffemodel')
        n = caffe.Net('net.prototxt', caffe.TEST, weights='weights.caffemodel'); n.forward()
        write_forward_case(n, 'hdf5/' + name, 'TEST', 'weights.caffemodel')
        print('ok', name)
    finally:
        os.chdir(cwd)
