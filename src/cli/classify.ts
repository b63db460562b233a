// `caffe-ts classify`: BVLC's python/classify.py and examples/cpp_classification in one command,
// one line (or JSON record) per image with its top-k classes. An image that cannot be read or
// classified is reported and skipped; the exit code is then 1.
import { parseArgs } from 'node:util';
import { Net } from '../graph/net.js';
import { Classifier, readLabels, topK, type ClassifierOptions, type Prediction } from '../io/classifier.js';
import { CaffeError } from '../util/errors.js';
import type { Command } from './commands.js';
import { parseIntFlag, type OutStream } from './flags.js';

/** The image preprocessing flags, shared by `classify` and `forward --input blob=IMAGE`. */
export const IMAGE_FLAGS = {
  pipeline: { type: 'string' },
  mean: { type: 'string' },
  'mean-value': { type: 'string' },
  'raw-scale': { type: 'string' },
  'input-scale': { type: 'string' },
  'channel-swap': { type: 'string' },
  'images-dim': { type: 'string' },
  'center-only': { type: 'boolean' },
  oversample: { type: 'boolean' },
} as const;

export const IMAGE_USAGE =
  '[--pipeline py|cpp] [--mean FILE | --mean-value B,G,R] [--raw-scale 255] [--input-scale S] [--channel-swap 2,1,0] [--images-dim H,W] [--center-only | --oversample]';

function numbers(flag: string, v: string | undefined, count?: number): number[] | undefined {
  if (v === undefined) return undefined;
  const parts = v.split(',').map((s) => s.trim());
  const out = parts.map(Number);
  if (parts.some((s) => s === '') || out.some((n) => !Number.isFinite(n))) throw new CaffeError(`--${flag} expects comma-separated numbers, got '${v}'`);
  if (count !== undefined && out.length !== count) throw new CaffeError(`--${flag} expects ${count} numbers, got '${v}'`);
  return out;
}

function scalar(flag: string, v: string | undefined): number | undefined {
  const n = numbers(flag, v, 1);
  return n ? n[0] : undefined;
}

/** ClassifierOptions from IMAGE_FLAGS values; `defaultOversample` is classify.py's (true) or forward's (false). */
export function imageOptions(values: Record<string, unknown>, defaultOversample: boolean): ClassifierOptions {
  const v = values as Record<string, string | undefined>;
  const pipeline = (v.pipeline ?? 'py') as string;
  if (pipeline !== 'py' && pipeline !== 'cpp') throw new CaffeError(`--pipeline must be py (classify.py) or cpp (classification.cpp), got '${pipeline}'`);
  if (values['center-only'] && values.oversample) throw new CaffeError('--center-only and --oversample exclude each other');
  if (v.mean !== undefined && v['mean-value'] !== undefined) throw new CaffeError('give --mean or --mean-value, not both');
  const dims = numbers('images-dim', v['images-dim'], 2);
  if (dims && !dims.every((d) => Number.isInteger(d) && d > 0)) throw new CaffeError(`--images-dim expects two positive integers, got '${v['images-dim']}'`);
  const opts: ClassifierOptions = {
    pipeline,
    meanFile: v.mean,
    meanValues: numbers('mean-value', v['mean-value']),
    inputScale: scalar('input-scale', v['input-scale']),
  };
  if (pipeline === 'py') {
    opts.rawScale = scalar('raw-scale', v['raw-scale']);
    const swap = numbers('channel-swap', v['channel-swap']);
    if (swap) opts.channelSwap = swap;
    if (dims) opts.imageDims = dims as [number, number];
    opts.oversample = values.oversample ? true : values['center-only'] ? false : defaultOversample;
  } else {
    for (const f of ['raw-scale', 'channel-swap', 'images-dim', 'center-only', 'oversample']) {
      if (values[f] !== undefined) throw new CaffeError(`--${f} belongs to classify.py's pipeline; classification.cpp's (--pipeline cpp) has no such step`);
    }
  }
  return opts;
}

export interface ClassifyResult {
  image: string;
  top?: Prediction[];
  error?: string;
}

/** Classifies each image, continuing past the ones that fail. */
export function classifyImages(clf: Classifier, images: string[], k: number, labels?: string[]): ClassifyResult[] {
  return images.map((image) => {
    try {
      return { image, top: topK(clf.classifyFile(image), k, labels) };
    } catch (e) {
      if (e instanceof CaffeError || (e as NodeJS.ErrnoException).code !== undefined) return { image, error: (e as Error).message };
      throw e;
    }
  });
}

export async function runClassify(args: string[], out: OutStream = process.stdout, err: OutStream = process.stderr): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      weights: { type: 'string' },
      labels: { type: 'string' },
      output: { type: 'string' },
      top: { type: 'string' },
      json: { type: 'boolean' },
      gpu: { type: 'string' },
      ...IMAGE_FLAGS,
    },
  });
  if (values.gpu !== undefined) throw new CaffeError(`--gpu ${values.gpu}: caffe-ts runs on the CPU only; leave --gpu out`);
  if (!values.model) throw new CaffeError('classify needs --model DEPLOY.prototxt');
  if (!values.weights) throw new CaffeError('classify needs --weights W.caffemodel (trained weights)');
  if (positionals.length === 0) throw new CaffeError('classify needs at least one IMAGE');
  const k = parseIntFlag('top', values.top, 1) ?? 5;
  const opts = imageOptions(values, true);
  // Mean and labels are checked against the net's shapes before the weights are read.
  const net = Net.fromFile(values.model, { phase: 'TEST' });
  const clf = new Classifier(net, { ...opts, output: values.output });
  const outBlob = net.blob(clf.output);
  const classes = outBlob.count / outBlob.shape[0];
  const labels = values.labels ? readLabels(values.labels, classes) : undefined;
  net.copyTrainedLayersFromFile(values.weights);
  net.freezeWeights(); // the parameters stay as loaded for every image
  const results = classifyImages(clf, positionals, Math.min(k, classes), labels);
  for (const r of results) if (r.error) err.write(`caffe-ts classify: ${r.error}\n`);
  if (values.json) {
    out.write(JSON.stringify({ model: values.model, weights: values.weights, pipeline: opts.pipeline, results }, null, 1) + '\n');
  } else {
    for (const r of results) {
      if (!r.top) continue;
      out.write(`${r.image}: ${r.top.map((p) => `${p.probability.toFixed(4)} "${p.label}"`).join(', ')}\n`);
    }
  }
  const failed = results.filter((r) => r.error).length;
  if (failed) err.write(`caffe-ts classify: ${failed} of ${results.length} images failed\n`);
  return failed ? 1 : 0;
}

export const classifyCommand: Command = {
  summary: "classify images with a trained net (classify.py's or classification.cpp's preprocessing)",
  usage: `--model DEPLOY.prototxt --weights W.caffemodel IMAGE... ${IMAGE_USAGE} [--labels FILE] [--output BLOB] [--top 5] [--json]`,
  run: (args) => runClassify(args),
};
