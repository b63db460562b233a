// The browser build end to end, in Debian's chromium (playwright-core, headless) against the demo
// page as `caffe-ts web` serves it (COOP/COEP, so the inference worker has shared memory and GEMM
// Web Workers): the shipped LeNet classifies the ten shipped digits, Caffe's own reference cases run
// in the page's worker and match Caffe's numbers within each case's tolerance, a corrupt caffemodel
// gives the page the line the CLI prints, and the page is not blank. Cases: the repo's copy of the
// SqueezeNet zoo case, plus with CAFFE_TS_WEB_FIXTURES=DIR every TEST-phase net case under DIR's zoo/,
// trained/ and fork/ (.ci/run passes ../shared/fixtures).
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { FIXTURES } from './helpers.js';
import { serveWeb, webRoot } from '../src/cli/web.js';
import { readNpyAsFloat32 } from '../src/format/npy.js';
import { compareTensor, toleranceFor } from '../src/check/compare.js';
import { Net } from '../src/graph/net.js';
import { parseText } from '../src/format/text.js';
import { encodeMessage } from '../src/format/binary.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = resolve(import.meta.dirname, '..');
/** TEST-phase net cases (no backward) under root's zoo/, trained/ and fork/ folders. */
function testCases(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    if (existsSync(join(dir, 'case.json'))) {
      const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
      if ((spec.kind ?? 'net') === 'net' && spec.phase === 'TEST' && !spec.backward) found.push(dir);
      return;
    }
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
  };
  for (const g of ['zoo', 'trained', 'fork']) if (existsSync(join(root, g))) walk(join(root, g));
  return found.sort();
}

const CASES = [join(FIXTURES, 'zoo', 'squeezenet_v1.1', 'test'), ...(process.env.CAFFE_TS_WEB_FIXTURES ? testCases(resolve(process.env.CAFFE_TS_WEB_FIXTURES)) : [])];

/** Solver cases (kind "solver") directly under root. */
function solverCases(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root).map((d) => join(root, d)).filter((d) => existsSync(join(d, 'case.json'))).sort();
}

/** A case folder as the test names it: the repo's copy or ../shared's. */
const label = (dir: string) => (dir.startsWith(FIXTURES + '/') ? `fixtures/${dir.slice(FIXTURES.length + 1)}` : `shared ${dir.replace(/^.*fixtures\//, '')}`);

const SOLVER_CASES = [
  ...solverCases(join(FIXTURES, 'solver')),
  ...(process.env.CAFFE_TS_WEB_FIXTURES ? solverCases(join(resolve(process.env.CAFFE_TS_WEB_FIXTURES), 'solver')) : []),
];

