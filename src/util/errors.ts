// Typed errors. Every error caffe-ts raises for bad input says where (file and line/column for
// text, byte offset for binary, layer and blob for nets) and what was expected.

export class CaffeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A .prototxt (text format) that cannot be read. */
export class ParseError extends CaffeError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}:${column}: ${detail}`);
  }
}

/** A binary protobuf file (.caffemodel, .binaryproto, .solverstate) that cannot be read. */
export class DecodeError extends CaffeError {
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`${file}: at byte ${offset}: ${detail}`);
  }
}

/** A net that cannot be built or run as described (names the layer, its type, blobs, shapes). */
export class NetError extends CaffeError {}

/** A layer parameter or input shape that a layer rejects. */
export class LayerError extends CaffeError {
  constructor(
    readonly layer: string,
    readonly layerType: string,
    readonly detail: string,
  ) {
    super(`layer '${layer}' (${layerType}): ${detail}`);
  }
}

/** A .npy file that cannot be read. */
export class NpyError extends CaffeError {}

/** A solver that cannot be set up or run. */
export class SolverError extends CaffeError {}
