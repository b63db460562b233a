// Layer files of the 'norm' group register themselves on import.
import './batch-norm.js';
import './bias.js';
import './lrn.js';
import './mvn.js';
import './scale.js';
export {};