let server: Server;
let url: string;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`).toBe(true);
  ({ server, url } = await serveWeb(webRoot(), 0));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(url);
  await page.waitForSelector('#digitsStatus[data-done="true"]', { timeout: 90_000 });
});

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => server?.close(r));
});

/** Round trip to the page's worker (window.caffeDemo.ask), file contents passed as base64. */
async function ask(body: Record<string, unknown>): Promise<any> {
  return page.evaluate(async (b) => {
    const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0)).buffer;
    const walk = (v: any): any => {
      if (v && typeof v === 'object' && 'b64' in v) return v.f32 ? new Float32Array(unb64(v.b64)) : unb64(v.b64);
      if (Array.isArray(v)) return v.map(walk);
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
      return v;
    };
    const r = await (window as any).caffeDemo.ask(walk(b));
    // Float32Arrays back as base64 too.
    const out = (v: any): any => {
      if (v instanceof Float32Array) {
        const u = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
        let s = '';
        for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000));
        return { f32b64: btoa(s) };
      }
      if (v && typeof v === 'object') return Array.isArray(v) ? v.map(out) : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, out(x)]));
      return v;
    };
    return out(r);
  }, body);
}

const file = (path: string) => ({ name: path.split('/').pop(), data: { b64: readFileSync(path).toString('base64') } });
const f32 = (b64: string) => {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
};

describe('the demo page in chromium', () => {
  it('classifies the ten shipped digits with the shipped LeNet, in its worker', async () => {
    const rows = await page.$$eval('#digits tbody tr', (trs) => trs.map((t) => ({ ...(t as HTMLElement).dataset })));
    expect(rows).toHaveLength(10);
    for (const r of rows) expect(r.predicted, r.file).toBe(r.label);
    expect(await page.textContent('#digitsStatus')).toBe('10/10 correct');
    expect(pageErrors).toEqual([]);
  });

  it('splits large products over Web Workers when the page is cross-origin isolated, with the bits of Node', async () => {
    const r = await ask({ op: 'info' });
    expect(r.ok).toBe(true);
    expect(r.info.crossOriginIsolated).toBe(true);
    expect(r.info.sharedMemory).toBe(true);
    // The worker runs the WebAssembly kernels, not the JS fallbacks (chromium has relaxed SIMD).
    expect(r.info.kernels).toEqual({ gemm: 'wasm-simd', fma: true, reason: '', simd: true, winograd: 'wasm-simd', depthwise: true });
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    // A product big enough to split (64 x 1024 x 1024 multiply-adds), weights from Node.
    const prototxt = 'name: "big"\nlayer { name: "data" type: "Input" top: "data" input_param { shape { dim: 64 dim: 1024 } } }\n' +
      'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 1024 weight_filler { type: "gaussian" std: 0.05 } bias_filler { type: "uniform" } } }\n';
    const net = new Net(parseText(prototxt, 'NetParameter'), { phase: 'TEST' });
    const x = new Float32Array(64 * 1024).map((_, i) => Math.sin(i * 0.37));
    net.forward({ data: { shape: [64, 1024], data: x } });
    const expected = { shape: [64, 1024], data: Float32Array.from(net.blob('ip').data) };
    const weights = Buffer.from(encodeMessage(net.toProto(), 'NetParameter')).toString('base64');
    const loaded = await ask({ op: 'load', model: { name: 'big.prototxt', data: { b64: Buffer.from(prototxt).toString('base64') } }, weights: { name: 'big.caffemodel', data: { b64: weights } } });
    expect(loaded.ok, loaded.error).toBe(true);
    const input = { data: { shape: [64, 1024], data: { b64: Buffer.from(x.buffer).toString('base64'), f32: true } } };
    // Workers start in the background at the first large product; run until they have taken part.
    let info = r.info;
    for (let k = 0; k < 50 && info.workerPanels === 0; k++) {
      const out = await ask({ op: 'forward', inputs: input, outputs: ['ip'] });
      expect(out.ok, out.error).toBe(true);
      expect(compareTensor({ shape: out.outputs.ip.shape, data: f32(out.outputs.ip.data.f32b64) }, expected, { abs: 1e-5, rel: 1e-5 })).toBeNull();
      info = (await ask({ op: 'info' })).info;
      if (cores === 1) break;
    }
    if (cores > 1) {
      expect(info.threads, info.reason).toBeGreaterThan(1);
      expect(info.workers).toBeGreaterThan(0);
      expect(info.workerPanels).toBeGreaterThan(0);
    }
  });

  it('runs on one thread, with the same answers, when the page is not cross-origin isolated', async () => {
    const plain = await serveWeb(webRoot(), 0, '127.0.0.1', { isolate: false });
    const p = await browser.newPage();
    try {
      const errors: string[] = [];
      p.on('pageerror', (e) => errors.push(e.message));
      await p.goto(plain.url);
      await p.waitForSelector('#digitsStatus[data-done="true"]', { timeout: 90_000 });
      expect(await p.textContent('#digitsStatus')).toBe('10/10 correct');
      const info = await p.evaluate(() => (window as any).caffeDemo.ask({ op: 'info' }));
      expect(info.info.crossOriginIsolated).toBe(false);
      expect(info.info.threads).toBe(1);
      expect(info.info.workers).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await p.close();
      await new Promise((r) => plain.server.close(r));
    }
  });

  for (const dir of CASES) {
    it(`runs ${label(dir)} in the page and matches Caffe's numbers`, async () => {
      const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
      expect(spec.phase).toBe('TEST');
      const loaded = await ask({ op: 'load', keepBlobs: true, model: file(join(dir, spec.net)), weights: spec.weights ? file(join(dir, spec.weights)) : undefined });
      expect(loaded.ok, loaded.error).toBe(true);
      const inputs: Record<string, unknown> = {};
      for (const [name, f] of Object.entries<string>(spec.inputs)) {
        const t = readNpyAsFloat32(join(dir, f));
        inputs[name] = { shape: t.shape, data: { b64: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64'), f32: true } };
      }
      const want = Object.keys(spec.forward).filter((n) => !(n in spec.inputs));
      const r = await ask({ op: 'forward', inputs, outputs: want });
      expect(r.ok, r.error).toBe(true);
      for (const name of want) {
        const expected = readNpyAsFloat32(join(dir, spec.forward[name]));
        const got = { shape: r.outputs[name].shape, data: f32(r.outputs[name].data.f32b64) };
        const tol = toleranceFor(spec, spec.forward[name], { abs: 1e-4, rel: 1e-3 });
        expect(compareTensor(got, expected, tol), name).toBeNull();
      }
    });
  }

  it('classifies a picked image with a picked model: top-5 and the time of the forward', async () => {
    await page.setInputFiles('#model', join(FIXTURES, 'demo', 'lenet.prototxt'));
    await page.setInputFiles('#weights', join(FIXTURES, 'demo', 'lenet_iter_10000.caffemodel'));
    await page.fill('#inputScale', '0.00390625');
    await page.click('#loadBtn');
    await page.waitForFunction(() => document.getElementById('netStatus')?.textContent?.startsWith('loaded'));
    await page.setInputFiles('#image', join(FIXTURES, 'demo', 'digits', 'img_9_7.png'));
    await page.waitForFunction(() => document.querySelectorAll('#top5 tbody tr').length === 5);
    const rows = await page.$$eval('#top5 tbody tr', (trs) => trs.map((t) => [...t.children].map((c) => c.textContent)));
    expect(rows[0][1]).toBe('9');
    expect(Number(rows[0][2])).toBeGreaterThan(0.9);
    expect(await page.textContent('#imageStatus')).toMatch(/^forward \+ preprocessing: \d+\.\d ms$/);
    expect(await page.textContent('#error')).toBe('');
  });

  // Training in the page, on its own thread: the bundle imported as a module, the solver built from
  // the case's solver with its net inlined (no files), weights and feeds as contents.
  for (const dir of SOLVER_CASES) {
    it(`trains ${label(dir)} in the page as Caffe did`, async () => {
      const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
      const feeds: Record<string, { shape: number[]; b64: string }> = {};
      for (const [blob, f] of Object.entries<string>(spec.feeds ?? {})) {
        const t = readNpyAsFloat32(join(dir, f));
        feeds[blob] = { shape: t.shape, b64: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64') };
      }
      const r = await page.evaluate(async (c) => {
        // (a string, so that vitest's transform leaves the page's own dynamic import alone)
        const m = await new Function('u', 'return import(u)')(new URL('/caffe-ts.js', location.href).href);
        const unb64 = (s: string) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));
        const sp = m.parseText(c.solver, 'SolverParameter', 'solver.prototxt');
        delete sp.net;
        sp.net_param = m.parseText(c.net, 'NetParameter', 'net.prototxt');
        const solver = m.createSolver(sp, { source: 'solver.prototxt' });
        const net = solver.net;
        if (c.weights) net.copyTrainedLayersFrom(m.decodeMessage(unb64(c.weights), 'NetParameter', 'weights.caffemodel'), 'weights.caffemodel');
        const feeds = Object.entries(c.feeds).map(([blob, f]: [string, any]) => {
          const data = new Float32Array(unb64(f.b64).buffer);
          const shape = f.shape.slice(1);
          return { blob, shape, per: shape.reduce((a: number, x: number) => a * x, 1), data };
        });
        const losses: number[] = [];
        for (let k = 0; k < c.steps; k++) {
          const inputs: Record<string, unknown> = {};
          for (const fd of feeds) inputs[fd.blob] = { shape: fd.shape, data: fd.data.subarray(k * fd.per, (k + 1) * fd.per) };
          net.setInputs(inputs);
          solver.step(1);
          losses.push(net.blobs.has('loss') ? net.blob('loss').data[0] : solver.lastLoss);
        }
        const params: Record<string, number[][]> = {};
        for (const layer of Object.keys(c.params)) params[layer] = net.layer(layer).blobs.map((b: any) => Array.from(b.data));
        return { losses, params };
      }, {
        solver: readFileSync(join(dir, spec.solver), 'utf8'),
        net: readFileSync(join(dir, spec.net ?? 'net.prototxt'), 'utf8'),
        weights: spec.weights ? readFileSync(join(dir, spec.weights)).toString('base64') : null,
        feeds,
        steps: spec.steps,
        params: spec.params_after ?? {},
      });
      const tol = spec.tolerance ?? { abs: 1e-5, rel: 5e-4 };
      (spec.losses ?? []).forEach((e: number, k: number) => expect(Math.abs(r.losses[k] - e), `loss after step ${k}`).toBeLessThanOrEqual(tol.abs + tol.rel * Math.abs(e)));
      for (const [layer, files] of Object.entries<string[]>(spec.params_after ?? {})) {
        files.forEach((f, i) => {
          const expected = readNpyAsFloat32(join(dir, f));
          const got = { shape: expected.shape, data: Float32Array.from(r.params[layer][i]) };
          expect(compareTensor(got, expected, toleranceFor(spec, f, { abs: 1e-5, rel: 5e-4 })), `${layer} param ${i}`).toBeNull();
        });
      }
    });
  }

  it('takes dropped files: model, weights and image at once', async () => {
    await page.fill('#inputScale', '0.00390625');
    const files = [
      ['lenet.prototxt', join(FIXTURES, 'demo', 'lenet.prototxt')],
      ['lenet_iter_10000.caffemodel', join(FIXTURES, 'demo', 'lenet_iter_10000.caffemodel')],
      ['img_2_1.png', join(FIXTURES, 'demo', 'digits', 'img_2_1.png')],
    ].map(([name, path]) => ({ name, b64: readFileSync(path).toString('base64') }));
    await page.evaluate((fs) => {
      document.querySelector('#top5 tbody')!.textContent = '';
      const dt = new DataTransfer();
      for (const f of fs) dt.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name));
      document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, files);
    await page.waitForFunction(() => document.querySelectorAll('#top5 tbody tr').length === 5);
    const first = await page.$eval('#top5 tbody tr', (t) => t.children[1].textContent);
    expect(first).toBe('2');
    expect(await page.textContent('#error')).toBe('');
  });

  it('shows a corrupt caffemodel with the line the CLI prints for it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'caffe-ts-web-'));
    try {
      copyFileSync(join(FIXTURES, 'demo', 'lenet.prototxt'), join(dir, 'lenet.prototxt'));
      writeFileSync(join(dir, 'broken.caffemodel'), readFileSync(join(FIXTURES, 'demo', 'lenet_iter_10000.caffemodel')).subarray(0, 20000));
      const cli = spawnSync(process.execPath, [join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'classify', '--model', 'lenet.prototxt', '--weights', 'broken.caffemodel',
        join(FIXTURES, 'demo', 'digits', 'img_0_3.png')], { cwd: dir, encoding: 'utf8' });
      expect(cli.status).toBe(1);
      const line = cli.stderr.trim().split('\n')[0];
      expect(line).toMatch(/^caffe-ts classify: broken\.caffemodel: at byte \d+: /);
      await page.setInputFiles('#model', join(dir, 'lenet.prototxt'));
      await page.setInputFiles('#weights', join(dir, 'broken.caffemodel'));
      await page.click('#loadBtn');
      await page.waitForSelector('#error', { state: 'visible' });
      expect((await page.textContent('#error'))?.trim()).toBe(line);
      expect(pageErrors).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('draws something: the screenshot is not blank', async () => {
    const shot = PNG.sync.read(await page.screenshot({ fullPage: true }));
    const { data, width, height } = shot;
    const colors = new Set<number>();
    let dark = 0;
    for (let i = 0; i < width * height; i++) {
      const [r, g, b] = [data[4 * i], data[4 * i + 1], data[4 * i + 2]];
      colors.add((r >> 4) * 256 + (g >> 4) * 16 + (b >> 4));
      if (r + g + b < 200) dark++;
    }
    expect(colors.size).toBeGreaterThan(20);
    expect(dark / (width * height)).toBeGreaterThan(0.01);
    // The net's drawing is in the page: LeNet's layers as SVG boxes.
    expect(await page.locator('#graph svg').count()).toBe(1);
  });
});
