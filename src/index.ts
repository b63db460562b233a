// caffe-ts public API.
export { Net, parsePhase, type NetOptions, type PhaseName, type TensorInput } from './graph/net.js';
export { Blob } from './graph/blob.js';
export { Layer, LossLayer, TRAIN, TEST, type Phase } from './layers/layer.js';
export { createLayer, registerLayer, layerTypes, pythonLayerKey } from './layers/registry.js';
export { NeuronLayer } from './layers/neuron.js';
export { paramOf } from './layers/layer.js';
export { checkGradient, randomBlob, rng, type GradientCheckOptions } from './testing/gradient-checker.js';
export { parseText, printText } from './format/text.js';
export { decodeMessage, encodeMessage } from './format/binary.js';
export { upgradeNetAsNeeded, upgradeSolverAsNeeded } from './format/upgrade.js';
export { readNetParameter, readNetParameterBytes, readNetWeights, readSolverParameter, readBlobProto, upgradeFile } from './format/io.js';
export { readNpy, readNpyAsFloat32, writeNpy } from './format/npy.js';
export { messagesEqual, messagesDiff } from './format/equal.js';
export { messageType, newMessage, fromObject, has, cloneMessage, type Message } from './proto/schema.js';
export { exportOnnx, writeOnnx, encodeOnnx, convertibleTypes, type ExportOptions, type OnnxExport, type WriteOptions } from './onnx/index.js';
export { CaffeError, ParseError, DecodeError, NetError, LayerError, NpyError, SolverError } from './util/errors.js';
export * from './solvers/index.js';
export { MemoryDataLayer } from './layers/memory-data.js';
export { setThreads, getThreads, threadInfo, kernelInfo } from './kernels/threads.js';
export { initParams } from './graph/init-params.js';
export type { MemoryPlan } from './graph/memory-plan.js';
export {
  Transformer,
  loadImage,
  loadImageBytes,
  bgrToFloatImage,
  pixelsToFloatImage,
  resizeImage,
  oversample,
  centerCrop,
  crop,
  readMean,
  readMeanBytes,
  type FloatImage,
  type Tensor,
  type MeanArray,
} from './io/transformer.js';
export { Classifier, readLabels, topK, type ClassifierOptions, type Pipeline, type Prediction } from './io/classifier.js';
export { decodeImage, readImage, type Image } from './format/image.js';
export { drawNet, netGraph, renderSvg, type DrawOptions, type NetGraph, type RankDir } from './draw/index.js';
