// Layer files of the 'data' group register themselves on import.
import './data.js';
import './image-data.js';
import './hdf5-data.js';
import './hdf5-output.js';
import './memory-data.js';
import './window-data.js';
export {};
