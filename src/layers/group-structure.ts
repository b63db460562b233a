// Layer files of the 'structure' group register themselves on import.
export {};
