// Layer files of the 'data' group register themselves on import.
export {};
