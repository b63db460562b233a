// ONNX export: exportOnnx builds the graph, the writer encodes and writes it.
export { exportOnnx, MIN_OPSET, MAX_OPSET, CUSTOM_DOMAIN, type ExportOptions, type OnnxExport } from './export.js';
export { encodeOnnx, writeOnnx, modelMessage, type WriteOptions, type WriteResult } from './writer.js';
export { convertibleTypes } from './registry.js';
export { checkGraph } from './check.js';
