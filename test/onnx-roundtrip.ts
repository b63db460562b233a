// Runs a reference case's net through ONNX: build the Caffe net as the case says, export it, run
// the model in onnxruntime on the case's inputs and compare every expected forward blob with the
// case's tolerance (fixtures/FORMAT.md), output shapes included.
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Net } from '../src/graph/net.js';
import { readNpyAsFloat32 } from '../src/format/npy.js';
import { compareTensor, toleranceFor } from '../src/check/compare.js';
import { inDir, readCaseJson } from '../src/check/net-case.js';
import { exportOnnx, encodeOnnx, type ExportOptions, type OnnxExport } from '../src/onnx/index.js';

const DEFAULT_TOLERANCE = { abs: 1e-5, rel: 1e-4 };

export function buildCaseNet(caseDir: string): Net {
  const dir = resolve(caseDir);
  const spec = readCaseJson(dir);
  return inDir(dir, () => Net.fromFiles(spec.net, spec.weights ?? null, { phase: spec.phase, stages: spec.stages, level: spec.level ?? 0, source: join(dir, spec.net) }));
}

export async function session(model: Uint8Array | string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model as any, { intraOpNumThreads: 1, interOpNumThreads: 1 });
}

/** Exports the case's net, runs it in onnxruntime, returns what differs from Caffe's numbers. */
export async function onnxRoundTrip(caseDir: string, options: ExportOptions = {}): Promise<{ failures: string[]; exported: OnnxExport }> {
  const dir = resolve(caseDir);
  const spec = readCaseJson(dir);
  const net = buildCaseNet(dir);
  const inputs = new Map(Object.entries(spec.inputs ?? {}).map(([b, f]) => [b, readNpyAsFloat32(join(dir, f))]));
  // Every expected blob that the graph computes becomes an output.
  const wanted = Object.keys(spec.forward ?? {}).filter((b) => !inputs.has(b));
  const exported = exportOnnx(net, { ...options, outputs: wanted });
  const s = await session(encodeOnnx(exported));
  const feeds: Record<string, ort.Tensor> = {};
  for (const v of exported.graph.inputs) {
    const t = inputs.get(v.name);
    if (!t) throw new Error(`case ${caseDir} gives no input for '${v.name}'`);
    feeds[v.name] = new ort.Tensor('float32', Float32Array.from(t.data), v.dims);
  }
  const results = await s.run(feeds);
  await s.release();
  const failures: string[] = [];
  for (const blob of wanted) {
    const file = spec.forward![blob];
    const expected = readNpyAsFloat32(join(dir, file));
    const got = results[blob];
    // Shapes against Caffe's blob (pycaffe writes a 0-axis loss blob as shape (1,)); values against its numbers.
    const dims = Array.from(got.dims, Number);
    const caffeShape = net.blob(blob).shape;
    if (dims.join('x') !== caffeShape.join('x')) {
      failures.push(`'${blob}': onnxruntime's shape (${dims.join(',')}), Caffe's (${caffeShape.join(',')})`);
      continue;
    }
    const msg = compareTensor({ shape: dims, data: got.data as Float32Array }, expected, toleranceFor(spec, file, DEFAULT_TOLERANCE));
    if (msg) failures.push(`'${blob}': ${msg}`);
  }
  return { failures, exported };
}
