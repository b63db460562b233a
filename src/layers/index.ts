// Importing this module registers every layer type.
import './group-conv.js';
import './group-neuron.js';
import './group-norm.js';
import './group-structure.js';
import './group-loss.js';
import './group-recurrent.js';
import './group-data.js';
import './group-ssd.js';
import './group-forks.js';

export { createLayer, layerTypes, registerLayer } from './registry.js';
export { Layer, LossLayer, TRAIN, TEST, type Phase } from './layer.js';
