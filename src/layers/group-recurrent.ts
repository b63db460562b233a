// Layer files of the 'recurrent' group register themselves on import.
export {};
