// Layer files of the 'loss' group register themselves on import.
import './softmax.js';
import './softmax-with-loss.js';
import './accuracy.js';
import './contrastive-loss.js';
import './euclidean-loss.js';
import './hinge-loss.js';
import './infogain-loss.js';
import './multinomial-logistic-loss.js';
import './sigmoid-cross-entropy-loss.js';
export {};
