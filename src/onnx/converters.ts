// Every converter module; importing this fills the converter registry.
import './convert-vision.js';
import './convert-neuron.js';
import './convert-structure.js';
import './convert-norm.js';
import './convert-data.js';
import './convert-loss.js';
import './convert-recurrent.js';
