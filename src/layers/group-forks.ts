// Layer files of the 'forks' group (layers from Caffe's forks, see proto/forks/) register
// themselves on import.
import './bn.js';
import './depthwise-convolution.js';
import './interp.js';
import './relu6.js';
import './roi-pooling.js';
import './shuffle-channel.js';
import './upsample.js';
export {};
