# Expected ImageData outputs (BVLC Caffe on OpenCV 4.5) for resize variants of a few repo images.
import os, sys, numpy as np
os.environ['GLOG_minloglevel'] = '3'
import caffe
caffe.set_mode_cpu()
src, out = sys.argv[1], sys.argv[2]
imgs = ['rgb8.png', 'gray.jpg', 'ycc420.jpg', 'tiny6x4.jpg', 'pal4.png', 'rgba16.png']
sizes = [(37, 53, 'true'), (7, 5, 'true'), (20, 31, 'false'), (7, 1, 'true'), (3, 2, 'false')]
os.chdir(out)
for img in imgs:
    for h, w, color in sizes:
        open('list.txt', 'w').write(f'{img} 0\n')
        open('net.prototxt', 'w').write(f'layer {{ name: "d" type: "ImageData" top: "data" top: "label" image_data_param {{ source: "list.txt" root_folder: "{src}/" batch_size: 1 new_height: {h} new_width: {w} is_color: {color} }} }}\n')
        n = caffe.Net('net.prototxt', caffe.TEST); n.forward()
        np.save(f'{img}.{h}x{w}.{"color" if color == "true" else "gray"}.npy', n.blobs['data'].data[0].astype(np.float32))
os.remove('list.txt'); os.remove('net.prototxt')
print('ok')
