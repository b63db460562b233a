// Layer files of the 'norm' group register themselves on import.
export {};
