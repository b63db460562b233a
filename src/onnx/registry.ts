// Caffe layer type -> converter, keyed by string like the layer registry. A converter writes
// the nodes that compute the layer's tops from its bottoms, with Caffe's semantics.
import { newMessage, type Message } from '../proto/schema.js';
import type { Layer } from '../layers/layer.js';
import type { Blob } from '../graph/blob.js';
import type { Net } from '../graph/net.js';
import type { LayerError } from '../util/errors.js';
import type { OnnxGraph, AttrValue } from './graph.js';

export interface ConvertContext {
  readonly g: OnnxGraph;
  readonly layer: Layer;
  /** The layer's name: nodes are named after it. */
  readonly name: string;
  /** ONNX values holding the bottoms, and their (Caffe) shapes. */
  readonly bottoms: readonly string[];
  readonly bottomShapes: readonly (readonly number[])[];
  /** The bottom Blobs themselves (for Caffe helpers that take one). */
  readonly bottomBlobs: readonly Blob[];
  /** Names the converter must produce, one per top, and the tops' Caffe shapes. */
  readonly tops: readonly string[];
  readonly topShapes: readonly (readonly number[])[];
  readonly opset: number;
  /** The initializer holding the layer's parameter blob `i` (one per shared blob). */
  param(i: number, dims?: readonly number[]): string;
  /** A node computing top `t` (or an intermediate when `t` is a string name). */
  op(opType: string, inputs: string[], out: number | 'tmp', attrs?: Record<string, AttrValue>): string;
  /** int64 constant (shapes, axes, ...). */
  ints(values: readonly number[]): string;
  scalar(v: number): string;
  /** Reduce-family node: axes move from attribute to input in opset 18 (13 for ReduceSum). */
  reduce(opType: string, x: string, axes: readonly number[], keepdims: boolean, out: number | 'tmp'): string;
  error(detail: string): LayerError;
  /**
   * Emits layers [0, end) of a net the layer runs inside it (LSTM's and RNN's unrolled net),
   * its input blobs bound to the given values; returns every blob's final value.
   */
  subnet(inner: Net, inputs: Map<string, string>, end: number): Map<string, string>;
}

export type Converter = (c: ConvertContext) => void;

const converters = new Map<string, Converter>();

export function registerConverter(type: string, fn: Converter): void {
  converters.set(type, fn);
}

export function converterFor(type: string): Converter | undefined {
  return converters.get(type);
}

export function convertibleTypes(): string[] {
  return [...converters.keys()].sort();
}

/** The layer's `field` parameter message, or one holding the defaults. */
export function paramOf(c: ConvertContext, field: string, type: string): Message {
  return c.layer.param[field] ?? newMessage(type);
}

/** A Caffe axis (negative counts from the end) as a non-negative index. */
export function canonAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

export const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
