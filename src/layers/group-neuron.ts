// Layer files of the 'neuron' group register themselves on import.
import './abs-val.js';
import './bnll.js';
import './clip.js';
import './dropout.js';
import './elu.js';
import './exp.js';
import './log.js';
import './power.js';
import './prelu.js';
import './relu.js';
import './sigmoid.js';
import './swish.js';
import './tanh.js';
import './threshold.js';
export {};
