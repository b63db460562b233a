// Layer files of the 'ssd' group (the SSD fork of Caffe, weiliu89/caffe branch ssd) register
// themselves on import.
import './permute.js';
import './normalize.js';
import './prior-box.js';
import './detection-output.js';
import './smooth-l1-loss.js';
import './multibox-loss.js';
import { markUnsupported } from './registry.js';

// Parsed (their parameters are in proto/forks/ssd.proto) but not run yet.
markUnsupported('AnnotatedData', "reading the SSD fork's AnnotatedDatum LMDB records with its sampling and distortion is not implemented; feed images and ground-truth rows through Input or MemoryData");
markUnsupported('DetectionEvaluate', 'the SSD fork\'s mAP evaluation layer is not implemented');
markUnsupported('VideoData', 'the SSD fork\'s webcam/video input layer is not implemented');

export {};
