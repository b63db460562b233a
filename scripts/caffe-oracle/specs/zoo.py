# Full-size model-zoo deploy nets from ../shared/zoo, TEST forward with random weights.
import json, os
Z = os.path.join(os.environ.get('SHARED', os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'shared')), 'zoo') + '/'
nets = ['bvlc_googlenet/deploy.prototxt', 'bvlc_alexnet/deploy.prototxt', 'squeezenet_v1.1/deploy.prototxt', 'squeezenet_v1.0/deploy.prototxt', 'nin_imagenet_v1/deploy.prototxt',
        'age_gender_net_v1/deploy_age.prototxt', 'cifar10_full/cifar10_full.prototxt', 'mobilenet_v1_v2/mobilenet_deploy.prototxt', 'mobilenet_v1_v2/mobilenet_v2_deploy.prototxt', 'fcn_voc8s/deploy.prototxt', 'hed/deploy.prototxt', 'vgg_face_v1/deploy.prototxt', 'bvlc_reference_rcnn_ilsvrc13/deploy.prototxt',
        'resnet/ResNet-50-deploy.prototxt', 'inception_bn_21k/deploy.prototxt', 'vgg_cnn_s_v1/deploy.prototxt', 'bvlc_net_surgery/bvlc_caffenet_full_conv.prototxt']
for n in nets:
    p = Z + n
    if not os.path.exists(p): print('#missing', n, file=__import__('sys').stderr); continue
    print(json.dumps({'name': 'zoo/' + n.replace('/', '__').replace('.prototxt', ''), 'net': open(p).read(), 'phases': ['TEST'], 'backward': False,
                      'auto_inputs': True, 'outputs_only': False, 'perturb': True, 'inputs': {}, 'tolerance': {'abs': 1e-4, 'rel': 1e-3}}))
