# Runs inside the Caffe chroot: random Data and ImageData cases (TEST phase, deterministic
# transformations): LMDBs written by convert_imageset (raw or encoded, color or gray, resized or
# not), crop sizes, one or three mean values or a mean file, scales, force_color/force_gray,
# batch sizes that wrap around the database; ImageData with resizing and the same transforms.
# argv: images folder, output folder, seed, count.
import os, random, subprocess, sys, numpy as np
os.environ['GLOG_minloglevel'] = '3'
import caffe
from oracle_case import write_forward_case
caffe.set_mode_cpu()
src, out, seed, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(seed)
imgs = sorted(f for f in os.listdir(src) if f.endswith(('.jpg', '.png')) and 'truncated' not in f and 'exif6.png' not in f)
for i in range(count):
    name = f'data_random/{i:03d}'
    d = os.path.join(out, name); os.makedirs(d, exist_ok=True)
    picks = rnd.sample(imgs, rnd.randint(3, 8))
    with open(os.path.join(d, 'list.txt'), 'w') as f:
        for j, img in enumerate(picks): f.write(f'{img} {j % 4}\n')
    h, w = rnd.randint(8, 24), rnd.randint(8, 24)
    gray = rnd.random() < 0.3
    image_data = rnd.random() < 0.35
    crop = rnd.choice([0, 0, min(h, w) - rnd.randint(0, 4)])
    tp = []
    if crop > 0: tp.append(f'crop_size: {crop}')
    mean = rnd.choice(['none', 'one', 'three', 'file'])
    if mean == 'file' and image_data: mean = 'three'
    if mean == 'three' and gray: mean = 'one'
    if mean == 'one': tp.append(f'mean_value: {rnd.randint(0, 200)}')
    if mean == 'three': tp += [f'mean_value: {rnd.randint(0, 200)}' for _ in range(3)]
    if mean == 'file': tp.append('mean_file: "mean.binaryproto"')
    if rnd.random() < 0.6: tp.append(f'scale: {rnd.choice([0.00390625, 0.017, 0.5, 2.0])}')
    batch = rnd.randint(1, 2 * len(picks))
    if image_data:
        color = 'false' if gray else 'true'
        layer = (f'layer {{ name: "data" type: "ImageData" top: "data" top: "label" transform_param {{ {" ".join(tp)} }} '
                 f'image_data_param {{ source: "list.txt" root_folder: "{src}/" batch_size: {batch} new_height: {h} new_width: {w} is_color: {color} }} }}\n')
    else:
        flags = [f'--resize_height={h}', f'--resize_width={w}', '--backend=lmdb']
        if gray: flags.append('--gray')
        encoded = rnd.random() < 0.5
        if encoded:
            flags.append('--encoded')
            flags.append(f'--encode_type={rnd.choice(["png", "jpg"])}')
            force = rnd.choice(['', 'force_color: true', 'force_gray: true'])
            if force: tp.append(force)
            if force == 'force_gray: true' and mean == 'three':
                tp = [t for t in tp if not t.startswith('mean_value')] + ['mean_value: 90']
            if force and mean == 'file':  # the mean's channels follow the stored images, not the forced ones
                tp = [t for t in tp if not t.startswith('mean_file')]
        subprocess.run(['convert_imageset', *flags, src + '/', os.path.join(d, 'list.txt'), os.path.join(d, 'data.lmdb')], check=True, capture_output=True)
        if mean == 'file':
            subprocess.run(['compute_image_mean', '--backend=lmdb', os.path.join(d, 'data.lmdb'), os.path.join(d, 'mean.binaryproto')], check=True, capture_output=True)
        os.remove(os.path.join(d, 'list.txt'))
        layer = (f'layer {{ name: "data" type: "Data" top: "data" top: "label" transform_param {{ {" ".join(tp)} }} '
                 f'data_param {{ source: "data.lmdb" backend: LMDB batch_size: {batch} }} }}\n')
    open(os.path.join(d, 'net.prototxt'), 'w').write('name: "data"\n' + layer)
    # Caffe aborts the process on a check it fails: run each case in a child.
    pid = os.fork()
    if pid == 0:
        os.chdir(d)
        n = caffe.Net('net.prototxt', caffe.TEST)
        n.forward()
        write_forward_case(n, name, 'TEST', None)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    print('ok' if status == 0 else 'Caffe refused', name)
