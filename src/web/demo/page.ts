// The demo page: hands files to the inference worker (worker.ts), shows the top classes, the time
// of a forward and the net's drawing, and the error text the CLI prints for a bad file. At start
// it loads the shipped LeNet and classifies the ten shipped digits, so it works with no files.
// window.caffeDemo exposes the worker round trip for scripted use (the chromium test drives it).
import type { FileData, LoadedNet, Preprocess, Reply, Request } from './protocol.js';

type Body = Request extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let nextId = 1;
const pending = new Map<number, (r: Reply) => void>();
worker.onmessage = (e: MessageEvent<Reply>) => {
  const done = pending.get(e.data.id);
  pending.delete(e.data.id);
  done?.(e.data);
};
worker.onerror = (e) => showError(`caffe-ts: the worker failed: ${e.message}`);

function ask(body: Body, transfer: Transferable[] = []): Promise<Reply> {
  const id = nextId++;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    worker.postMessage({ ...body, id }, transfer);
  });
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function showError(text: string): void {
  const box = $('error');
  box.textContent = text;
  box.style.display = text ? 'block' : 'none';
}

/** The error line as `caffe-ts classify` prints it. */
function failure(r: Reply): string | null {
  return r.ok ? null : `caffe-ts classify: ${r.error}`;
}

async function fileData(f: File): Promise<FileData> {
  return { name: f.name, data: await f.arrayBuffer() };
}

async function fetchData(url: string): Promise<FileData> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return { name: url.split('/').pop()!, data: await res.arrayBuffer() };
}

function numbers(text: string): number[] | undefined {
  const t = text.trim();
  if (!t) return undefined;
  const v = t.split(/[\s,]+/).map(Number);
  if (v.some((x) => !Number.isFinite(x))) throw new Error(`not a list of numbers: ${t}`);
  return v;
}

function showNet(net: LoadedNet): void {
  $('netName').textContent = `${net.name || '(unnamed)'}: ${net.layers} layers, input ${net.inputs.map((i) => `${i.name} ${i.shape.join('x')}`).join(', ')}`;
  $('netStatus').textContent = `loaded in ${net.loadMs.toFixed(0)} ms`;
  $('graph').innerHTML = net.svg;
}

function showTop(r: Reply): void {
  const body = $('top5').querySelector('tbody')!;
  body.textContent = '';
  if (!r.ok || !('top' in r)) return;
  r.top.forEach((p, i) => {
    const tr = document.createElement('tr');
    tr.innerHTML = `<td>${i + 1}</td><td></td><td class="num">${p.probability.toFixed(4)}</td>`;
    tr.children[1].textContent = p.label;
    body.appendChild(tr);
  });
  $('imageStatus').textContent = `forward + preprocessing: ${r.forwardMs.toFixed(1)} ms`;
}

// Files picked or dropped, by role.
const chosen: Partial<Record<'model' | 'weights' | 'mean' | 'labels' | 'image', File>> = {};

function roleOf(name: string): keyof typeof chosen | null {
  const n = name.toLowerCase();
  if (/\.(prototxt|pbtxt)$/.test(n)) return 'model';
  if (/\.caffemodel$/.test(n)) return 'weights';
  if (/\.(binaryproto|npy)$/.test(n)) return 'mean';
  if (/\.txt$/.test(n)) return 'labels';
  if (/\.(png|jpe?g)$/.test(n)) return 'image';
  return null;
}

async function loadChosen(): Promise<boolean> {
  showError('');
  if (!chosen.model) {
    showError('caffe-ts classify: choose a model (.prototxt) first');
    return false;
  }
  let preprocess: Preprocess;
  try {
    const raw = $<HTMLInputElement>('rawScale').value.trim();
    const inScale = $<HTMLInputElement>('inputScale').value.trim();
    preprocess = {
      rawScale: raw ? Number(raw) : undefined,
      inputScale: inScale ? Number(inScale) : undefined,
      channelSwap: $<HTMLInputElement>('swap').checked ? undefined : null,
      meanValues: numbers($<HTMLInputElement>('meanValues').value),
    };
  } catch (e) {
    showError(`caffe-ts classify: ${(e as Error).message}`);
    return false;
  }
  $('netStatus').textContent = 'loading…';
  const files = await Promise.all([chosen.model, chosen.weights, chosen.mean, chosen.labels].map((f) => (f ? fileData(f) : undefined)));
  const [model, weights, mean, labels] = files;
  const r = await ask({ op: 'load', model: model!, weights, mean, labels, preprocess }, files.filter((f) => f).map((f) => f!.data));
  const err = failure(r);
  if (err) {
    $('netStatus').textContent = 'not loaded';
    showError(err);
    return false;
  }
  if ('net' in r) showNet(r.net);
  return true;
}

