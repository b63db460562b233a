// ONNX export checked by onnxruntime: every TEST-phase net case of fixtures/ (zoo, trained, the
// single-layer cases of every mapped type, and the oracle's whole nets) exported, run, and its
// blobs compared with BVLC Caffe's numbers within the case's tolerance; output shapes against
// Caffe's blob shapes. Cases whose data comes from files (Data, HDF5Data layers: nothing to
// feed) are data-pipeline cases and are not selected. Layers ONNX cannot express must fail with
// an error naming them.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as ort from 'onnxruntime-node';
import { FIXTURES } from './helpers.js';
import { findCases } from '../src/check/runner.js';
import { readCaseJson } from '../src/check/net-case.js';
import { readNpyAsFloat32 } from '../src/format/npy.js';
import { Net } from '../src/graph/net.js';
import { parseText } from '../src/format/text.js';
import { LayerError, NetError } from '../src/util/errors.js';
import { exportOnnx, encodeOnnx, writeOnnx, checkGraph, convertibleTypes, CUSTOM_DOMAIN, MAX_OPSET } from '../src/onnx/index.js';
import { onnxType } from '../src/onnx/schema.js';
import { OnnxGraph } from '../src/onnx/graph.js';
import { commands } from '../src/cli/commands.js';
import { buildCaseNet, onnxRoundTrip, session } from './onnx-roundtrip.js';

