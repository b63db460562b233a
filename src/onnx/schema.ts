// ONNX's schema (proto/onnx.proto), loaded in a protobufjs Root of its own so that its messages
// never mix with caffe.proto's (both define names like TensorProto-ish types, and Caffe's
// reflection helpers assume one package).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** proto/onnx.proto of the package, from src/onnx/ (vitest) or dist/src/onnx/ (built). */
function onnxProtoPath(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)), i = 0; i < 6; i++, dir = dirname(dir)) {
    const p = join(dir, 'proto', 'onnx.proto');
    if (existsSync(p)) return p;
  }
  throw new Error('caffe-ts: cannot find proto/onnx.proto next to the package');
}

export const onnxRoot: protobuf.Root = protobuf.parse(readFileSync(onnxProtoPath(), 'utf8'), new protobuf.Root(), { keepCase: true }).root;
onnxRoot.resolveAll();

export function onnxType(name: string): protobuf.Type {
  return onnxRoot.lookupType(`onnx.${name}`);
}

/** TensorProto.DataType values we use. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;
/** AttributeProto.AttributeType values we use. */
export const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/** The IR version that goes with an opset of the default domain (ONNX's Versioning.md table). */
export function irVersionFor(opset: number): number {
  if (opset <= 13) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}
