// Layer files of the 'conv' group register themselves on import.
export {};