const TMP = mkdtempSync(join(tmpdir(), 'caffe-ts-onnx-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

/** Layer types with no ONNX form here (Filter: its output size depends on the data). */
const NOT_EXPRESSED = new Set(['Filter']);
const FILE_SOURCES = new Set(['Data', 'ImageData', 'HDF5Data', 'WindowData']);

function blocker(net: Net): { name: string; type: string } | null {
  for (let i = 0; i < net.layers.length; i++) {
    const l = net.layers[i];
    if (NOT_EXPRESSED.has(l.type)) return { name: net.layerNames[i], type: l.type };
  }
  return null;
}

// CI points this at ../shared/fixtures too, whose zoo holds the full-size model list.
const ROOT = process.env.CAFFE_TS_ONNX_FIXTURES ?? FIXTURES;

function testCases(group: string): string[] {
  return findCases(join(ROOT, group)).filter((c) => {
    const spec = readCaseJson(c);
    return (spec.kind ?? 'net') === 'net' && spec.phase === 'TEST' && spec.inputs !== undefined && Object.keys(spec.inputs).length > 0;
  });
}

for (const group of ['zoo', 'trained', 'layers', 'graph', 'oracle'].filter((g) => existsSync(join(ROOT, g)))) {
  describe(`${group}: exported to ONNX and run by onnxruntime`, () => {
    const cases = testCases(group);
    it('the fixture copy holds TEST cases', () => expect(cases.length).toBeGreaterThan(0));
    for (const c of cases) {
      it(relative(ROOT, c), async () => {
        const net = buildCaseNet(c);
        expect(net.layers.some((l) => FILE_SOURCES.has(l.type))).toBe(false);
        const stop = blocker(net);
        if (stop) {
          expect(() => exportOnnx(net)).toThrow(LayerError);
          expect(() => exportOnnx(net)).toThrow(`layer '${stop.name}' (${stop.type}): cannot be exported to ONNX`);
          return;
        }
        if (net.outputs.length === 0 && Object.keys(readCaseJson(c).forward ?? {}).every((b) => net.inputs.includes(b))) {
          // Nothing computed (a Silence net): the graph has no nodes to run.
          expect(exportOnnx(net).graph.nodes).toEqual([]);
          return;
        }
        const r = await onnxRoundTrip(c);
        expect(r.failures.join('\n')).toBe('');
      });
    }
  });
}

describe('opsets', () => {
  // Reductions take their axes as an input from opset 18: the cases with them, at the newest opset.
  const reducing = ['layers/reduction', 'layers/mvn', 'layers/softmax_loss', 'layers/euclidean_loss', 'layers/accuracy/top1', 'zoo/inception_bn'];
  for (const dir of reducing) {
    for (const c of findCases(join(FIXTURES, dir)).filter((x) => readCaseJson(x).phase === 'TEST')) {
      it(`${relative(FIXTURES, c)} at opset ${MAX_OPSET}`, async () => {
        const r = await onnxRoundTrip(c, { opset: MAX_OPSET });
        expect(r.exported.opset).toBe(MAX_OPSET);
        expect(r.failures.join('\n')).toBe('');
      });
    }
  }
  it('an opset outside 13..21 is an error saying which are supported', () => {
    const net = buildCaseNet(join(FIXTURES, 'layers/relu/default/test'));
    expect(() => exportOnnx(net, { opset: 12 })).toThrow(NetError);
    expect(() => exportOnnx(net, { opset: 12 })).toThrow(/opset 12 is not supported: give 13 to 21/);
  });
});

describe('the ONNX file', () => {
  const lenet = () => Net.fromFiles(join(FIXTURES, 'demo/lenet.prototxt'), join(FIXTURES, 'demo/lenet_iter_10000.caffemodel'), { phase: 'TEST' });

  it('decodes with ONNX field numbers: IR version, opset, graph inputs and outputs named by blob', () => {
    const m: any = onnxType('ModelProto').decode(encodeOnnx(exportOnnx(lenet())));
    expect(Number(m.ir_version)).toBe(7);
    expect(m.opset_import.map((o: any) => [o.domain, Number(o.version)])).toEqual([['', 13]]);
    expect(m.producer_name).toBe('caffe-ts');
    expect(m.graph.input.map((v: any) => v.name)).toEqual(['data']);
    expect(m.graph.output.map((v: any) => v.name)).toEqual(['prob']);
    expect(m.graph.input[0].type.tensor_type.shape.dim.map((d: any) => Number(d.dim_value))).toEqual([64, 1, 28, 28]);
    const conv = m.graph.node.find((n: any) => n.op_type === 'Conv');
    expect(conv.attribute.find((a: any) => a.name === 'kernel_shape').ints.map(Number)).toEqual([5, 5]);
    expect(m.graph.initializer.find((t: any) => t.name === 'conv1/param_0').raw_data.byteLength).toBe(20 * 25 * 4);
  });

  it('keeps large tensors in external data, which onnxruntime loads next to the model', async () => {
    const c = join(FIXTURES, 'zoo/squeezenet_v1.1/test');
    const net = buildCaseNet(c);
    const out = join(TMP, 'squeeze.onnx');
    const r = writeOnnx(exportOnnx(net), out, { externalData: true });
    expect(r.dataPath).toBe(`${out}.data`);
    expect(statSync(r.dataPath!).size).toBeGreaterThan(statSync(out).size);
    const m: any = onnxType('ModelProto').decode(new Uint8Array(readFileSync(out)));
    const ext = m.graph.initializer.find((t: any) => t.data_location === 1);
    expect(ext.external_data.map((e: any) => e.key)).toEqual(['location', 'offset', 'length']);
    const spec = readCaseJson(c);
    const s = await session(out);
    const x = readNpyAsFloat32(join(c, spec.inputs!.data));
    const res = await s.run({ data: new ort.Tensor('float32', Float32Array.from(x.data), x.shape) });
    await s.release();
    net.forward({ data: x });
    const got = res.prob.data as Float32Array;
    const want = net.blob('prob').data;
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    expect(worst).toBeLessThan(1e-5);
    // No temporary files are left behind.
    expect(readdirSync(TMP).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a layer ONNX cannot express: a LayerError naming it, or with allowCustom a custom-domain node', () => {
    const net = buildCaseNet(join(FIXTURES, 'layers/filter/default/test'));
    expect(() => exportOnnx(net)).toThrow(/layer 'layer' \(Filter\): cannot be exported to ONNX: has no ONNX equivalent \(pass allowCustom/);
    const e = exportOnnx(net, { allowCustom: true });
    expect(e.custom).toBe(true);
    const node = e.graph.nodes.find((n) => n.opType === 'Filter')!;
    expect(node.domain).toBe(CUSTOM_DOMAIN);
    expect(node.inputs.length).toBe(net.bottomVecs[net.layerNames.indexOf('layer')].length);
    const m: any = onnxType('ModelProto').decode(encodeOnnx(e));
    expect(m.opset_import.map((o: any) => o.domain)).toEqual(['', CUSTOM_DOMAIN]);
    const text = Buffer.from(m.graph.node.find((n: any) => n.op_type === 'Filter').attribute[0].s).toString();
    expect(parseText(text, 'LayerParameter').type).toBe('Filter');
  });

  it('the structural checker rejects a value read before it is written, twice-written names, unknown ops', () => {
    const g = new OnnxGraph('bad');
    g.inputs.push({ name: 'x', dims: [1] });
    g.node('Relu', ['y'], ['z']);
    expect(() => checkGraph(g, 13)).toThrow(/node 'Relu' \(Relu\) reads 'y' before anything writes it/);
    const g2 = new OnnxGraph('dup');
    g2.inputs.push({ name: 'x', dims: [1] });
    g2.node('Relu', ['x'], ['x']);
    expect(() => checkGraph(g2, 13)).toThrow(/value 'x' is written twice/);
    const g3 = new OnnxGraph('op');
    g3.inputs.push({ name: 'x', dims: [1] });
    g3.node('Frobnicate', ['x'], ['y']);
    expect(() => checkGraph(g3, 13)).toThrow(/operator Frobnicate is not one the exporter knows/);
  });

  it('maps the BVLC layer types it documents', () => {
    expect(convertibleTypes()).toEqual(expect.arrayContaining(['Convolution', 'Deconvolution', 'Pooling', 'LRN', 'BatchNorm', 'Scale', 'Bias', 'InnerProduct', 'Eltwise', 'Softmax', 'Flatten', 'Reshape', 'Slice', 'Concat', 'Dropout', 'PReLU', 'ELU', 'Power', 'Im2col', 'SPP']));
  });
});

describe('caffe-ts export-onnx', () => {
  it('writes a model onnxruntime loads, with the net\'s inputs and outputs', async () => {
    const out = join(TMP, 'lenet.onnx');
    const lines: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((s: string) => (lines.push(s), true)) as never;
    let code: number;
    try {
      code = await commands['export-onnx'].run([join(FIXTURES, 'demo/lenet.prototxt'), join(FIXTURES, 'demo/lenet_iter_10000.caffemodel'), out, '--opset', '17']);
    } finally {
      process.stdout.write = write;
    }
    expect(code).toBe(0);
    expect(lines.join('')).toMatch(/opset 17, 9 nodes/);
    const s = await session(out);
    expect(s.inputNames).toEqual(['data']);
    expect(s.outputNames).toEqual(['prob']);
    await s.release();
  });
  it('leaves no file behind when the net cannot be exported', async () => {
    const out = join(TMP, 'filter.onnx');
    const c = join(FIXTURES, 'layers/filter/default/test');
    await expect(async () => commands['export-onnx'].run([join(c, 'net.prototxt'), out])).rejects.toThrow(LayerError);
    expect(existsSync(out)).toBe(false);
  });
});
