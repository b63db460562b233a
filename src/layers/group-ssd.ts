// Layer files of the 'ssd' group (the SSD fork of Caffe, weiliu89/caffe branch ssd) register
// themselves on import.
import './permute.js';
import './normalize.js';
import './prior-box.js';
import './detection-output.js';
import './smooth-l1-loss.js';
import './multibox-loss.js';
export {};
