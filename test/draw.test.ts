// `caffe-ts draw`: draw_net.py's graph (labels, colours, phase filter, in-place folding) and the
// SVG as a browser renders it: ResNet-50 and GoogLeNet opened in Debian's chromium, every layer's
// box drawn inside the page.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chromium } from 'playwright-core';
import { FIXTURES } from './helpers.js';
import { readNetParameter } from '../src/format/io.js';
import { drawNet, netGraph } from '../src/draw/index.js';
import { drawCommand } from '../src/cli/draw.js';

const ZOO = join(FIXTURES, 'zoo-files');
const CHROMIUM = '/usr/bin/chromium';

describe('draw_net.py graph', () => {
  it('labels layers and edges as draw.py does, one node per blob', () => {
    const g = netGraph(readNetParameter(join(FIXTURES, 'demo', 'lenet.prototxt')), 'LR');
    const conv1 = g.nodes.find((n) => n.name === 'conv1' && n.kind === 'layer')!;
    expect(conv1.lines).toEqual(['conv1', '(Convolution)', 'kernel size: 5', 'stride: 1', 'pad: 0']);
    expect(conv1.fill).toBe('#FF5050');
    const pool1 = g.nodes.find((n) => n.name === 'pool1' && n.kind === 'layer')!;
    expect(pool1.lines).toEqual(['pool1', '(Pooling MAX)', 'kernel size: 2', 'stride: 2', 'pad: 0']);
    expect(g.nodes.filter((n) => n.kind === 'blob').map((n) => n.name)).toEqual(['data', 'conv1', 'pool1', 'conv2', 'pool2', 'ip1', 'ip2', 'prob']);
    const label = (from: string) => g.edges.find((e) => e.from === g.nodes.find((n) => n.name === from && n.kind !== 'blob')!.id)!.label;
    expect(label('conv1')).toBe('20');
    expect(label('ip1')).toBe('500');
    expect(label('pool1')).toBe('');
    // TB/BT: one line
    const tb = netGraph(readNetParameter(join(FIXTURES, 'demo', 'lenet.prototxt')), 'TB');
    expect(tb.nodes.find((n) => n.name === 'conv1')!.lines).toEqual(['conv1 (Convolution) kernel size: 5 stride: 1 pad: 0']);
  });

  it('folds an in-place chain into the blob\'s path: ip1 -> relu1 -> blob ip1 -> ip2', () => {
    const g = netGraph(readNetParameter(join(FIXTURES, 'demo', 'lenet.prototxt')));
    const id = (name: string, kind: string) => g.nodes.find((n) => n.name === name && n.kind === kind)!.id;
    const relu = g.nodes.find((n) => n.name === 'relu1')!;
    expect(relu.kind).toBe('inplace');
    expect(relu.fill).toBe('#90EE90');
    expect(g.edges).toContainEqual({ from: id('ip1', 'layer'), to: relu.id, label: '500' });
    expect(g.edges).toContainEqual({ from: relu.id, to: id('ip1', 'blob'), label: '' });
    expect(g.edges).toContainEqual({ from: id('ip1', 'blob'), to: id('ip2', 'layer'), label: '' });
    // acyclic (Kahn's algorithm consumes every node)
    const indeg = new Map(g.nodes.map((n) => [n.id, 0]));
    for (const e of g.edges) indeg.set(e.to, indeg.get(e.to)! + 1);
    const ready = [...indeg].filter(([, d]) => d === 0).map(([id]) => id);
    let seen = 0;
    while (ready.length) {
      const id = ready.pop()!;
      seen++;
      for (const e of g.edges) if (e.from === id && indeg.set(e.to, indeg.get(e.to)! - 1).get(e.to) === 0) ready.push(e.to);
    }
    expect(seen).toBe(g.nodes.length);
  });

  it('filters by phase as draw_net.py --phase', () => {
    const net = readNetParameter(join(ZOO, 'mnist_lenet', 'lenet_train_test.prototxt'));
    const names = (phase: number | null) => netGraph(net, 'LR', phase).nodes.filter((n) => n.kind !== 'blob').map((n) => n.name);
    expect(names(0)).not.toContain('accuracy');
    expect(names(1)).toContain('accuracy');
    expect(names(null).filter((n) => n === 'mnist')).toHaveLength(2);
    expect(names(0).filter((n) => n === 'mnist')).toHaveLength(1);
  });
});

