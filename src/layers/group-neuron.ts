// Layer files of the 'neuron' group register themselves on import.
export {};
