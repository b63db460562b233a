// The demo's inference worker: builds nets from the files the page hands over, classifies images
// and runs raw forwards, so the page's own thread never blocks on a forward. Errors go back as the
// text the CLI would print after "caffe-ts <command>: ".
import { Classifier, Net, drawNet, kernelInfo, readMeanBytes, readNetParameterBytes, setThreads, threadInfo, topK } from '../index.js';
import type { FileData, Info, LoadedNet, Preprocess, Reply, Request } from './protocol.js';

interface Scope {
  postMessage(m: Reply, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<Request>) => void) | null;
  crossOriginIsolated?: boolean;
}
const scope = self as unknown as Scope;

let net: Net | null = null;
let classifier: Classifier | null = null;
let labels: string[] | undefined;
let notClassifier = '';

const bytes = (f: FileData) => new Uint8Array(f.data);

function load(req: Extract<Request, { op: 'load' }>): LoadedNet {
  if (req.threads !== undefined) setThreads(req.threads);
  const t0 = performance.now();
  const built = Net.fromBuffers(bytes(req.model), req.weights ? bytes(req.weights) : null, { phase: 'TEST', keepBlobs: req.keepBlobs === true }, { model: req.model.name, weights: req.weights?.name });
  built.freezeWeights();
  const loadMs = performance.now() - t0;
  const p: Preprocess = req.preprocess ?? {};
  let c: Classifier | null = null;
  notClassifier = '';
  try {
    c = new Classifier(built, {
      pipeline: p.pipeline,
      rawScale: p.rawScale,
      inputScale: p.inputScale,
      channelSwap: p.channelSwap,
      meanValues: p.meanValues,
      mean: req.mean ? readMeanBytes(bytes(req.mean), req.mean.name) : undefined,
      oversample: p.pipeline === 'cpp' ? undefined : (p.oversample ?? false),
    });
  } catch (e) {
    // Not an image classifier (no 1- or 3-channel 4-D input, say): raw forwards still work, and
    // classify says why it cannot.
    if (req.mean) throw e;
    notClassifier = (e as Error).message;
  }
  let names: string[] | undefined;
  if (req.labels) {
    names = new TextDecoder().decode(bytes(req.labels)).split(/\r?\n/).filter((l) => l.trim() !== '');
  }
  net = built;
  classifier = c;
  labels = names;
  return {
    name: built.name,
    inputs: built.inputs.map((name) => ({ name, shape: built.blob(name).shape.slice() })),
    outputs: built.outputs.slice(),
    layers: built.layers.length,
    // Drawn from the file as written (draw_net.py's picture), not the net after split insertion.
    svg: drawNet(readNetParameterBytes(bytes(req.model), req.model.name), { rankdir: 'TB', phase: 'TEST' }),
    loadMs,
  };
}

function classify(req: Extract<Request, { op: 'classify' }>): Reply {
  if (!net) throw new Error('load a net first');
  if (!classifier) throw new Error(`net '${net.name}' cannot classify images: ${notClassifier}`);
  const t0 = performance.now();
  const probs = classifier.classifyBytes(bytes(req.image), req.image.name);
  const forwardMs = performance.now() - t0;
  const names = labels && labels.length === probs.length ? labels : undefined;
  return { id: req.id, ok: true, top: topK(probs, req.top ?? 5, names), forwardMs };
}

function forward(req: Extract<Request, { op: 'forward' }>): Reply {
  if (!net) throw new Error('load a net first');
  const t0 = performance.now();
  net.forward(req.inputs);
  const forwardMs = performance.now() - t0;
  const outputs: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const name of req.outputs ?? net.outputs) {
    const b = net.blob(name);
    outputs[name] = { shape: b.shape.slice(), data: Float32Array.from(b.data) };
  }
  return { id: req.id, ok: true, outputs, forwardMs };
}

function info(id: number): Reply {
  const t = threadInfo();
  const i: Info = {
    threads: t.threads,
    workers: t.workers,
    workerPanels: t.workerPanels,
    reason: t.reason,
    kernels: kernelInfo(),
    crossOriginIsolated: scope.crossOriginIsolated === true,
    sharedMemory: typeof SharedArrayBuffer === 'function',
  };
  return { id, ok: true, info: i };
}

scope.onmessage = (e) => {
  const req = e.data;
  let reply: Reply;
  try {
    if (req.op === 'load') reply = { id: req.id, ok: true, net: load(req) };
    else if (req.op === 'classify') reply = classify(req);
    else if (req.op === 'forward') reply = forward(req);
    else reply = info(req.id);
  } catch (err) {
    const x = err instanceof Error ? err : new Error(String(err));
    reply = { id: req.id, ok: false, error: x.message, kind: x.name };
  }
  scope.postMessage(reply);
};