// fixtures/draw: caffe.draw.get_pydot_graph's nodes and edges (scripts/caffe-oracle/gen-draw-cases.py).
describe('draw_net.py graph against pycaffe\'s caffe.draw', () => {
  const DIR = join(FIXTURES, 'draw');
  for (const file of readdirSync(DIR).filter((n) => n.endsWith('.json'))) {
    it(file.replace('.json', ''), () => {
      const ref = JSON.parse(readFileSync(join(DIR, file), 'utf8'));
      const ours = netGraph(readNetParameter(join(FIXTURES, ref.net)), ref.rankdir, ref.phase === 'ALL' ? null : ref.phase === 'TRAIN' ? 0 : 1);
      const sep = ref.rankdir === 'LR' || ref.rankdir === 'RL' ? '\\n' : ' ';
      // A net declaring its inputs with input: / input_dim fields is drawn with the Input layer
      // Caffe's upgrade makes of them; draw_net.py reads the file without upgrading it.
      if (/^input:/m.test(readFileSync(join(FIXTURES, ref.net), 'utf8'))) {
        const extra = ours.nodes.filter((n) => n.kind === 'layer' && n.type === 'Input');
        expect(extra.map((n) => n.name)).toEqual(['input']);
        ours.nodes.splice(ours.nodes.indexOf(extra[0]), 1);
        ours.edges = ours.edges.filter((e) => e.from !== extra[0].id);
      }
      const layerFill = new Map<string, string>();
      for (const n of ours.nodes) if (n.kind !== 'blob') layerFill.set(n.lines.join(sep), n.fill);
      const refLayers = ref.nodes.filter((n: { shape: string }) => n.shape === 'record');
      // pydot merges nodes with equal labels (the TRAIN and TEST data layers); we keep both
      expect(new Set(refLayers.map((n: { label: string }) => n.label))).toEqual(new Set(layerFill.keys()));
      for (const n of refLayers) expect(layerFill.get(n.label), n.label).toBe(n.fill);
      const refBlobs = ref.nodes.filter((n: { shape: string }) => n.shape !== 'record').map((n: { label: string }) => n.label);
      expect(new Set(refBlobs)).toEqual(new Set(ours.nodes.filter((n) => n.kind === 'blob').map((n) => n.name)));
      const labels = (l: string[]) => l.filter((x) => x !== '').sort();
      expect(labels(ours.edges.map((e) => e.label))).toEqual(labels(ref.edges.map((e: { label: string }) => e.label)));
    });
  }
});

describe('draw SVG in chromium', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'caffe-ts-draw-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('renders every layer box of ResNet-50 and GoogLeNet inside the page', async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`).toBe(true);
    const nets = [
      ['resnet50', join(ZOO, 'resnet', 'ResNet-50-deploy.prototxt'), 'TB'],
      ['googlenet', join(ZOO, 'bvlc_googlenet', 'deploy.prototxt'), 'LR'],
    ];
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    try {
      for (const [name, proto, rankdir] of nets) {
        const out = join(tmp, `${name}.svg`);
        await drawCommand.run([proto, out, '--rankdir', rankdir]);
        const layers = (readNetParameter(proto).layer as { name: string }[]).map((l) => l.name);
        const page = await browser.newPage();
        await page.goto(`file://${out}`);
        const boxes = await page.evaluate(() => {
          const svg = document.documentElement as unknown as SVGSVGElement;
          const page = svg.getBoundingClientRect();
          return {
            page: { w: page.width, h: page.height },
            layers: [...document.querySelectorAll('g.layer')].map((g) => {
              const r = g.querySelector('rect')!.getBoundingClientRect();
              const t = g.querySelector('text')!.getBoundingClientRect();
              return { name: g.getAttribute('data-name'), x: r.x, y: r.y, w: r.width, h: r.height, textW: t.width, textX: t.x };
            }),
          };
        });
        await page.close();
        expect(boxes.layers.map((b) => b.name), name).toEqual(layers);
        for (const b of boxes.layers) {
          expect(b.w > 0 && b.h > 0, `${name} ${b.name} has a box`).toBe(true);
          expect(b.x >= 0 && b.y >= 0 && b.x + b.w <= boxes.page.w + 0.5 && b.y + b.h <= boxes.page.h + 0.5, `${name} ${b.name} inside the page`).toBe(true);
          // the label fits its box as the browser sets the text
          expect(b.textX >= b.x - 0.5 && b.textX + b.textW <= b.x + b.w + 0.5, `${name} ${b.name} label inside its box`).toBe(true);
        }
      }
    } finally {
      await browser.close();
    }
  });

  it('writes nothing on bad input and says why', async () => {
    expect(() => drawCommand.run([join(FIXTURES, 'demo', 'lenet.prototxt'), join(tmp, 'x.svg'), '--rankdir', 'XY'])).toThrow(/--rankdir must be/);
    expect(() => drawCommand.run([join(FIXTURES, 'demo', 'digits', 'img_7_0.png'), join(tmp, 'x.svg')])).toThrow(/img_7_0\.png/);
    expect(existsSync(join(tmp, 'x.svg'))).toBe(false);
    expect(drawNet(readNetParameter(join(FIXTURES, 'demo', 'lenet.prototxt')))).toMatch(/^<svg[^>]*>/);
  });
});