async function classifyChosen(): Promise<void> {
  if (!chosen.image) return;
  showError('');
  const image = await fileData(chosen.image);
  const r = await ask({ op: 'classify', image }, [image.data]);
  const err = failure(r);
  if (err) showError(err);
  showTop(r);
}

for (const role of ['model', 'weights', 'mean', 'labels'] as const) {
  $<HTMLInputElement>(role).addEventListener('change', (e) => {
    chosen[role] = (e.target as HTMLInputElement).files?.[0];
  });
}
$('loadBtn').addEventListener('click', async () => {
  if ((await loadChosen()) && chosen.image) await classifyChosen();
});
$<HTMLInputElement>('image').addEventListener('change', async (e) => {
  chosen.image = (e.target as HTMLInputElement).files?.[0];
  await classifyChosen();
});

const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', async (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  let netFiles = false;
  for (const f of Array.from(e.dataTransfer?.files ?? [])) {
    const role = roleOf(f.name);
    if (!role) continue;
    chosen[role] = f;
    if (role !== 'image') netFiles = true;
  }
  if (netFiles && !(await loadChosen())) return;
  await classifyChosen();
});

/** The shipped LeNet and digits: loaded first, so the page shows something with no files. */
async function preload(): Promise<void> {
  const base = new URL('./lenet/', import.meta.url);
  const [model, weights, list] = await Promise.all([
    fetchData(new URL('lenet.prototxt', base).href),
    fetchData(new URL('lenet_iter_10000.caffemodel', base).href),
    fetch(new URL('digits.json', base)).then((r) => r.json() as Promise<string[]>),
  ]);
  // LeNet was trained on pixels times 1/256: classification.cpp's pipeline with that input scale.
  const loaded = await ask({ op: 'load', model, weights, preprocess: { pipeline: 'cpp', inputScale: 0.00390625 } });
  const err = failure(loaded);
  if (err) {
    showError(err);
    return;
  }
  if ('net' in loaded) showNet(loaded.net);
  const body = $('digits').querySelector('tbody')!;
  let right = 0;
  for (const file of list) {
    const image = await fetchData(new URL(`digits/${file}`, base).href);
    const r = await ask({ op: 'classify', image, top: 1 });
    const tr = document.createElement('tr');
    const label = /^img_(\d+)_/.exec(file)?.[1] ?? '?';
    if (!r.ok || !('top' in r)) {
      tr.innerHTML = `<td></td><td>${file}</td><td>${label}</td><td colspan="2"></td>`;
      (tr.lastElementChild as HTMLElement).textContent = failure(r) ?? '';
    } else {
      const best = r.top[0];
      if (String(best.index) === label) right++;
      tr.dataset.file = file;
      tr.dataset.label = label;
      tr.dataset.predicted = String(best.index);
      tr.innerHTML = `<td><img class="digit" alt="${file}" src="${new URL(`digits/${file}`, base).href}"></td><td>${file}</td><td>${label}</td><td>${best.index}</td><td class="num">${best.probability.toFixed(4)}</td>`;
    }
    body.appendChild(tr);
  }
  $('digitsStatus').textContent = `${right}/${list.length} correct`;
  $('digitsStatus').dataset.done = 'true';
}

async function showEnv(): Promise<void> {
  const r = await ask({ op: 'info' });
  if (r.ok && 'info' in r) {
    const i = r.info;
    const why = i.reason ? ` (${i.reason})` : '';
    const k = i.kernels;
    const gemm = k.gemm === 'wasm-simd' ? `WebAssembly SIMD GEMM${k.fma ? ' with FMA' : ''}` : 'JS GEMM';
    $('env').textContent = `${gemm}, ${i.threads} thread${i.threads === 1 ? '' : 's'}${why}; ${i.crossOriginIsolated ? 'cross-origin isolated (shared memory)' : 'not cross-origin isolated'}`;
    $('env').dataset.threads = String(i.threads);
  }
}

(window as unknown as { caffeDemo: unknown }).caffeDemo = { ask, showError };
void showEnv().then(preload).catch((e) => showError(`caffe-ts: ${(e as Error).message}`));
