# Kernels that overhang the padded input by less than the stride: Caffe's truncating division
# still gives one output per such axis, whose window reads zeros past the edge.
from common import *  # noqa: F401,F403

for name, t, p, x in (
    ('conv_2d', 'Convolution', 'num_output: 3 kernel_size: 5 stride: 2', (2, 2, 4, 6)),
    ('conv_rect_pad', 'Convolution', 'num_output: 2 kernel_h: 4 kernel_w: 3 stride_h: 3 stride_w: 2 pad_h: 0 pad_w: 1', (1, 3, 2, 5)),
    ('conv_dilated', 'Convolution', 'num_output: 2 kernel_size: 3 dilation: 3 stride: 4', (2, 2, 5, 5)),
    ('conv_simd_path', 'Convolution', 'num_output: 4 kernel_size: 7 stride: 2', (1, 64, 6, 6)),
    ('conv_force_nd', 'Convolution', 'num_output: 2 kernel_size: 5 stride: 2 force_nd_im2col: true', (2, 2, 4, 6)),
    ('conv_3d', 'Convolution', 'num_output: 2 kernel_size: 3 stride: 2', (1, 2, 2, 4, 3)),
    ('im2col_2d', 'Im2col', 'kernel_size: 3 stride: 2 dilation: 2', (2, 1, 4, 5)),
    ('im2col_simd_path', 'Im2col', 'kernel_size: 5 stride: 3', (1, 32, 4, 7)),
):
    param = 'convolution_param'
    case(f'overhang/{name}', one(t, f'{param} {{ {p} }}'), {'x': N(*x)})
emit()
