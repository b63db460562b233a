// Layer files of the 'recurrent' group register themselves on import.
import './lstm-unit.js';
import './recurrent.js';
import './lstm.js';
import './rnn.js';
export {};
