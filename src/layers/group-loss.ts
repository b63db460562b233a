// Layer files of the 'loss' group register themselves on import.
export {};
