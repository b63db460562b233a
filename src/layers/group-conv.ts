// Layer files of the 'conv' group register themselves on import.
import './convolution.js';
import './deconvolution.js';
import './im2col.js';
import './inner-product.js';
import './embed.js';
export {};
