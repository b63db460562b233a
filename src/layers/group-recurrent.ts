// Layer files of the 'recurrent' group register themselves on import.
// RecurrentLayer (recurrent.ts) builds an inner Net, so these modules and src/graph/net.ts import
// each other: load them through src/graph/net.ts or src/layers/index.ts, not directly.
import './lstm-unit.js';
import './recurrent.js';
import './lstm.js';
import './rnn.js';
export {};
